"""Running a step on an experiment's feature store: inputs, cache key, result store, record."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from vocloud._version import __version__
from vocloud.steps.registry import get_method
from vocloud.store import (
    STEPS_FOLDER,
    ExperimentFolder,
    open_store,
    replace_folder,
    utc_now,
)

__all__ = ["STEPS_FOLDER", "StepContext", "StepResult", "open_step", "recorded_steps", "run_step"]


@dataclass
class StepContext:
    """What a method may need besides its inputs."""

    experiment_dir: Path
    features_store: Path
    base_dir: Path
    ids: np.ndarray
    ok: np.ndarray

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """A path given in parameters, relative to the experiment file's folder."""
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p


@dataclass
class StepResult:
    """A finished step: its key, store, outputs (lazy) and metrics."""

    method: str
    key: str
    params: dict[str, Any]
    input: str
    store: Path
    metrics: dict[str, Any]
    cached: bool

    def open(self) -> xr.Dataset:
        """The step's outputs as a lazy xarray Dataset."""
        return open_step(self.store)


def _json(o: Any) -> str:
    def default(x: Any) -> Any:
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
        if isinstance(x, Path):
            return str(x)
        raise TypeError(type(x).__name__)

    return json.dumps(o, sort_keys=True, default=default)


def open_step(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a step store, with its JSON attributes decoded."""
    ds = xr.open_zarr(str(path), consolidated=False)
    for k in ("params", "metrics"):
        if isinstance(ds.attrs.get(k), str):
            ds.attrs[k] = json.loads(ds.attrs[k])
    return ds


def recorded_steps(exp_dir: str | os.PathLike[str], features_store: Path) -> list[dict[str, Any]]:
    """The steps run on ``features_store``, oldest first (one per method and input: the latest)."""
    return ExperimentFolder(exp_dir).recorded_steps(features_store)


def _record(exp_dir: Path, features_store: Path, result: StepResult) -> None:
    ExperimentFolder(exp_dir).record_step(
        features_store,
        {
            "method": result.method,
            "key": result.key,
            "params": result.params,
            "input": result.input,
            "store": result.store.name,
            "metrics": result.metrics,
            "used": utc_now(),
        },
    )


def _input(exp_dir: Path, features_store: Path, input_name: str) -> tuple[xr.DataArray, str]:
    """The input array (spectrum x something) and the key it is identified by."""
    if input_name in ("features", "", None):
        ds = open_store(features_store)
        key = str(ds.attrs.get("cache_key", features_store.name))
        if ds.attrs.get("revision"):  # a rerun retried failed downloads: other features
            key += "+" + str(ds.attrs["revision"])
        return ds.features, key
    for rec in reversed(recorded_steps(exp_dir, features_store)):
        if rec["method"] == input_name:
            ds = open_step(ExperimentFolder(exp_dir).step_store(rec["store"]))
            var = ds.attrs.get("features")
            if not var:
                raise ValueError(f"step {input_name!r} has no output that a next step can take")
            return ds[var], rec["key"]
    raise ValueError(
        f"input {input_name!r}: run that step first (or use input: features); "
        f"steps run so far: {[r['method'] for r in recorded_steps(exp_dir, features_store)]}"
    )


def run_step(
    experiment_dir: str | os.PathLike[str],
    features_store: str | os.PathLike[str],
    method: str,
    params: dict[str, Any] | None = None,
    *,
    input: str = "features",
    base_dir: str | os.PathLike[str] | None = None,
) -> StepResult:
    """Run ``method`` on the features (or on a previous step's output) of an experiment.

    The result is stored under ``<experiment>/steps/<method>-<key>.zarr`` where the key hashes
    the input's key, the method, its full parameters and version: the same call again reuses it,
    a changed parameter makes a new result, and the preprocessing is never redone.

    Parameters
    ----------
    experiment_dir, features_store : path
        The experiment folder and its (complete) feature store.
    method : str
        A registered method name (``vocloud methods`` lists them).
    params : dict, optional
        The method's parameters; missing ones take their defaults.
    input : str
        ``"features"`` or the name of a method run before (e.g. ``"pca"`` for a SOM on PCA scores).
    base_dir : path, optional
        Relative paths in parameters (e.g. a labels file) are relative to it.

    Returns
    -------
    StepResult
    """
    exp_dir = Path(experiment_dir)
    fstore = Path(features_store)
    cls = get_method(method)
    full = cls.params(params)
    data, input_key = _input(exp_dir, fstore, input)
    base = Path(base_dir) if base_dir is not None else exp_dir
    depends = cls.fingerprint(full, StepContext(exp_dir, fstore, base, np.empty(0), np.empty(0)))
    keyed = {"input": input_key, "method": method, "params": full, "version": cls.version}
    if depends is not None:
        keyed["depends"] = depends
    key = hashlib.sha256(_json(keyed).encode()).hexdigest()[:16]
    folder = ExperimentFolder(exp_dir)
    store = folder.step_path(method, key)
    if (store / "zarr.json").exists():
        ds = open_step(store)
        if ds.attrs.get("complete"):
            result = StepResult(method, key, full, input, store, ds.attrs.get("metrics", {}), True)
            _record(exp_dir, fstore, result)
            return result
    feats = open_store(fstore)
    ctx = StepContext(
        experiment_dir=exp_dir,
        features_store=fstore,
        base_dir=base,
        ids=np.asarray(feats.id.values, dtype=object),
        ok=np.asarray(feats.status.values == 1),
    )
    out = cls().run(data, ctx, **full)
    # keep the outputs and their own dimension coordinates, not the features' per-spectrum coords
    ds = out.dataset.reset_coords(drop=True)
    ds.attrs.update(
        {
            "method": method,
            "params": _json(full),
            "input": input,
            "key": key,
            "features_store": fstore.name,
            "metrics": _json(out.metrics),
            "features": out.features or "",
            "vocloud_version": __version__,
            "created": utc_now(),
            "complete": False,
        }
    )
    folder.steps_dir.mkdir(parents=True, exist_ok=True)
    partial = folder.partial_of(store)
    if partial.exists():
        shutil.rmtree(partial)
    with warnings.catch_warnings():
        # fixed-width strings (class names) have no Zarr v3 spec yet; zarr-python reads them
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification")
        ds.to_zarr(str(partial), mode="w", consolidated=False)
    for name, blob in out.files.items():
        (partial.parent / f"{store.name}.{name}").write_bytes(blob)
    zarr.open_group(str(partial), mode="r+").attrs["complete"] = True
    replace_folder(partial, store)
    result = StepResult(method, key, full, input, store, json.loads(_json(out.metrics)), False)
    _record(exp_dir, fstore, result)
    return result

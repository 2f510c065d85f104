"""The experiment folder: where its feature stores, their locks, its steps and its pointer file are.

Layout of ``<store>/<name>/``::

    experiment.json                  pointer file: the current store, the stores used, the steps
                                     run on each (written whole: temporary file + rename)
    features-<key16>.zarr            a complete feature store (appears by a rename, whole)
    features-<key16>.zarr.partial    the same while it is written (or retried); resumed by a rerun
    features-<key16>.zarr.lock       the run lock of that store (:mod:`vocloud.store.lock`)
    steps/<method>-<key16>.zarr      step results (:mod:`vocloud.steps.runner`)
    labels.csv                       labels given by eye, a log (id, label, time; :mod:`vocloud.ml.labelfile`)
    active-learning/iteration-NNNN.json   one record per iteration of the active-learning loop

Nothing else in vocloud spells these names: it asks an :class:`ExperimentFolder`.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from vocloud.store.features import (
    PARTIAL_SUFFIX,
    STATUS_PENDING,
    FeatureStore,
    check_store,
    read_array,
    remove_leftovers,
)
from vocloud.store.lock import StoreLock

POINTER_FILE = "experiment.json"
STEPS_FOLDER = "steps"
LOCK_SUFFIX = ".lock"
LABELS_FILE = "labels.csv"
ITERATIONS_FOLDER = "active-learning"


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def is_complete(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a feature store whose every chunk was written and committed."""
    p = Path(path)
    if not (p / "zarr.json").exists():
        return False
    try:
        return bool(FeatureStore(p).attrs.get("complete"))
    except Exception:
        return False


class ExperimentFolder:
    """One experiment's folder (see the module's notes for its layout).

    Parameters
    ----------
    directory : str or Path
        ``<store>/<name>``; made when a store or the pointer file is first written.

    Examples
    --------
    >>> f = ExperimentFolder("experiments/halpha")
    >>> f.store_path("0123456789abcdef0123").name, f.partial_path("0123456789abcdef").name
    ('features-0123456789abcdef.zarr', 'features-0123456789abcdef.zarr.partial')
    >>> f.step_path("pca", "00ff").as_posix()
    'experiments/halpha/steps/pca-00ff.zarr'
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> tuple[ExperimentFolder, Path]:
        """The experiment folder and complete store of ``path``: an experiment folder (its
        current store) or a store folder (whose experiment is the folder above it)."""
        store = resolve_store(path)
        p = Path(path)
        return cls(store.parent if store == p else p), store

    # -- names ------------------------------------------------------------------------------
    def store_path(self, key: str) -> Path:
        """The complete feature store of cache key ``key``."""
        return self.directory / f"features-{key[:16]}.zarr"

    def partial_path(self, key: str) -> Path:
        """Where the store of ``key`` is written (or retried) before it is complete."""
        return self.partial_of(self.store_path(key))

    @staticmethod
    def partial_of(store: Path) -> Path:
        """Where ``store`` (a feature or step store) is written before it is complete."""
        return store.with_name(store.name + PARTIAL_SUFFIX)

    def lock(self, key: str, **kwargs: Any) -> StoreLock:
        """The run lock of the store of ``key`` (not taken yet)."""
        final = self.store_path(key)
        return StoreLock(final.with_name(final.name + LOCK_SUFFIX), **kwargs)

    @property
    def steps_dir(self) -> Path:
        """The folder of step results."""
        return self.directory / STEPS_FOLDER

    def step_path(self, method: str, key: str) -> Path:
        """The result store of step ``method`` with key ``key``."""
        return self.steps_dir / f"{method}-{key}.zarr"

    def step_store(self, name: str) -> Path:
        """A step result store by its folder name (as recorded in the pointer file)."""
        return self.steps_dir / name

    # -- labels and the active-learning loop ------------------------------------------------
    @property
    def labels_path(self) -> Path:
        """The experiment's labels file (it may not exist yet)."""
        return self.directory / LABELS_FILE

    @property
    def iterations_dir(self) -> Path:
        """The folder of the active-learning loop's iteration records."""
        return self.directory / ITERATIONS_FOLDER

    def iteration_records(self) -> list[dict[str, Any]]:
        """The recorded iterations of the active-learning loop, oldest first."""
        paths = sorted(self.iterations_dir.glob("iteration-*.json"))
        return [json.loads(p.read_text()) for p in paths]

    def record_iteration(self, record: dict[str, Any]) -> Path:
        """Record the next iteration (numbered here, under a short lock, so that two runs at
        once never take the same number); the file is written whole (temporary + rename)."""
        folder = self.iterations_dir
        folder.mkdir(parents=True, exist_ok=True)
        with StoreLock(folder.with_name(ITERATIONS_FOLDER + LOCK_SUFFIX), holder="iterations"):
            n = len(list(folder.glob("iteration-*.json"))) + 1
            path = folder / f"iteration-{n:04d}.json"
            tmp = folder / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
            tmp.write_text(json.dumps({"iteration": n, **record}, indent=1, default=str))
            os.replace(tmp, path)
        return path

    # -- the feature store of a run ---------------------------------------------------------
    def open_partial(
        self,
        key: str,
        *,
        n_spectra: int,
        n_wavelengths: int,
        retrying: bool | None = None,
        weights: bool = False,
    ) -> tuple[FeatureStore | None, str | None]:
        """The ``.partial`` store of ``key`` to resume, or ``(None, why)`` when there is none or
        it does not check out (:func:`~vocloud.store.features.check_store`): it is then made
        anew, never a lasting failure. Chunks marked done whose rows are still pending (a
        chunk file lost) are marked not done. ``retrying``: only a retry copy (True) or only a
        first run (False) is taken; ``weights``: it must keep the ``weight`` array too."""
        partial = self.partial_path(key)
        remove_leftovers(self.directory, self.store_path(key).name)
        if not partial.exists():
            return None, None
        why = check_store(
            partial,
            cache_key=key,
            n_spectra=n_spectra,
            n_wavelengths=n_wavelengths,
            weights=weights,
        )
        if why is None:
            st = FeatureStore(partial)
            if retrying is not None and bool(st.attrs.get("retrying")) != retrying:
                return None, "a retry copy" if retrying is False else "not a retry copy"
            try:
                _unmark_lost_chunks(st)
            except Exception as exc:
                why = f"unreadable chunk state ({type(exc).__name__}: {exc})"
            else:
                return st, None
        return None, why

    def create_partial(self, key: str, **create: Any) -> FeatureStore:
        """A new, empty ``.partial`` store of ``key`` (any old one removed first)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return FeatureStore.create(self.partial_path(key), **create)

    def discard_partial(self, key: str) -> None:
        """Remove the ``.partial`` store of ``key`` (it did not check out)."""
        shutil.rmtree(self.partial_path(key), ignore_errors=True)

    # -- the pointer file -------------------------------------------------------------------
    def read_pointer(self) -> dict[str, Any]:
        """The pointer file's content (``{}`` when there is none or it does not parse)."""
        ptr = self.directory / POINTER_FILE
        try:
            return dict(json.loads(ptr.read_text()))
        except (OSError, ValueError, TypeError):
            return {}

    @contextmanager
    def _pointer_lock(self) -> Iterator[None]:
        # held for a read-modify-write of the pointer file: milliseconds
        with StoreLock(self.directory / (POINTER_FILE + LOCK_SUFFIX), holder="experiment.json"):
            yield

    def update_pointer(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Read, ``change`` (in place) and write the pointer file, under its own short lock,
        written whole (a temporary file of this process renamed over it)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        ptr = self.directory / POINTER_FILE
        with self._pointer_lock():
            info = self.read_pointer()
            change(info)
            tmp = ptr.with_name(f".{POINTER_FILE}.{uuid.uuid4().hex[:12]}.tmp")
            tmp.write_text(json.dumps(info, indent=2, default=_json_default))
            os.replace(tmp, ptr)

    def record_store(self, name: str, store: Path, parameters: dict[str, Any], used: str) -> None:
        """Make ``store`` the experiment's current store in the pointer file."""

        def change(info: dict[str, Any]) -> None:
            stores = info.setdefault("stores", {})
            stores[store.name] = {"parameters": parameters, "used": used}
            info.update({"name": name, "current": store.name})

        self.update_pointer(change)

    def recorded_steps(self, features_store: Path) -> list[dict[str, Any]]:
        """The steps run on ``features_store``, oldest first (per method and input: the latest)."""
        return list(self.read_pointer().get("steps", {}).get(Path(features_store).name, []))

    def record_step(self, features_store: Path, record: dict[str, Any]) -> None:
        """Record a step run on ``features_store``, replacing an older run of that method on
        that input."""

        def change(info: dict[str, Any]) -> None:
            steps = info.setdefault("steps", {}).setdefault(Path(features_store).name, [])
            steps[:] = [
                s
                for s in steps
                if not (s["method"] == record["method"] and s["input"] == record["input"])
            ]
            steps.append(record)

        self.update_pointer(change)


def _unmark_lost_chunks(st: FeatureStore) -> None:
    """Mark not done the chunks marked done that still have pending rows (files lost)."""
    done = st.done_chunks()
    if not done.any():
        return
    status = read_array(st.path, "status")
    pending = np.zeros(st.n_chunks, dtype=bool)
    rows = np.flatnonzero(status == STATUS_PENDING)
    pending[np.unique(rows // st.chunk_size)] = True
    lost = np.flatnonzero(done & pending)
    if lost.size:
        marks = zarr.open_array(str(st.path / "chunk_done"), mode="r+")
        for i in lost:
            marks[int(i)] = False


def resolve_store(path: str | os.PathLike[str]) -> Path:
    """The complete store folder of an experiment folder or store path; clear errors otherwise.

    Examples
    --------
    >>> resolve_store("/nonexistent")
    Traceback (most recent call last):
    ...
    FileNotFoundError: /nonexistent: no vocloud experiment or feature store here
    """
    p = Path(path)
    if (p / "zarr.json").exists():
        if p.name.endswith(PARTIAL_SUFFIX):
            raise FileNotFoundError(
                f"{p}: an unfinished store (rerun the experiment to complete it)"
            )
        return p
    current = ExperimentFolder(p).read_pointer().get("current")
    if current and is_complete(p / current):
        return p / current
    stores = sorted(
        (q for q in p.glob("features-*.zarr") if is_complete(q)),
        key=lambda q: q.stat().st_mtime,
    )
    if stores:
        return stores[-1]
    if any(p.glob(f"features-*.zarr{PARTIAL_SUFFIX}")):
        raise FileNotFoundError(
            f"{p}: only an unfinished store (rerun the experiment to complete it)"
        )
    raise FileNotFoundError(f"{p}: no vocloud experiment or feature store here")

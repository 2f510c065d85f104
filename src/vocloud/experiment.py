"""An experiment: a spectra list + preprocessing parameters -> a lazy graph -> a cached Zarr store."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from distributed import Client, as_completed

from vocloud._version import __version__
from vocloud.chunks import compute_chunk, retry_rows, run_chunk
from vocloud.preprocess import PreprocessParams
from vocloud.run.cluster import get_client
from vocloud.run.config import load_experiment_file
from vocloud.sources import Source, source_from_config
from vocloud.spectralist import duplicate_reasons, list_hash
from vocloud.steps.registry import brief_metrics
from vocloud.steps.runner import StepResult, recorded_steps
from vocloud.store import PARTIAL_SUFFIX, FeatureStore, open_store

#: Bumped when the meaning of stored features changes, so old caches are not reused.
FEATURE_VERSION = 2
POINTER_FILE = "experiment.json"


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


class Experiment:
    """A spectra list and preprocessing parameters, run into a cached Zarr feature store.

    Building an experiment computes nothing. :meth:`features` gives a lazy xarray Dataset;
    :meth:`run` computes the store chunk by chunk on a Dask cluster, reusing the store when the
    same spectra and parameters were run before and resuming a run that was cut short.

    Parameters
    ----------
    source : Source or dict
        Where the spectra are, e.g. ``DirectorySource("spectra", pattern="**/*.fits")`` or
        ``{"directory": "spectra", "pattern": "**/*.fits"}``.
    preprocess : dict or PreprocessParams, optional
        The preprocessing parameters (the ``preprocess:`` part of an experiment file).
    name : str
        The experiment's name: its folder under ``store``.
    store : str or Path
        Folder that holds experiments (default ``./experiments``).
    block_size : int
        Spectra per task and per Zarr chunk (default 1,000).
    scheduler : str or Client, optional
        An existing cluster to use instead of a new LocalCluster.
    cluster_kwargs : dict, optional
        Settings for the LocalCluster started when no scheduler is given.
    batch : dict or BatchSpec, optional
        Run on Dask workers submitted as batch jobs instead of a LocalCluster, e.g.
        ``{"slurm": {"jobs": 4, "cores": 8, "memory": "32GB", "walltime": "02:00:00"}}``
        (:mod:`vocloud.run.batch`; the ``run: {batch: ...}`` part of an experiment file). One set
        of jobs serves the whole run (preprocessing and steps) and is cancelled at its end.
    base_dir : str or Path, optional
        Relative paths in ``source``, ``store`` and step parameters are relative to this folder.
    fetch : dict, optional
        How remote spectra are downloaded (:class:`vocloud.fetch.FetchOptions`: ``concurrency``,
        ``retries``, ``timeout``, ``backoff``, ``cache_dir``, ``cutout``, ``credentials``); the
        raw cache defaults to ``<store>/.raw-cache``, shared by the experiments of that folder.
        ``credentials`` (logins per host) also serve the listing of an ``http``/``ftp`` source
        given as a mapping; they are never written to the store.
    steps : list of dict, optional
        Analysis steps run by :meth:`run` after the preprocessing, each
        ``{"method": name, "params": {...}, "input": "features" | previous method}``.

    Examples
    --------
    >>> import tempfile
    >>> from vocloud.datasets import make_archive
    >>> tmp = tempfile.mkdtemp()
    >>> _ = make_archive(f"{tmp}/spectra", 40, layouts="iraf-linear", n_jobs=1)
    >>> exp = Experiment({"directory": f"{tmp}/spectra", "pattern": "**/*.fits"},
    ...                  name="halpha", store=f"{tmp}/experiments", block_size=20)
    >>> ds = exp.features()            # lazy: nothing computed yet
    >>> ds.features.shape
    (40, 1161)
    >>> ds = exp.run(cluster_kwargs={"n_workers": 1, "processes": False,
    ...              "dashboard_address": None}, progress=False, verbose=False)
    >>> int((ds.status == 1).sum())
    40
    """

    def __init__(
        self,
        source: Source | dict[str, Any],
        preprocess: dict[str, Any] | PreprocessParams | None = None,
        *,
        name: str = "experiment",
        store: str | os.PathLike[str] = "./experiments",
        block_size: int = 1000,
        scheduler: str | Client | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        batch: Any = None,
        base_dir: str | os.PathLike[str] | None = None,
        steps: list[dict[str, Any]] | None = None,
        fetch: dict[str, Any] | None = None,
    ) -> None:
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        self.base_dir = base
        self.steps = [dict(s) for s in (steps or [])]
        self.fetch = dict(fetch or {})
        self.source = source_from_config(source, base)
        if self.fetch.get("credentials") is not None:
            from vocloud.fetch.credentials import Credentials
            from vocloud.sources.files import FTPSource, HTTPIndexSource

            # checked now (an error names the host key, never a password) and kept as
            # Credentials, whose repr hides passwords
            creds = self.fetch["credentials"] = Credentials.from_config(self.fetch["credentials"])
            src = self.source  # an HTTP index or FTP listing logs in with the same credentials
            if not isinstance(source, Source) and isinstance(src, HTTPIndexSource | FTPSource):
                if src.credentials is None:
                    src.credentials = creds
        if isinstance(preprocess, PreprocessParams):
            self.params = preprocess
        else:
            self.params = PreprocessParams.from_dict(preprocess or {})
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"name: {name!r} is not a valid folder name")
        self.name = name
        store = Path(store)
        self.directory = (store if store.is_absolute() else base / store) / name
        if int(block_size) < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.block_size = int(block_size)
        self.scheduler = scheduler
        self.cluster_kwargs = dict(cluster_kwargs or {})
        if batch is not None:
            from vocloud.run.batch import BatchSpec

            batch = batch if isinstance(batch, BatchSpec) else BatchSpec.from_config(batch)
            logs = batch.options.get("log_directory")
            if logs and not Path(logs).is_absolute():  # relative to the experiment file's folder
                batch.options["log_directory"] = str(base / logs)
        self.batch = batch
        self._spectra: pd.DataFrame | None = None
        self.last_run: dict[str, Any] = {}

    # -- construction from files ------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **overrides: Any) -> Experiment:
        """Build an experiment from a YAML or JSON experiment file.

        Relative paths in the file are relative to the file's folder.
        """
        return cls.from_dict(load_experiment_file(path), **overrides)

    @classmethod
    def from_dict(cls, spec: dict[str, Any], **overrides: Any) -> Experiment:
        """Build an experiment from the mapping of an experiment file."""
        run = dict(spec.get("run") or {})
        kwargs: dict[str, Any] = {
            "name": spec.get("name", "experiment"),
            "store": spec.get("store", "./experiments"),
            "block_size": run.get("block_size", 1000),
            "scheduler": run.get("scheduler"),
            "batch": run.get("batch"),
            "base_dir": spec.get("_base_dir"),
        }
        if run.get("n_workers"):
            kwargs["cluster_kwargs"] = {"n_workers": int(run["n_workers"])}
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        kwargs.setdefault("steps", spec.get("steps"))
        kwargs.setdefault("fetch", spec.get("fetch"))
        return cls(spec["source"], spec.get("preprocess"), **kwargs)

    def fetch_options(self) -> dict[str, Any]:
        """The download options the tasks get (validated; raw cache under the store folder)."""
        from vocloud.fetch import FetchOptions

        opts = dict(self.fetch)
        cache = opts.get("cache_dir")
        if cache is None:
            opts["cache_dir"] = str(self.directory.parent / ".raw-cache")
        elif not Path(cache).is_absolute():
            opts["cache_dir"] = str(self.base_dir / cache)
        checked = FetchOptions.from_dict(opts)  # a bad option fails here, before any task runs
        if "credentials" in opts:
            # passed to the tasks as a Credentials, whose repr (task arguments in logs) hides
            # passwords; never part of the cache key nor of the store's provenance
            opts["credentials"] = checked.credentials
        return opts

    # -- the spectra list and the cache key -------------------------------------------------
    @property
    def spectra(self) -> pd.DataFrame:
        """The spectra list (listed from the source on first use, then kept)."""
        if self._spectra is None:
            self._spectra = self.source.list().reset_index(drop=True)
        return self._spectra

    @spectra.setter
    def spectra(self, value: pd.DataFrame) -> None:
        self._spectra = value.reset_index(drop=True)

    @property
    def cache_key(self) -> str:
        """Hash of the spectra list and of the preprocessing parameters (and feature version)."""
        parts: dict[str, Any] = {
            "list": list_hash(self.spectra),
            "preprocess": self.params.to_dict(),
            "feature_version": FEATURE_VERSION,
        }
        if "datalink_url" in self.spectra.columns:
            # a server cutout gives the continuum fit less of the spectrum: other features
            parts["cutout"] = self.fetch_options().get("cutout", "server")
        payload = json.dumps(
            parts,
            sort_keys=True,
            default=_json_default,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    @property
    def store_path(self) -> Path:
        """Where the complete feature store of these spectra and parameters lives."""
        return self._store_for(self.cache_key)

    def _store_for(self, key: str) -> Path:
        return self.directory / f"features-{key[:16]}.zarr"

    def is_cached(self) -> bool:
        """Whether a complete store for these spectra and parameters exists."""
        return self._complete(self.store_path)

    @staticmethod
    def _complete(p: Path) -> bool:
        if not (p / "zarr.json").exists():
            return False
        try:
            return bool(FeatureStore(p).attrs.get("complete"))
        except Exception:
            return False

    # -- the lazy graph ---------------------------------------------------------------------
    def _blocks(self, chunk_size: int) -> list[tuple[int, int]]:
        n = len(self.spectra)
        return [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]

    def features(self) -> xr.Dataset:
        """The features as a lazy xarray Dataset backed by dask (nothing is computed here).

        When a complete store exists for these spectra and parameters it is opened instead.
        """
        key = self.cache_key  # hashing the list costs ~70 ms per 100,000 spectra: once
        if self._complete(self._store_for(key)):
            return open_store(self._store_for(key))
        spectra = self.spectra
        grid = self.params.grid()
        m = len(grid)
        paths = spectra["access_url"].astype(str).tolist()
        datalinks = _datalink_column(spectra)
        rv = _rv_column(spectra, self.params)  # issue #8: rest frame from the spectra list
        skip = duplicate_reasons(spectra).tolist()
        params = self.params.to_dict()
        fetch = self.fetch_options()
        parts: dict[str, list[Any]] = {}
        dtypes = {
            "status": "i1",
            "error": object,
            "snr": "f4",
            "s_ra": "f8",
            "s_dec": "f8",
            "target": object,
            "layout": object,
            "transient": bool,
            "medium": object,
            "rest_frame": object,
        }
        for start, stop in self._blocks(self.block_size):
            d = dask.delayed(compute_chunk, pure=True)(
                paths[start:stop],
                skip[start:stop],
                params,
                fetch,
                None if datalinks is None else datalinks[start:stop],
                None if rv is None else rv[start:stop],
            )
            k = stop - start
            parts.setdefault("features", []).append(
                da.from_delayed(d.features, shape=(k, m), dtype="f4")
            )
            for name, dt in dtypes.items():
                parts.setdefault(name, []).append(
                    da.from_delayed(d.columns[name], shape=(k,), dtype=dt)
                )
        if not parts:
            parts = {"features": [da.zeros((0, m), dtype="f4")]}
            parts.update({n: [da.zeros((0,), dtype=dt)] for n, dt in dtypes.items()})
        coords = {
            "wavelength": (
                "wavelength",
                grid,
                {"units": "Angstrom", "medium": self.params.grid_params.medium},
            ),
            "id": ("spectrum", spectra["id"].to_numpy(dtype=object)),
            "path": ("spectrum", spectra.get("path", spectra["access_url"]).to_numpy(dtype=object)),
        }
        for name in dtypes:
            coords[name] = ("spectrum", da.concatenate(parts[name]))
        return xr.Dataset(
            {"features": (("spectrum", "wavelength"), da.concatenate(parts["features"]))},
            coords=coords,
            attrs=self._provenance(key),
        )

    def _provenance(self, key: str) -> dict[str, Any]:
        return {
            "vocloud_version": __version__,
            "experiment": self.name,
            "cache_key": key,
            "parameters": json.dumps(self.params.to_dict(), default=_json_default),
            "source": json.dumps(self.source.describe(), default=_json_default),
            "feature_version": FEATURE_VERSION,
        }

    # -- running ----------------------------------------------------------------------------
    def _open_or_create_partial(self, key: str) -> FeatureStore:
        final = self._store_for(key)
        partial = final.with_name(final.name + PARTIAL_SUFFIX)
        if (partial / "zarr.json").exists():
            try:
                st = FeatureStore(partial)
                if st.attrs.get("cache_key") == key and st.n_spectra == len(self.spectra):
                    return st
            except Exception:
                pass  # unreadable partial store: start again
        spectra = self.spectra
        self.directory.mkdir(parents=True, exist_ok=True)
        return FeatureStore.create(
            partial,
            ids=spectra["id"].to_numpy(dtype=object),
            paths=spectra.get("path", spectra["access_url"]).to_numpy(dtype=object),
            grid=self.params.grid(),
            chunk_size=self.block_size,
            attrs={**self._provenance(key), "created": _now()},
            grid_attrs={"medium": self.params.to_dict().get("grid", {}).get("medium", "air")},
        )

    def run(
        self,
        client: Client | str | None = None,
        *,
        progress: bool = True,
        verbose: bool = True,
        cluster_kwargs: dict[str, Any] | None = None,
    ) -> xr.Dataset:
        """Compute the feature store (or reuse it) and return it opened as xarray.

        Parameters
        ----------
        client : Client or str, optional
            A client or scheduler address; default: the experiment's ``scheduler``, else its
            ``batch`` jobs, else a new LocalCluster; a cluster started here serves the
            preprocessing and the steps and is closed at the end.
        progress : bool
            Show a progress bar (terminal or Jupyter).
        verbose : bool
            Print what happens (cache hit, resume, dashboard link, summary).
        cluster_kwargs : dict, optional
            LocalCluster settings for this run.

        Returns
        -------
        xarray.Dataset
            The store, lazily opened.
        """
        with self._session(client, verbose, cluster_kwargs) as connect:
            return self._run(connect, progress, verbose)

    @contextlib.contextmanager
    def _session(
        self, client: Client | str | None, verbose: bool, cluster_kwargs: dict[str, Any] | None
    ) -> Iterator[Callable[[], Client]]:
        """A ``connect()`` that gives one client for the whole run, made on first use.

        A cache hit with no steps starts no cluster; batch jobs are submitted once for the
        preprocessing and the steps, and end with the run.
        """
        with contextlib.ExitStack() as stack:
            made: list[Client] = []

            def connect() -> Client:
                if not made:
                    kwargs = {**self.cluster_kwargs, **(cluster_kwargs or {})}
                    made.append(
                        stack.enter_context(
                            get_client(
                                client or self.scheduler,
                                quiet=not verbose,
                                batch=self.batch,
                                **kwargs,
                            )
                        )
                    )
                return made[0]

            yield connect

    def _run(self, connect: Callable[[], Client], progress: bool, verbose: bool) -> xr.Dataset:
        t0 = time.perf_counter()
        say = print if verbose else (lambda *a, **k: None)
        key = self.cache_key  # hashing the list costs ~70 ms per 100,000 spectra: once per run
        final = self._store_for(key)
        retry_store = self._retry_store(final, key, say) if self._complete(final) else None
        if self._complete(final) and retry_store is None:
            self.last_run = {
                "cached": True,
                "chunks_computed": 0,
                "store": str(final),
                "seconds": time.perf_counter() - t0,
            }
            self._write_pointer(final)
            say(f"vocloud: cache hit, reusing {final}")
            self._run_steps(connect, verbose)
            return open_store(final)
        st = retry_store or self._open_or_create_partial(key)
        retrying = bool(st.attrs.get("retrying"))
        done = st.done_chunks()
        todo = np.flatnonzero(~done)
        # a retry computes only the rows that failed for a transient reason
        plan = {int(i): st.rows_to_retry(int(i)) for i in todo} if retrying else {}
        if done.any() and not retrying:
            say(f"vocloud: resuming {st.path}: {int(done.sum())} of {st.n_chunks} chunks done")
        spectra = self.spectra
        paths = spectra["access_url"].astype(str).tolist()
        datalinks = _datalink_column(spectra)
        rv = _rv_column(spectra, self.params)  # issue #8: rest frame from the spectra list
        skip = duplicate_reasons(spectra).tolist()
        params = self.params.to_dict()
        fetch = self.fetch_options()
        errors: list[str] = []
        results: list[dict[str, int]] = []
        for i, rows in plan.items():
            if not rows.size:  # a retry cut short after this chunk's rows were written
                FeatureStore.mark_done(st.path, i)
        todo = np.array([i for i in todo if not retrying or plan[int(i)].size], dtype=int)
        if todo.size:
            if retrying:
                n_retry = sum(int(r.size) for r in plan.values())
                say(
                    f"vocloud: retrying {n_retry} spectra whose download failed for a transient "
                    f"reason, in {todo.size} tasks -> {final}"
                )
            else:
                say(
                    f"vocloud: preprocessing {len(spectra)} spectra in {todo.size} tasks -> {final}"
                )
            c = connect()
            futures = []
            for i in todo:
                start, stop = st.chunk_bounds(int(i))
                if retrying:
                    sel = plan[int(i)].tolist()
                    futures.append(
                        c.submit(
                            retry_rows,
                            str(st.path),
                            int(i),
                            sel,
                            [paths[r] for r in sel],
                            [skip[r] for r in sel],
                            params,
                            fetch,
                            None if datalinks is None else [datalinks[r] for r in sel],
                            None if rv is None else [rv[r] for r in sel],
                            pure=False,
                            key=f"vocloud-retry-{key[:12]}-{int(i)}-{uuid.uuid4().hex[:8]}",
                        )
                    )
                    continue
                futures.append(
                    c.submit(
                        run_chunk,
                        str(st.path),
                        int(i),
                        start,
                        paths[start:stop],
                        skip[start:stop],
                        params,
                        fetch,
                        None if datalinks is None else datalinks[start:stop],
                        None if rv is None else rv[start:stop],
                        pure=False,
                        key=f"vocloud-chunk-{key[:12]}-{int(i)}",
                    )
                )
            if progress:
                from distributed import progress as _progress

                _progress(futures)
            for fut in as_completed(futures):
                if fut.status != "finished":
                    errors.append(f"chunk task {fut.key}: {fut.exception()!r}")
                else:
                    results.append(fut.result())
        if errors:
            raise RuntimeError(
                f"{len(errors)} chunk tasks failed; finished chunks are kept in {st.path} and a "
                f"rerun resumes from them. First: {errors[0]}"
            )
        st = st.finish(final, {"retried" if retrying else "finished": _now()})
        self._write_pointer(final)
        summary = st.summary()
        retried = {
            "retried": sum(r.get("n", 0) for r in results) if retrying else 0,
            "retried_ok": sum(r.get("n_ok", 0) for r in results) if retrying else 0,
        }
        retried["retried_failed"] = retried["retried"] - retried["retried_ok"]
        self.last_run = {
            "cached": False,
            "chunks_computed": int(todo.size),
            "store": str(final),
            "seconds": time.perf_counter() - t0,
            **retried,
            **summary,
        }
        if retrying:
            again = (
                f" ({summary['n_transient']} for a transient reason: the next rerun retries them)"
                if summary["n_transient"]
                else ""
            )
            say(
                f"vocloud: retried {retried['retried']} spectra: {retried['retried_ok']} now ok, "
                f"{retried['retried_failed']} still fail{again}"
            )
        say(
            f"vocloud: {summary['n_ok']} ok, {summary['n_failed']} failed of "
            f"{summary['n_spectra']} in {self.last_run['seconds']:.1f} s -> {final}"
        )
        self._run_steps(connect, verbose)
        return open_store(final)

    def _retry_store(self, final: Path, key: str, say: Any) -> FeatureStore | None:
        """For a rerun of a complete store: the store to retry its transient failures in.

        A retry cut short is resumed; else, when the complete store has spectra whose download
        failed for a transient reason, a copy of it (hard links) is made to retry them in. None
        when there is nothing to retry.
        """
        partial = final.with_name(final.name + PARTIAL_SUFFIX)
        if (partial / "zarr.json").exists():
            try:
                st = FeatureStore(partial)
                if (
                    st.attrs.get("retrying")
                    and st.attrs.get("cache_key") == key
                    and st.n_spectra == len(self.spectra)
                ):
                    say(f"vocloud: resuming the retry of failed downloads in {partial}")
                    return st
            except Exception:
                pass  # unreadable: made anew below
        complete = FeatureStore(final)
        rows = complete.transient_rows()
        if not rows.size:
            return None
        return complete.clone_for_retry(partial, rows)

    def _run_steps(self, connect: Callable[[], Client], verbose: bool) -> None:
        if not self.steps:
            return
        with connect().as_current():
            for step in self.steps:
                res = self.run_step(
                    step["method"],
                    input=step.get("input", "features"),
                    **(step.get("params") or {}),
                )
                if verbose:
                    state = "cached" if res.cached else "done"
                    print(f"vocloud: step {res.method} ({state}): {brief_metrics(res.metrics)}")

    def run_step(self, method: str, *, input: str = "features", **params: Any) -> StepResult:
        """Run one analysis step on the experiment's feature store (computed first if needed).

        Parameters
        ----------
        method : str
            A registered method (``vocloud methods`` lists them), e.g. ``"pca"`` or ``"som"``.
        input : str
            ``"features"`` or a method run before (``"pca"``: a SOM on PCA scores).
        **params
            The method's parameters; missing ones take their defaults.

        Returns
        -------
        StepResult
            ``.metrics``, ``.store`` and ``.open()`` for the per-spectrum outputs.

        Examples
        --------
        >>> res = exp.run_step("som", shape=(20, 20), input="pca")  # doctest: +SKIP
        """
        from vocloud.steps import run_step

        if not self.is_cached():
            self.run(progress=False, verbose=False)
        return run_step(
            self.directory, self.store_path, method, params, input=input, base_dir=self.base_dir
        )

    def _write_pointer(self, final: Path) -> None:
        """Record the store of the latest run in ``<experiment>/experiment.json``."""
        ptr = self.directory / POINTER_FILE
        info: dict[str, Any] = {}
        if ptr.exists():
            try:
                info = json.loads(ptr.read_text())
            except ValueError:
                info = {}
        stores = info.get("stores", {})
        stores[final.name] = {"parameters": self.params.to_dict(), "used": _now()}
        info.update({"name": self.name, "current": final.name, "stores": stores})
        tmp = ptr.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info, indent=2, default=_json_default))
        os.replace(tmp, ptr)


def _rv_column(spectra: pd.DataFrame, params: PreprocessParams) -> list[Any] | None:
    """The spectra list column ``preprocess.rv = "column:<name>"`` names (any case), or None.

    Raises
    ------
    ValueError
        When the spectra list has no such column.
    """
    rv = params.rv
    if not (isinstance(rv, str) and rv.startswith("COLUMN:")):
        return None
    name = rv[7:]
    match = [c for c in spectra.columns if str(c).upper() == name]
    if not match:
        raise ValueError(
            f"rv: the spectra list has no column {name.lower()!r} "
            f"(columns: {', '.join(map(str, spectra.columns))})"
        )
    return spectra[match[0]].tolist()


def _datalink_column(spectra: pd.DataFrame) -> list[str | None] | None:
    """The ``datalink_url`` column as a list (None for empty cells), or None without one."""
    if "datalink_url" not in spectra.columns:
        return None
    col = spectra["datalink_url"]
    return [v if isinstance(v, str) and v else None for v in col.tolist()]


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def open_experiment(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open an experiment's feature store as a lazy xarray Dataset.

    Parameters
    ----------
    path : str or Path
        An experiment folder (its latest run's store is opened) or a store folder.

    Examples
    --------
    >>> ds = open_experiment("experiments/halpha")  # doctest: +SKIP
    >>> ds.features.sel(wavelength=6562.8, method="nearest")  # doctest: +SKIP
    """
    return open_store(resolve_store(path))


def resolve_store(path: str | os.PathLike[str]) -> Path:
    """The complete store folder of an experiment folder or store path; clear errors otherwise."""
    p = Path(path)
    if (p / "zarr.json").exists():
        if p.name.endswith(PARTIAL_SUFFIX):
            raise FileNotFoundError(
                f"{p}: an unfinished store (rerun the experiment to complete it)"
            )
        return p
    ptr = p / POINTER_FILE
    if ptr.exists():
        current = p / json.loads(ptr.read_text())["current"]
        if (current / "zarr.json").exists():
            return current
    stores = sorted(
        (q for q in p.glob("features-*.zarr") if (q / "zarr.json").exists()),
        key=lambda q: q.stat().st_mtime,
    )
    if stores:
        return stores[-1]
    if any(p.glob(f"features-*.zarr{PARTIAL_SUFFIX}")):
        raise FileNotFoundError(
            f"{p}: only an unfinished store (rerun the experiment to complete it)"
        )
    raise FileNotFoundError(f"{p}: no vocloud experiment or feature store here")


def summarize(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Summary of an experiment's store: counts, failures by reason, parameters and provenance.

    Examples
    --------
    >>> summarize("experiments/halpha")["n_ok"]  # doctest: +SKIP
    4950
    """
    store = resolve_store(path)
    st = FeatureStore(store)
    summary = st.summary()
    ds = open_store(store)
    out = {
        "store": str(store),
        **summary,
        "n_wavelengths": int(ds.sizes["wavelength"]),
        "wavelength_range": [float(ds.wavelength[0]), float(ds.wavelength[-1])]
        if ds.sizes["wavelength"]
        else [],
        "parameters": ds.attrs.get("parameters"),
        "source": ds.attrs.get("source"),
        "vocloud_version": ds.attrs.get("vocloud_version"),
        "created": ds.attrs.get("created"),
        "finished": ds.attrs.get("finished"),
        "cache_key": ds.attrs.get("cache_key"),
        "complete": bool(ds.attrs.get("complete")),
        "steps": [
            {k: rec[k] for k in ("method", "input", "params", "metrics", "key")}
            for rec in recorded_steps(store.parent, store)
        ],
    }
    return out

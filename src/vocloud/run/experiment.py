"""An experiment: a spectra list + preprocessing parameters -> a lazy graph -> a cached Zarr store."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["Experiment", "open_experiment", "summarize"]

import pandas as pd
import xarray as xr
from dask.utils import parse_bytes
from distributed import Client

from vocloud._version import __version__
from vocloud.fetch import FetchOptions
from vocloud.io.read import MAX_FILE_SIZE
from vocloud.preprocess import PreprocessParams
from vocloud.run.cachekey import FEATURE_VERSION, json_default
from vocloud.run.cachekey import cache_key as key_of
from vocloud.run.cluster import get_client
from vocloud.run.config import load_experiment_file
from vocloud.run.graph import lazy_features
from vocloud.run.inputs import TaskInputs
from vocloud.run.resume import StoreRun
from vocloud.run.spec import batch_spec_for, experiment_arguments, fetch_options_for
from vocloud.run.summary import open_experiment, summarize
from vocloud.sources import Source, source_from_config
from vocloud.steps.registry import brief_metrics
from vocloud.steps.runner import StepResult
from vocloud.steps.runner import run_step as run_step_on
from vocloud.store import ExperimentFolder, StoreLock, is_complete, open_store


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
    fetch : dict or FetchOptions, optional
        How remote spectra are downloaded (:class:`vocloud.fetch.FetchOptions`: ``concurrency``,
        ``retries``, ``timeout``, ``backoff``, ``cache_dir``, ``cutout``, ``credentials``); the
        raw cache defaults to ``<store>/.raw-cache``, shared by the experiments of that folder.
        ``credentials`` (logins per host) also serve the listing of an ``http``/``ftp`` source
        given as a mapping; they are never written to the store.
    steps : list of dict, optional
        Analysis steps run by :meth:`run` after the preprocessing, each
        ``{"method": name, "params": {...}, "input": "features" | previous method}``.
    max_file_size : int or str, optional
        Limit on one spectrum file, as stored or downloaded and after gunzip (``"1GB"``, the
        default :data:`vocloud.io.read.MAX_FILE_SIZE`; the ``run: {max_file_size: ...}`` of an
        experiment file). A larger file is recorded failed ("gzip expands past 1 GB") instead of
        taking its worker's memory. A limit other than the default is part of the cache key.

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
        fetch: dict[str, Any] | FetchOptions | None = None,
        max_file_size: int | str | None = None,
    ) -> None:
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        self.base_dir = base
        self.steps = [dict(s) for s in (steps or [])]
        self.source = source_from_config(source, base)
        if isinstance(preprocess, PreprocessParams):
            self.params = preprocess
        else:
            self.params = PreprocessParams.from_dict(preprocess or {})
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"name: {name!r} is not a valid folder name")
        self.name = name
        store = Path(store)
        self.directory = (store if store.is_absolute() else base / store) / name
        self.folder = ExperimentFolder(self.directory)
        #: The download options the tasks get (:class:`vocloud.fetch.FetchOptions`), checked
        #: once here: a bad option fails before any task runs.
        self.fetch_options = fetch_options_for(
            fetch,
            self.source,
            store_folder=self.directory.parent,
            base=base,
            wire=not isinstance(source, Source),
        )
        self.max_file_size = (
            MAX_FILE_SIZE if max_file_size is None else int(parse_bytes(max_file_size))
        )
        if self.max_file_size < 1:
            raise ValueError(f"max_file_size must be positive, got {max_file_size!r}")
        if int(block_size) < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.block_size = int(block_size)
        self.scheduler = scheduler
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.batch = batch_spec_for(batch, base)
        self._spectra: pd.DataFrame | None = None
        self._held: set[str] = set()  # cache keys whose store lock this object holds
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
        source, preprocess, kwargs = experiment_arguments(spec, overrides)
        return cls(source, preprocess, **kwargs)

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
        # a server cutout gives the continuum fit less of the spectrum: other features
        cutout = self.fetch_options.cutout if "datalink_url" in self.spectra.columns else None
        return key_of(self.spectra, self.params, cutout, self.max_file_size)

    @property
    def store_path(self) -> Path:
        """Where the complete feature store of these spectra and parameters lives."""
        return self.folder.store_path(self.cache_key)

    def is_cached(self) -> bool:
        """Whether a complete store for these spectra and parameters exists."""
        return is_complete(self.store_path)

    # -- the lazy graph ---------------------------------------------------------------------
    def _task_inputs(self) -> TaskInputs:
        """What the chunk tasks are given, from the spectra list (once per run)."""
        return TaskInputs.of(self.spectra, self.params, self.fetch_options, self.max_file_size)

    def features(self) -> xr.Dataset:
        """The features as a lazy xarray Dataset backed by dask (nothing is computed here).

        When a complete store exists for these spectra and parameters it is opened instead.
        With ``preprocess: {weights: true}`` the Dataset also has ``weight``, the inverse
        variance of every feature value (docs/store.md).

        Examples
        --------
        >>> import tempfile
        >>> from vocloud.datasets import make_archive
        >>> tmp = tempfile.mkdtemp()
        >>> _ = make_archive(f"{tmp}/spectra", 4, layouts="lamost-dr8", n_jobs=1)
        >>> exp = Experiment({"directory": f"{tmp}/spectra", "pattern": "**/*.fits"},
        ...                  {"weights": True}, store=f"{tmp}/experiments")
        >>> ds = exp.features()
        >>> ds.weight.dims, ds.weight.dtype
        (('spectrum', 'wavelength'), dtype('float32'))
        >>> bool((ds.weight.compute() > 0).any())
        True
        """
        key = self.cache_key  # hashing a long list is not free: once
        if is_complete(self.folder.store_path(key)):
            return open_store(self.folder.store_path(key))
        return lazy_features(
            self.spectra, self.params, self._task_inputs(), self.block_size, self._provenance(key)
        )

    def _provenance(self, key: str) -> dict[str, Any]:
        return {
            "vocloud_version": __version__,
            "experiment": self.name,
            "cache_key": key,
            "parameters": json.dumps(self.params.to_dict(), default=json_default),
            "source": json.dumps(self.source.describe(), default=json_default),
            "feature_version": FEATURE_VERSION,
        }

    # -- running ----------------------------------------------------------------------------
    def run(
        self,
        client: Client | str | None = None,
        *,
        progress: bool = True,
        verbose: bool = True,
        cluster_kwargs: dict[str, Any] | None = None,
        wait: bool = True,
    ) -> xr.Dataset:
        """Compute the feature store (or reuse it) and return it opened as xarray.

        The run holds the store's lock (:class:`vocloud.store.StoreLock`) from the cache check
        to its last step: another run of the same spectra and parameters waits for it, then
        finds the store made.

        Parameters
        ----------
        client : Client or str, optional
            A client or scheduler address; default: the experiment's ``scheduler``, else its
            ``batch`` jobs, else a new LocalCluster; a cluster started here serves the
            preprocessing and the steps and is closed at the end.
        progress : bool
            Show a progress bar (terminal or Jupyter).
        verbose : bool
            Print what happens (cache hit, resume, waiting for a lock, summary).
        cluster_kwargs : dict, optional
            LocalCluster settings for this run.
        wait : bool
            When another run holds the store's lock: wait for it (default), or raise
            :class:`vocloud.store.StoreLocked` at once, naming the holder.

        Returns
        -------
        xarray.Dataset
            The store, lazily opened.
        """
        with self._session(client, verbose, cluster_kwargs) as connect:
            return self._run(connect, progress, verbose, wait)

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

    @contextlib.contextmanager
    def _locked(self, key: str, wait: bool, say: Callable[..., None]) -> Iterator[None]:
        """Hold the lock of the store of ``key`` (once per experiment object: not re-taken by a
        step run inside a run)."""
        if key in self._held:
            yield
            return
        lock: StoreLock = self.folder.lock(key, holder=f"vocloud run of {self.name!r}")
        lock.acquire(wait=wait, on_wait=lambda message: say(f"vocloud: {message}"))
        self._held.add(key)
        try:
            yield
        finally:
            self._held.discard(key)
            lock.release()

    def _run(
        self, connect: Callable[[], Client], progress: bool, verbose: bool, wait: bool = True
    ) -> xr.Dataset:
        t0 = time.perf_counter()
        say = print if verbose else (lambda *a, **k: None)
        key = self.cache_key  # hashing a long list is not free: once per run
        with self._locked(key, wait, say):
            run = StoreRun(
                self.folder,
                self.name,
                key,
                self.spectra,
                self.params,
                self.block_size,
                self._provenance(key),
                say,
            )
            st = run.store_to_compute()
            if st is None:
                self.last_run = {
                    "cached": True,
                    "chunks_computed": 0,
                    "store": str(run.final),
                    "seconds": time.perf_counter() - t0,
                }
                run.record()
                say(f"vocloud: cache hit, reusing {run.final}")
                self._run_steps(connect, verbose)
                return open_store(run.final)
            self.last_run = run.compute(st, connect, self._task_inputs, progress, t0)
            self._run_steps(connect, verbose)
        return open_store(run.final)

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

        The step runs under the store's lock, as :meth:`run` does.

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
        if not self.is_cached():
            self.run(progress=False, verbose=False)
        with self._locked(self.cache_key, True, print):
            return run_step_on(
                self.directory,
                self.store_path,
                method,
                params,
                input=input,
                base_dir=self.base_dir,
            )

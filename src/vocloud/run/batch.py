"""Dask workers as batch jobs on an HPC scheduler (SLURM, PBS, SGE, LSF, HTCondor, OAR, Moab).

A thin layer over dask-jobqueue (the ``hpc`` extra: ``pip install vocloud[hpc]``): an experiment
file names the scheduler and its job settings,

.. code-block:: yaml

    run:
      batch:
        slurm: {jobs: 4, cores: 8, memory: 32GB, walltime: "02:00:00", queue: normal,
                account: myproject, job_extra_directives: ["--constraint=avx2"]}

and :func:`batch_cluster` turns that into a started dask-jobqueue cluster with ``jobs`` jobs
asked for. Everything but ``jobs``, ``adapt`` and ``wait`` is passed to the dask-jobqueue class
(``SLURMCluster`` ...), checked against its parameters first so that a misspelt key is named at
once rather than in a job that never starts.

vocloud's defaults differ from dask-jobqueue's in two places, for the same reasons as on a
LocalCluster (:mod:`vocloud.run.cluster`): one single-threaded worker process per core
(``processes = cores``; reading FITS headers holds the GIL), and the glibc malloc settings of
:data:`vocloud.run.workers.WORKER_MALLOC_ENV` exported in the job script. Both can be overridden.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vocloud.run.workers import WORKER_MALLOC_ENV

#: Batch schedulers by the name used in experiment files -> (module, dask-jobqueue class).
BATCH_KINDS: dict[str, tuple[str, str]] = {
    "slurm": ("dask_jobqueue", "SLURMCluster"),
    "pbs": ("dask_jobqueue", "PBSCluster"),
    "sge": ("dask_jobqueue", "SGECluster"),
    "lsf": ("dask_jobqueue", "LSFCluster"),
    "htcondor": ("dask_jobqueue", "HTCondorCluster"),
    "oar": ("dask_jobqueue", "OARCluster"),
    "moab": ("dask_jobqueue", "MoabCluster"),
}

#: Keys of a batch cluster entry that vocloud reads itself (the rest go to dask-jobqueue).
OWN_KEYS = ("jobs", "adapt", "wait")


@dataclass
class BatchSpec:
    """A batch cluster as an experiment file gives it: ``{kind: {jobs, adapt, wait, ...}}``.

    Parameters
    ----------
    kind : str
        One of :data:`BATCH_KINDS` (``"slurm"``, ``"pbs"`` ...).
    jobs : int
        Batch jobs to submit at the start (each runs ``processes`` Dask workers).
    adapt : tuple of int, optional
        ``(minimum_jobs, maximum_jobs)``: let the cluster grow and shrink with the work instead
        of a fixed ``jobs``.
    wait : float, optional
        Seconds to wait for the first worker before giving up with a clear error (jobs that
        stay queued); ``None`` waits as long as the queue takes.
    options : dict
        Settings for the dask-jobqueue class: ``cores``, ``memory``, ``walltime``, ``queue``,
        ``account``, ``job_extra_directives``, ``interface``, ``log_directory`` ...

    Examples
    --------
    >>> spec = BatchSpec.from_config({"slurm": {"jobs": 2, "cores": 4, "memory": "16GB"}})
    >>> spec.kind, spec.jobs, spec.options["cores"]
    ('slurm', 2, 4)
    >>> BatchSpec.from_config({"slurm": {"cores": 4, "memroy": "16GB"}})
    Traceback (most recent call last):
    ...
    ValueError: run.batch.slurm: unknown setting 'memroy' (did you mean 'memory'?)
    """

    kind: str
    jobs: int = 1
    adapt: tuple[int, int] | None = None
    wait: float | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> BatchSpec:
        """Check a ``run.batch`` entry of an experiment file and return its spec."""
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise ValueError(
                "run.batch: one batch scheduler as {kind: {settings}}, kind one of "
                f"{', '.join(BATCH_KINDS)}; got {entry!r}"
            )
        ((kind, settings),) = entry.items()
        kind = str(kind).lower()
        if kind not in BATCH_KINDS:
            raise ValueError(
                f"run.batch: unknown batch scheduler {kind!r} (known: {', '.join(BATCH_KINDS)})"
            )
        where = f"run.batch.{kind}"
        if settings is not None and not isinstance(settings, Mapping):
            raise ValueError(f"{where}: the settings are a mapping, not {settings!r}")
        settings = dict(settings or {})
        jobs = settings.pop("jobs", 1)
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
            raise ValueError(f"{where}: jobs must be a whole number >= 0, not {jobs!r}")
        adapt = settings.pop("adapt", None)
        if adapt is not None:
            if isinstance(adapt, Mapping):
                adapt = (adapt.get("minimum_jobs", 0), adapt.get("maximum_jobs"))
            lo, hi = [*adapt, None, None][:2] if isinstance(adapt, list | tuple) else (None, None)
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)) or not (
                0 <= lo <= hi and hi >= 1
            ):
                raise ValueError(
                    f"{where}: adapt must be [minimum_jobs, maximum_jobs] with "
                    f"0 <= minimum <= maximum, maximum >= 1; not {adapt!r}"
                )
            adapt = (int(lo), int(hi))
        wait = settings.pop("wait", None)
        if wait is not None and (
            isinstance(wait, bool) or not isinstance(wait, int | float) or wait <= 0
        ):
            raise ValueError(f"{where}: wait must be a number of seconds > 0, not {wait!r}")
        known = _known_settings(kind)
        if known is not None:
            for key in settings:
                if key not in known:
                    near = difflib.get_close_matches(key, sorted(known), n=1)
                    hint = f" (did you mean {near[0]!r}?)" if near else ""
                    raise ValueError(f"{where}: unknown setting {key!r}{hint}")
        return cls(
            kind,
            int(jobs),
            adapt,
            None if wait is None else float(wait),
            settings,
        )

    def cluster_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the dask-jobqueue class, vocloud's defaults filled in.

        Examples
        --------
        >>> kw = BatchSpec("slurm", options={"cores": 4, "memory": "8GB"}).cluster_kwargs()
        >>> kw["processes"], kw["cores"]
        (4, 4)
        >>> any("MALLOC_TRIM_THRESHOLD_" in line for line in kw["job_script_prologue"])
        True
        """
        kw = dict(self.options)
        cores = kw.get("cores")
        if cores is not None and "processes" not in kw:
            kw["processes"] = max(1, int(cores))  # one single-threaded worker per core
        prologue = list(kw.get("job_script_prologue") or [])
        exported = {line.split("=", 1)[0].split()[-1] for line in prologue if "=" in line}
        prologue += [f"export {k}={v}" for k, v in WORKER_MALLOC_ENV.items() if k not in exported]
        kw["job_script_prologue"] = prologue
        return kw


def _cluster_class(kind: str) -> type:
    module, name = BATCH_KINDS[kind]
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"run.batch.{kind} needs dask-jobqueue: pip install 'vocloud[hpc]' "
            "(or pip install dask-jobqueue)"
        ) from None
    return getattr(mod, name)


def _known_settings(kind: str) -> set[str] | None:
    """Parameter names of the dask-jobqueue class and its job class (None: not installed)."""
    try:
        cls = _cluster_class(kind)
    except ImportError:
        return None
    names: set[str] = set()
    for c in (cls, cls.job_cls):
        for klass in inspect.getmro(c):
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            for p in inspect.signature(init).parameters.values():
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self":
                    names.add(p.name)
    return names - {"scheduler", "job_cls", "loop", "asynchronous"}


def batch_cluster(spec: BatchSpec | Mapping[str, Any]) -> Any:
    """Start a dask-jobqueue cluster from a spec and submit its jobs.

    Parameters
    ----------
    spec : BatchSpec or dict
        The spec, or the ``run.batch`` entry of an experiment file.

    Returns
    -------
    dask_jobqueue.JobQueueCluster
        Started, with ``jobs`` jobs asked for (or adaptive). Close it when done (it cancels the
        jobs); :func:`vocloud.run.cluster.get_client` does that for you.

    Examples
    --------
    With ``jobs: 0`` nothing is submitted, so the job script can be checked on any machine
    (the scheduler on loopback):

    >>> cluster = batch_cluster({"slurm": {"jobs": 0, "cores": 1, "memory": "2GB",
    ...     "scheduler_options": {"host": "127.0.0.1", "dashboard_address": None}}})
    >>> for line in cluster.job_script().splitlines():
    ...     if line.startswith("#SBATCH"):
    ...         print(line)
    #SBATCH -J dask-worker
    #SBATCH -n 1
    #SBATCH --cpus-per-task=1
    #SBATCH --mem=2G
    #SBATCH -t 00:30:00
    >>> cluster.close()

    Submitting jobs needs a SLURM controller (``sbatch``; the HPC tier, ``make test-hpc``):

    >>> cluster = batch_cluster({"slurm": {"jobs": 2, "cores": 1, "memory": "2GB"}})  # doctest: +SKIP
    """
    if not isinstance(spec, BatchSpec):
        spec = BatchSpec.from_config(spec)
    cls = _cluster_class(spec.kind)
    cluster = cls(**spec.cluster_kwargs())
    try:
        if spec.adapt is not None:
            cluster.adapt(minimum_jobs=spec.adapt[0], maximum_jobs=spec.adapt[1])
        elif spec.jobs:
            cluster.scale(jobs=spec.jobs)
    except Exception:
        cluster.close()
        raise
    return cluster


def job_states(cluster: Any, kind: str) -> list[str]:
    """``"<job id> <state> (<reason>)"`` of the cluster's batch jobs, as the scheduler says.

    SLURM is asked with ``squeue``; for the other schedulers only the job ids are listed.
    """
    ids = [
        str(j.job_id)
        for j in getattr(cluster, "workers", {}).values()
        if getattr(j, "job_id", None)
    ]
    if not ids:
        return []
    if kind == "slurm":
        try:
            out = subprocess.run(
                ["squeue", "-h", "-j", ",".join(ids), "-o", "job %i: %T (%r)"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.split("\n")
            found = [line.strip() for line in out if line.strip()]
            if found:
                return found
        except (OSError, subprocess.SubprocessError):
            pass
    return [f"job {i}" for i in ids]


def wait_for_first_worker(client: Any, spec: BatchSpec, cluster: Any = None) -> None:
    """Wait ``spec.wait`` seconds for a worker; a clear error, naming the jobs, when none came."""
    if spec.wait is None:
        return
    try:
        client.wait_for_workers(1, timeout=spec.wait)
    except TimeoutError:
        states = job_states(cluster, spec.kind) if cluster is not None else []
        jobs = f": {'; '.join(states)}" if states else ""
        raise TimeoutError(
            f"run.batch.{spec.kind}: no Dask worker connected within {spec.wait:g} s; the "
            f"batch jobs are still queued or failed at start{jobs} (the job logs are in "
            "log_directory)"
        ) from None


def expected_workers(spec: BatchSpec) -> int:
    """Workers the spec's jobs give once all run (``jobs x processes``)."""
    kw = spec.cluster_kwargs()
    per_job = int(kw.get("processes") or max(1, round(math.sqrt(int(kw.get("cores") or 1)))))
    return per_job * (spec.adapt[1] if spec.adapt else spec.jobs)

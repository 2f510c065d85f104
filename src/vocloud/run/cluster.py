"""The one place that builds or finds a Dask cluster: a LocalCluster by default, an existing
``distributed.Client`` or a scheduler address when given, or batch jobs on an HPC scheduler
(SLURM, PBS, ... through dask-jobqueue, :mod:`vocloud.run.batch`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import dask
import psutil
from distributed import Client, LocalCluster

from vocloud.run.batch import BatchSpec, batch_cluster, wait_for_first_worker
from vocloud.run.workers import LOCAL_CLUSTER_CONFIG, WORKER_MALLOC_ENV

__all__ = ["WORKER_MALLOC_ENV", "default_cluster_kwargs", "get_client"]


def default_cluster_kwargs() -> dict[str, Any]:
    """LocalCluster settings for preprocessing: one single-threaded worker process per core.

    Reading FITS headers holds the GIL, so processes beat threads; BLAS inside each worker is
    single-threaded (distributed sets ``OMP_NUM_THREADS=1`` for its workers).
    """
    n = max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    mem = psutil.virtual_memory().total
    return {
        "n_workers": n,
        "threads_per_worker": 1,
        "processes": True,
        "memory_limit": int(mem * 0.8 / n),
        "host": "127.0.0.1",
    }


@contextlib.contextmanager
def get_client(
    scheduler: str | Client | None = None,
    *,
    quiet: bool = False,
    batch: Any = None,
    **cluster_kwargs: Any,
) -> Iterator[Client]:
    """Yield a client: the given one, one connected to ``scheduler``, or a new cluster's.

    Parameters
    ----------
    scheduler : str, Client or None
        ``None``: start a cluster (closed on exit); a ``tcp://host:port`` address: connect
        to that scheduler; a ``Client``: use it as is (never closed here).
    quiet : bool
        Do not print the dashboard link.
    batch : BatchSpec or dict, optional
        Without ``scheduler``: Dask workers as batch jobs (``{"slurm": {"jobs": 2, "cores": 8,
        ...}}``, see :mod:`vocloud.run.batch`) instead of a LocalCluster; the jobs end on exit.
    **cluster_kwargs
        Passed to ``LocalCluster`` over :func:`default_cluster_kwargs`.

    Examples
    --------
    >>> with get_client(n_workers=1, processes=False, dashboard_address=None, quiet=True) as c:
    ...     c.submit(sum, [1, 2]).result()
    3
    """
    if isinstance(scheduler, Client):
        if not quiet and scheduler.dashboard_link:
            print(f"Dask dashboard: {scheduler.dashboard_link}", flush=True)
        yield scheduler
        return
    spec = None
    if scheduler:
        client = Client(scheduler)
        cluster = None
    elif batch is not None:
        spec = batch if isinstance(batch, BatchSpec) else BatchSpec.from_config(batch)
        cluster = batch_cluster(spec)
        try:
            client = Client(cluster)
        except Exception:
            cluster.close()
            raise
        if not quiet:
            asked = f"adaptive {spec.adapt[0]}-{spec.adapt[1]}" if spec.adapt else spec.jobs
            print(
                f"vocloud: {asked} {spec.kind.upper()} jobs asked for; work starts as they run",
                flush=True,
            )
    else:
        kwargs = {**default_cluster_kwargs(), **cluster_kwargs}
        if kwargs.get("processes") is False:  # one process: no memory limit, in-process comms
            kwargs.pop("memory_limit", None)
            kwargs.pop("host", None)
        env = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC_ENV.items()}
        with dask.config.set({**env, **LOCAL_CLUSTER_CONFIG}):
            cluster = LocalCluster(**kwargs)
        client = Client(cluster)
    try:
        if spec is not None:
            wait_for_first_worker(client, spec, cluster)
        if not quiet and client.dashboard_link:
            print(f"Dask dashboard: {client.dashboard_link}", flush=True)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

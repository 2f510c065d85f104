"""What every Dask worker vocloud starts gets, on a LocalCluster (:mod:`vocloud.run.cluster`) and in
batch jobs (:mod:`vocloud.run.batch`) alike."""

from __future__ import annotations

__all__ = ["LOCAL_CLUSTER_CONFIG", "NO_WORKERS_TIMEOUT", "WORKER_MALLOC_ENV"]

#: glibc malloc settings for every worker vocloud starts: distributed's default
#: ``MALLOC_TRIM_THRESHOLD_=65536`` turns off glibc's adaptive mmap threshold, so each block-sized
#: numpy temporary is mmapped and page-faulted anew (the measured cost: docs/performance.md). Set
#: the same in ``distributed.nanny.pre-spawn-environ`` of your own clusters for the same speed.
WORKER_MALLOC_ENV = {
    "MALLOC_TRIM_THRESHOLD_": str(256 * 2**20),
    "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
}

#: Seconds a task may wait for a cluster with no running worker before it fails: longer than a
#: nanny takes to restart its worker, so that only workers gone for good end a run.
NO_WORKERS_TIMEOUT = 300.0

#: Dask settings of vocloud's LocalCluster. A preprocessing task keeps nothing in memory after
#: it: a worker that survived a memory spike (a file far larger than the others) but did not return
#: the memory to the OS would otherwise stay *paused* above 80 % of its limit and take no task.
#: A chunk task whose worker dies fails at once (``allowed-failures`` 0): the run computes it
#: again alone and bisects it to the spectrum that kills (:mod:`vocloud.run.experiment`); dask's
#: default of 3 more deaths per task made the nannies' rapid restarts stall (docs/performance.md).
#: A task that waits :data:`NO_WORKERS_TIMEOUT` seconds while the cluster has no running worker
#: (all gone, none restarted) fails with dask's ``NoWorkerError`` ("... waiting without any
#: running workers"): the run records it per chunk and ends with the error instead of waiting
#: for ever (dask's default: no timeout).
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.memory.pause": False,
    "distributed.scheduler.allowed-failures": 0,
    "distributed.scheduler.no-workers-timeout": f"{NO_WORKERS_TIMEOUT:g}s",
}

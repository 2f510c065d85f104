"""What every Dask worker vocloud starts gets, on a LocalCluster (:mod:`vocloud.run.cluster`) and in
batch jobs (:mod:`vocloud.run.batch`) alike."""

from __future__ import annotations

__all__ = ["WORKER_MALLOC_ENV"]

#: glibc malloc settings for every worker vocloud starts: distributed's default
#: ``MALLOC_TRIM_THRESHOLD_=65536`` turns off glibc's adaptive mmap threshold, so each block-sized
#: numpy temporary is mmapped and page-faulted anew (the measured cost: docs/performance.md). Set
#: the same in ``distributed.nanny.pre-spawn-environ`` of your own clusters for the same speed.
WORKER_MALLOC_ENV = {
    "MALLOC_TRIM_THRESHOLD_": str(256 * 2**20),
    "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
}

"""The per-server limit across the run: at most ``concurrency`` requests in flight per ``host:port``
for all tasks of a dask.distributed cluster together (a :class:`distributed.Semaphore` per server),
or per process outside a worker."""

from __future__ import annotations

import logging
import threading
from typing import Any

from distributed import Semaphore, get_worker
from distributed.core import Status
from distributed.worker import Worker

__all__ = ["SEMAPHORE_PREFIX", "server_slot"]

log = logging.getLogger(__name__)

#: Names of the cluster-wide semaphores: ``vocloud-fetch/<host>:<port>/<limit>``.
SEMAPHORE_PREFIX = "vocloud-fetch"
_slots_lock = threading.Lock()
_local_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_cluster_slots: dict[tuple[int, str], Any] = {}
_warned = False


def _current_worker() -> Any | None:
    """The dask.distributed worker running this code, or None outside a worker."""
    try:
        return get_worker()
    except ValueError:
        pass
    # A thread the task started itself does not see the task's worker; any running worker of
    # this process talks to the same scheduler.
    for w in list(Worker._instances):
        if w.status == Status.running:
            return w
    return None


def _cluster_semaphore(server: str, limit: int) -> Any | None:
    """The cluster-wide semaphore of ``server`` (made once per worker process), or None."""
    worker = _current_worker()
    if worker is None:
        return None
    name = f"{SEMAPHORE_PREFIX}/{server}/{limit}"
    key = (id(worker), name)
    sem = _cluster_slots.get(key)
    if sem is None:
        with _slots_lock:
            sem = _cluster_slots.get(key)
            if sem is None:
                sem = Semaphore(
                    max_leases=limit, name=name, scheduler_rpc=worker.scheduler, loop=worker.loop
                )
                sem.register()
                _cluster_slots[key] = sem
    return sem


def _local_semaphore(server: str, limit: int) -> threading.BoundedSemaphore:
    key = (server, limit)
    sem = _local_slots.get(key)
    if sem is None:
        with _slots_lock:
            sem = _local_slots.setdefault(key, threading.BoundedSemaphore(limit))
    return sem


class server_slot:
    """Holds one of the ``limit`` request slots of ``server`` for the length of a ``with``.

    Inside a dask.distributed worker the slot is a lease of a :class:`distributed.Semaphore`
    named after the server, shared by every task of the cluster; elsewhere (or when the
    scheduler cannot be asked) it is a semaphore of this process.
    """

    __slots__ = ("_cluster", "_local", "limit", "server")

    def __init__(self, server: str, limit: int) -> None:
        self.server = server
        self.limit = limit
        self._cluster: Any | None = None
        self._local: threading.BoundedSemaphore | None = None

    def __enter__(self) -> None:
        global _warned
        try:
            sem = _cluster_semaphore(self.server, self.limit)
            if sem is not None:
                sem.acquire()
                self._cluster = sem
                return
        except Exception as exc:
            if not _warned:
                _warned = True
                log.warning(
                    "the per-server download limit of the cluster is not available (%s: %s); "
                    "limiting the downloads of this process only",
                    type(exc).__name__,
                    exc,
                )
        self._local = _local_semaphore(self.server, self.limit)
        self._local.acquire()

    def __exit__(self, *exc: object) -> None:
        if self._cluster is not None:
            sem, self._cluster = self._cluster, None
            try:
                sem.release()
            except Exception as exc:  # the lease times out on the scheduler by itself
                log.warning("cannot release a download slot of %s: %s", self.server, exc)
        elif self._local is not None:
            local, self._local = self._local, None
            local.release()

"""The chunk tasks of one run on a Dask cluster: submit, collect as they complete, and find the
spectra that kill workers by computing the chunks that did alone, in halves."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from distributed import Client, KilledWorker, as_completed
from distributed import progress as show_progress

from vocloud.run.inputs import TaskInputs
from vocloud.run.tasks import compute_block, retry_rows, run_chunk
from vocloud.run.workers import NO_WORKERS_TIMEOUT
from vocloud.store import (
    CHUNK_VARIABLES,
    STATUS_FAILED,
    STATUS_OK,
    ChunkData,
    FeatureStore,
    new_chunk,
)


def _reason(exc: BaseException | None) -> str:
    """``"NoWorkerError: Attempted to run task ... waiting without any running workers."``: the
    exception's type and message (its repr shows only its arguments)."""
    return f"{type(exc).__name__}: {exc}"


class ChunkRun:
    """The chunk tasks of one run on a cluster, and the search for the spectra that kill workers.

    A chunk task whose workers die (:class:`distributed.KilledWorker`: a file that takes more
    memory than a worker has, a crash in a library) is computed again once every other task
    is done, alone on the cluster (a task that merely ran beside the culprit on a dying worker
    is blamed too, and succeeds alone), and when it dies again in halves, one at a time, and so
    on, until a task of one spectrum kills its worker twice: that spectrum is recorded failed
    ("its worker died reading it ...") and the rest of the chunk is written (by the client).
    """

    def __init__(
        self,
        client: Client,
        st: FeatureStore,
        key: str,
        task: TaskInputs,
        n_wavelengths: int,
        say: Callable[..., None],
    ) -> None:
        self.client, self.st, self.key, self.task = client, st, key, task
        self.m, self.say = n_wavelengths, say
        self.results: list[dict[str, int]] = []
        self.errors: list[str] = []

    def run(
        self, plan: dict[int, np.ndarray], retrying: bool, progress: bool
    ) -> list[dict[str, int]]:
        path = str(self.st.path)
        futures = []
        chunk_of: dict[str, int] = {}
        for i, rows in plan.items():
            if retrying:
                fut = self.client.submit(
                    retry_rows,
                    path,
                    i,
                    rows.tolist(),
                    self.task.block(rows),
                    pure=False,
                    key=f"vocloud-retry-{self.key[:12]}-{i}-{uuid.uuid4().hex[:8]}",
                )
            else:
                fut = self.client.submit(
                    run_chunk,
                    path,
                    i,
                    int(rows[0]),
                    self.task.block(rows),
                    pure=False,
                    key=f"vocloud-chunk-{self.key[:12]}-{i}",
                )
            chunk_of[fut.key] = i
            futures.append(fut)
        if progress:
            show_progress(futures)
        killed: list[int] = []
        pending = as_completed(futures)
        del futures
        for fut in pending:
            i = chunk_of[fut.key]
            if fut.status == "finished":
                self.results.append(fut.result())
            elif isinstance(fut.exception(), KilledWorker):
                killed.append(i)
            else:
                self.errors.append(f"chunk task {fut.key}: {_reason(fut.exception())}")
            # forgotten by the scheduler at once: a result held by a worker that dies later
            # would be computed again (and its chunk written again)
            fut.release()
        for i in sorted(killed):
            self._alone(i, plan[i])
        if self.errors:
            raise RuntimeError(
                f"{len(self.errors)} chunk tasks failed; finished chunks are kept in "
                f"{self.st.path} and a rerun resumes from them. First: {self.errors[0]}"
            )
        return self.results

    def _result(self, fut: Any, i: int) -> Any:
        """``fut.result()``, but an error instead of a wait for ever when the cluster has had no
        worker that takes tasks (none, or all paused) for :data:`NO_WORKERS_TIMEOUT` seconds,
        also on a cluster vocloud did not start (whose scheduler may have no
        ``no-workers-timeout``, :data:`vocloud.run.workers.LOCAL_CLUSTER_CONFIG`)."""
        idle_since: float | None = None
        while True:
            try:
                return fut.result(timeout=5)
            except TimeoutError:
                workers = self.client.scheduler_info().get("workers", {}).values()
                running = [w for w in workers if w.get("status", "running") == "running"]
                if running:
                    idle_since = None
                    continue
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > NO_WORKERS_TIMEOUT:
                    raise RuntimeError(
                        f"chunk {i}: the cluster has had no running worker for "
                        f"{NO_WORKERS_TIMEOUT:.0f} s while a part of it was computed alone"
                    ) from None

    def _alone(self, i: int, rows: np.ndarray) -> None:
        """Compute chunk ``i`` (``rows``) again, one task at a time, halving what kills."""
        self.say(f"vocloud: chunk {i} ({rows.size} spectra) killed its workers; computing it alone")
        parts: list[tuple[np.ndarray, ChunkData]] = []
        todo: list[tuple[np.ndarray, bool]] = [(rows, False)]  # (rows, blamed once already)
        while todo:
            part, blamed = todo.pop()
            fut = self.client.submit(
                compute_block,
                self.task.block(part),
                pure=False,
                key=f"vocloud-part-{self.key[:12]}-{i}-{uuid.uuid4().hex[:8]}",
            )
            try:
                parts.append((part, self._result(fut, i)))
                fut.release()
            except KilledWorker as exc:
                if part.size > 1:
                    halves = np.array_split(part, 2)
                    todo.extend((h, False) for h in reversed(halves))  # first half first
                    continue
                if not blamed:
                    # once more before it is recorded: a task given to a worker that was
                    # already dying is blamed without having run
                    todo.append((part, True))
                    continue
                reason = str(exc).split(". ")[0]
                data = new_chunk(1, self.m, weights=self.task.params.weights)
                data.columns["status"][:] = STATUS_FAILED
                data.columns["error"][:] = f"its worker died reading it ({reason})"
                self.say(f"vocloud: {self.task.paths[int(part[0])]}: its worker died reading it")
                parts.append((part, data))
            except Exception as exc:
                self.errors.append(f"chunk task {fut.key}: {_reason(exc)}")
                return
        every = np.concatenate([r for r, _ in parts])
        order = np.argsort(every, kind="stable")
        whole = ChunkData(
            features=np.concatenate([d.features for _, d in parts])[order],
            columns={
                name: np.concatenate([d.columns[name] for _, d in parts])[order]
                for name in CHUNK_VARIABLES
            },
            weight=(
                np.concatenate([d.weight for _, d in parts])[order]
                if self.task.params.weights
                else None
            ),
        )
        FeatureStore.write_rows(self.st.path, i, every[order], whole)
        ok = int((whole.columns["status"] == STATUS_OK).sum())
        self.results.append(
            {
                "chunk": i,
                "n": int(every.size),
                "n_ok": ok,
                "n_failed": int(every.size) - ok,
                "n_transient": int(whole.columns["transient"].sum()),
            }
        )

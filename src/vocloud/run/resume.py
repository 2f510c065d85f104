"""One run's work on a store: which store to compute into (a new or resumed ``.partial``, or a
retry of a complete store's transient failures), which of its chunks, and the commit."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from distributed import Client

from vocloud.preprocess import PreprocessParams
from vocloud.run.execute import ChunkRun
from vocloud.run.inputs import TaskInputs
from vocloud.store import ExperimentFolder, FeatureStore, is_complete, utc_now


@dataclass(frozen=True, eq=False)
class StoreRun:
    """The store of one cache key, as a run computes it (under the store's lock).

    :meth:`store_to_compute` picks the store: None when the complete store is reused as it is,
    else a copy of it to retry the spectra whose download failed for a transient reason, a retry
    or a ``.partial`` store cut short (resumed), or a new ``.partial`` store. :meth:`compute`
    computes its chunks not done yet and commits it; :meth:`record` makes it the experiment's
    current store.

    Parameters
    ----------
    folder : ExperimentFolder
        The experiment's folder (the one owner of the store paths).
    name : str
        The experiment's name, written to the pointer file.
    key : str
        The cache key of the spectra and parameters.
    spectra : pandas.DataFrame
        The spectra list.
    params : PreprocessParams
        The preprocessing parameters.
    block_size : int
        Spectra per task and per chunk of a new store.
    attrs : dict
        The provenance attributes of a new store.
    say : callable
        Prints what happens (or nothing).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> spectra = pd.DataFrame({"id": ["a", "b", "c"], "access_url": ["a.fits", "b.fits", "c.fits"]})
    >>> folder = ExperimentFolder(Path(tempfile.mkdtemp()) / "exp")
    >>> run = StoreRun(folder, "exp", "0" * 16, spectra, PreprocessParams(), 2, {}, print)
    >>> st = run.store_to_compute()  # no store yet: a new .partial one
    >>> st.path.name
    'features-0000000000000000.zarr.partial'
    >>> {i: rows.tolist() for i, rows in run.plan(st).items()}  # chunk -> rows its task computes
    {0: [0, 1], 1: [2]}
    """

    folder: ExperimentFolder
    name: str
    key: str
    spectra: pd.DataFrame
    params: PreprocessParams
    block_size: int
    attrs: dict[str, Any]
    say: Callable[..., None]

    @property
    def final(self) -> Path:
        """Where the complete store is (and is committed to)."""
        return self.folder.store_path(self.key)

    def store_to_compute(self) -> FeatureStore | None:
        """The store to compute into; None when the complete store is there, nothing to retry."""
        if is_complete(self.final):
            return self._retry_store()
        return self._partial_store()

    def _partial_store(self) -> FeatureStore:
        """The ``.partial`` store of the key to resume, when it checks out, else a new one."""
        spectra = self.spectra
        grid = self.params.grid()
        st, why = self.folder.open_partial(
            self.key,
            n_spectra=len(spectra),
            n_wavelengths=len(grid),
            weights=self.params.weights,
        )
        if st is not None:
            return st
        if why:
            self.say(
                f"vocloud: {self.folder.partial_path(self.key)} does not check out ({why}): "
                "made anew"
            )
        return self.folder.create_partial(
            self.key,
            ids=spectra["id"].to_numpy(dtype=object),
            paths=spectra.get("path", spectra["access_url"]).to_numpy(dtype=object),
            grid=grid,
            chunk_size=self.block_size,
            attrs={**self.attrs, "created": utc_now()},
            grid_attrs={"medium": self.params.to_dict().get("grid", {}).get("medium", "air")},
            weights=self.params.weights,
        )

    def _retry_store(self) -> FeatureStore | None:
        """For a rerun of a complete store: the store to retry its transient failures in.

        A retry cut short is resumed; else, when the complete store has spectra whose download
        failed for a transient reason, a copy of it (hard links) is made to retry them in. None
        when there is nothing to retry.
        """
        st, _ = self.folder.open_partial(
            self.key,
            n_spectra=len(self.spectra),
            n_wavelengths=len(self.params.grid()),
            retrying=True,
            weights=self.params.weights,
        )
        if st is not None:
            self.say(f"vocloud: resuming the retry of failed downloads in {st.path}")
            return st
        complete = FeatureStore(self.final)
        rows = complete.transient_rows()
        if not rows.size:
            return None
        return complete.clone_for_retry(self.folder.partial_path(self.key), rows)

    def plan(self, st: FeatureStore) -> dict[int, np.ndarray]:
        """The rows each task computes, by chunk: a whole chunk not done yet, or in a retry its
        transient failures (a chunk with none left is marked done)."""
        retrying = bool(st.attrs.get("retrying"))
        done = st.done_chunks()
        if done.any() and not retrying:
            self.say(f"vocloud: resuming {st.path}: {int(done.sum())} of {st.n_chunks} chunks done")
        plan: dict[int, np.ndarray] = {}
        for i in np.flatnonzero(~done).tolist():
            rows = st.rows_to_retry(i) if retrying else np.arange(*st.chunk_bounds(i))
            if rows.size:
                plan[i] = rows
            else:  # a retry cut short after this chunk's rows were written
                FeatureStore.mark_done(st.path, i)
        return plan

    def compute(
        self,
        st: FeatureStore,
        connect: Callable[[], Client],
        inputs: Callable[[], TaskInputs],
        progress: bool,
        t0: float,
    ) -> dict[str, Any]:
        """Compute the chunks of ``st`` not done yet (a retry: their transient failures), commit
        it as :attr:`final` and record it; returns the run's record (``Experiment.last_run``).

        ``connect`` gives the client and ``inputs`` the task inputs, each asked for only when
        there is a chunk to compute.
        """
        final = self.final
        retrying = bool(st.attrs.get("retrying"))
        plan = self.plan(st)
        results: list[dict[str, int]] = []
        if plan:
            if retrying:
                n_retry = sum(int(r.size) for r in plan.values())
                self.say(
                    f"vocloud: retrying {n_retry} spectra whose download failed for a transient "
                    f"reason, in {len(plan)} tasks -> {final}"
                )
            else:
                self.say(
                    f"vocloud: preprocessing {len(self.spectra)} spectra in {len(plan)} tasks "
                    f"-> {final}"
                )
            results = ChunkRun(
                connect(), st, self.key, inputs(), len(self.params.grid()), self.say
            ).run(plan, retrying, progress)
        st = st.finish(final, {"retried" if retrying else "finished": utc_now()})
        self.record()
        summary = st.summary()
        retried = {
            "retried": sum(r.get("n", 0) for r in results) if retrying else 0,
            "retried_ok": sum(r.get("n_ok", 0) for r in results) if retrying else 0,
        }
        retried["retried_failed"] = retried["retried"] - retried["retried_ok"]
        record = {
            "cached": False,
            "chunks_computed": len(plan),
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
            self.say(
                f"vocloud: retried {retried['retried']} spectra: {retried['retried_ok']} now ok, "
                f"{retried['retried_failed']} still fail{again}"
            )
        self.say(
            f"vocloud: {summary['n_ok']} ok, {summary['n_failed']} failed of "
            f"{summary['n_spectra']} in {record['seconds']:.1f} s -> {final}"
        )
        return record

    def record(self) -> None:
        """Make the complete store the experiment's current store in its pointer file."""
        self.folder.record_store(self.name, self.final, self.params.to_dict(), utc_now())

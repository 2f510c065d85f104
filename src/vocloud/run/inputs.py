"""What the chunk tasks are given: per-spectrum lists from the spectra list and the parameters."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vocloud.fetch import FetchOptions
from vocloud.io.read import MAX_FILE_SIZE
from vocloud.preprocess import PreprocessParams
from vocloud.spectralist import duplicate_reasons


@dataclass(frozen=True)
class TaskInputs:
    """The per-spectrum lists and the parameters the chunk tasks are given.

    The experiment builds one for its whole spectra list (:meth:`of`); each task is sent
    :meth:`block`, the same object cut to its rows, so a task pickles only its own spectra. The
    parameters are the frozen objects, parsed once by the experiment
    (:class:`~vocloud.preprocess.PreprocessParams`: units already converted to Angstrom floats;
    :class:`~vocloud.fetch.FetchOptions`): a task uses them as they are, parsing nothing again.
    A new per-task setting is a field here, read by :func:`vocloud.run.tasks.compute_block`.

    Examples
    --------
    >>> inputs = TaskInputs.of_files(["a.fits", "b.fits", "c.fits"], [None, None, None], {})
    >>> block = inputs.block(np.array([1, 2]))
    >>> block.paths, block.params is inputs.params
    (['b.fits', 'c.fits'], True)
    """

    paths: list[str]
    skip: list[str | None]
    datalinks: list[str | None] | None
    rv: list[Any] | None
    params: PreprocessParams
    fetch_options: FetchOptions
    max_size: int

    @classmethod
    def of(
        cls,
        spectra: pd.DataFrame,
        params: PreprocessParams,
        fetch_options: FetchOptions,
        max_size: int,
    ) -> TaskInputs:
        """The task inputs of a spectra list: the one place both the lazy graph
        (:func:`vocloud.run.graph.lazy_features`) and a run take them from."""
        return cls(
            paths=spectra["access_url"].astype(str).tolist(),
            skip=duplicate_reasons(spectra).tolist(),
            datalinks=_datalink_column(spectra),
            rv=_rv_column(spectra, params),  # issue #8: rest frame from the spectra list
            params=params,
            fetch_options=fetch_options,
            max_size=max_size,
        )

    @classmethod
    def of_files(
        cls,
        paths: Sequence[str],
        skip: Sequence[str | None],
        params: dict[str, Any] | PreprocessParams | None = None,
        fetch_options: dict[str, Any] | FetchOptions | None = None,
        datalinks: Sequence[str | None] | None = None,
        rv: Sequence[Any] | None = None,
        max_size: int = MAX_FILE_SIZE,
    ) -> TaskInputs:
        """The inputs of one block given as lists, the parameters parsed here (a dict, or the
        frozen object as it is): for calling the tasks outside an experiment."""
        return cls(
            paths=list(paths),
            skip=list(skip),
            datalinks=None if datalinks is None else list(datalinks),
            rv=None if rv is None else list(rv),
            params=(
                params
                if isinstance(params, PreprocessParams)
                else PreprocessParams.from_dict(params or {})
            ),
            fetch_options=FetchOptions.from_dict(fetch_options),
            max_size=int(max_size),
        )

    def block(self, rows: np.ndarray) -> TaskInputs:
        """The inputs of the task that computes global ``rows``: their lists, the same parameters."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and rows[-1] - rows[0] + 1 == rows.size:  # a range: slices are faster
            sel = slice(int(rows[0]), int(rows[-1]) + 1)
            paths, skip = self.paths[sel], self.skip[sel]
            links = None if self.datalinks is None else self.datalinks[sel]
            rv = None if self.rv is None else self.rv[sel]
        else:
            paths = [self.paths[r] for r in rows]
            skip = [self.skip[r] for r in rows]
            links = None if self.datalinks is None else [self.datalinks[r] for r in rows]
            rv = None if self.rv is None else [self.rv[r] for r in rows]
        return dataclasses.replace(self, paths=paths, skip=skip, datalinks=links, rv=rv)


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

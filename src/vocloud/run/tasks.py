"""The work of one task: read a block of spectra, preprocess it, and (for a run) write it to the store.

These are plain functions on a block of spectra; the Dask graph of an experiment is built from them.
"""

from __future__ import annotations

import math
import mmap
import os
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from vocloud.fetch import FetchOptions, fetch_many
from vocloud.fetch.datalink import fetch_spectra
from vocloud.io import Spectrum, SpectrumFormatError, read_spectrum
from vocloud.io.read import MAX_FILE_SIZE, file_content, read_many, split_address
from vocloud.preprocess import PreprocessParams, preprocess_block
from vocloud.preprocess.medium import spectrum_medium
from vocloud.run.inputs import TaskInputs
from vocloud.store import STATUS_FAILED, STATUS_OK, ChunkData, FeatureStore, new_chunk

# Header keywords that give the per-spectrum variables of the store, first match wins.
_RA_KEYS = ("RA", "RA_OBJ", "PLUG_RA", "SSA_RA", "S_RA")
_DEC_KEYS = ("DEC", "DEC_OBJ", "PLUG_DEC", "SSA_DEC", "S_DEC")
_POS_KEYS = ("SSA_LOCATION", "LOCATION", "S_REGION_CENTER")
_TARGET_KEYS = ("OBJECT", "OBJNAME", "DESIG", "SSA_TARGNAME", "TARGET")


def _first(meta: dict[str, Any], keys: Sequence[str]) -> Any:
    for k in keys:
        v = meta.get(k)
        if v is not None and v != "":
            return v
    return None


def _as_float(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


#: Files opened ahead of the parser, with a read-ahead hint to the kernel (posix_fadvise
#: WILLNEED): on a cold page cache the disk then works while the parser does. Threads reading
#: ahead were slower (GIL hand-offs on hot files). Figures: docs/performance.md, "Preprocessing".
READ_AHEAD = 16
_HAS_FADVISE = hasattr(os, "posix_fadvise")
#: A file of many spectra at least this large is mapped, not read: a block's addresses touch only
#: their rows of its HDUs (an SDSS spPlate's 640 fibres, a DESI coadd's resolution HDUs), so the
#: rest is never copied. Figures: docs/performance.md, "Files of many spectra mapped".
MAP_MIN_SIZE = 1 << 20


def _open_ahead(path: str) -> int | OSError:
    """Open ``path`` and ask the kernel to start reading it; the fd (or the error) is kept."""
    try:
        fd = os.open(split_address(path)[0], os.O_RDONLY)
    except OSError as exc:
        return exc
    if _HAS_FADVISE:
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
    return fd


def _read_fd(fd: int | OSError, max_size: int, many: bool = False) -> bytes | mmap.mmap:
    """The file's bytes; a file of ``many`` spectra of :data:`MAP_MIN_SIZE` or more mapped
    read-only instead (only :func:`vocloud.io.read.read_many` takes the map)."""
    if isinstance(fd, OSError):
        raise fd
    with open(fd, "rb", closefd=True) as f:
        return file_content(f, "", max_size, map_from=MAP_MIN_SIZE if many else None)


def _fetch_remote(
    paths: Sequence[str],
    skip: Sequence[str | None],
    fetch_options: FetchOptions | dict[str, Any] | None,
    datalinks: Sequence[str | None] | None = None,
    band: tuple[float, float] | None = None,
) -> dict[int, bytes | BaseException]:
    """Download the remote entries of a block, concurrently, through the cache.

    Entries with a DataLink URL go through :func:`vocloud.fetch.datalink.fetch_spectra` (batched
    DataLink resolution, then SODA cutouts or whole files); other ``scheme://`` entries are
    downloaded as they are.
    """
    opts = (
        fetch_options
        if isinstance(fetch_options, FetchOptions)  # parsed once, by the experiment
        else FetchOptions.from_dict(fetch_options)
    )
    out: dict[int, bytes | BaseException] = {}
    linked: list[int] = []
    if datalinks is not None:
        linked = [i for i, (d, r) in enumerate(zip(datalinks, skip)) if d and not r]
    if linked:
        got = fetch_spectra(
            [datalinks[i] for i in linked],  # type: ignore[index]
            [paths[i] for i in linked],
            opts,
            band=band,
        )
        out.update(zip(linked, got))
    remote = [
        i for i, (p, r) in enumerate(zip(paths, skip)) if not r and "://" in p and i not in out
    ]
    if remote:
        out.update(zip(remote, fetch_many([paths[i] for i in remote], opts)))
    return out


class DownloadFailed(ValueError):
    """A remote spectrum that could not be fetched; ``transient`` as :class:`vocloud.fetch.FetchError`.

    Examples
    --------
    >>> e = DownloadFailed("HTTP 503 Service Unavailable (after 4 attempts)", transient=True)
    >>> str(e), e.transient
    ('HTTP 503 Service Unavailable (after 4 attempts)', True)
    """

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient

    def __reduce__(self) -> tuple[Any, ...]:
        return (_download_failed, (self.reason, self.transient))


def _download_failed(reason: str, transient: bool) -> DownloadFailed:
    return DownloadFailed(reason, transient=transient)


def _same_file(paths: Sequence[str], skip: Sequence[str | None], i: int) -> bool:
    """Entry ``i + 1`` is another spectrum of entry ``i``'s file."""
    return not skip[i + 1] and split_address(paths[i + 1])[0] == split_address(paths[i])[0]


def _read_group(
    raw: bytes | mmap.mmap,
    paths: Sequence[str],
    skip: Sequence[str | None],
    fetched: dict[int, Any],
    i: int,
    max_size: int = MAX_FILE_SIZE,
) -> dict[int, Spectrum | BaseException]:
    """The run of entries from ``i`` on that address one local file, read from one parse."""
    base = split_address(paths[i])[0]
    rows = [i]
    while (
        rows[-1] + 1 < len(paths)
        and rows[-1] + 1 not in fetched
        and not skip[rows[-1] + 1]
        and split_address(paths[rows[-1] + 1])[0] == base
    ):
        rows.append(rows[-1] + 1)
    names = [paths[j] for j in rows]
    try:
        got = read_many(raw, names, [split_address(n)[1] for n in names], max_size=max_size)
    except Exception as exc:  # never let one file abort an archive run
        got = [SpectrumFormatError(n, f"cannot read: {type(exc).__name__}: {exc}") for n in names]
    return dict(zip(rows, got))


def read_block(
    paths: Sequence[str],
    skip: Sequence[str | None],
    fetch_options: FetchOptions | dict[str, Any] | None = None,
    datalinks: Sequence[str | None] | None = None,
    band: tuple[float, float] | None = None,
    max_size: int = MAX_FILE_SIZE,
) -> list[Spectrum | BaseException]:
    """Read each file; a file that cannot be read gives its exception in its place.

    ``skip[i]`` (a reason, e.g. a duplicate id) marks a file that is not read at all. Entries of
    one file (``file#TARGETID=<id>``, listed one after the other) share one read. Local files
    are opened :data:`READ_AHEAD` ahead of the one being parsed, with a read-ahead hint to the
    kernel; remote ones (http, https, ftp) are fetched first, concurrently and through the raw
    cache, with ``fetch_options`` (a :class:`vocloud.fetch.FetchOptions`, or its fields as a dict). Entries
    with a ``datalinks`` URL are resolved through DataLink; ``band`` (Angstrom) is the range a
    SODA cutout asks for. ``max_size`` bounds each file, as read (or downloaded) and after
    gunzip (:data:`vocloud.io.read.MAX_FILE_SIZE`).
    """
    fetched = _fetch_remote(paths, skip, fetch_options, datalinks, band)
    # files, not entries: the spectra of one file (``file#TARGETID=...``, listed together) share
    # one read
    todo: list[str] = []
    for i, (p, r) in enumerate(zip(paths, skip)):
        if not r and i not in fetched:
            base = split_address(p)[0]
            if not todo or todo[-1] != base:
                todo.append(base)
    window: deque[int | OSError] = deque(_open_ahead(p) for p in todo[: max(1, READ_AHEAD)])
    nxt = len(window)
    out: list[Spectrum | BaseException] = []
    last_base: str | None = None
    last_raw: bytes | mmap.mmap | Exception = b""
    group: dict[int, Spectrum | BaseException] = {}  # spectra of one file, parsed together
    try:
        for i, (path, reason) in enumerate(zip(paths, skip)):
            if reason:
                out.append(ValueError(reason))
                continue
            try:
                if i in fetched:
                    raw = fetched[i]
                    if isinstance(raw, BaseException):
                        out.append(
                            DownloadFailed(
                                getattr(raw, "reason", None) or str(raw),
                                transient=bool(getattr(raw, "transient", False)),
                            )
                        )
                        continue
                else:
                    base = split_address(path)[0]
                    if base != last_base:
                        fd = window.popleft()
                        if nxt < len(todo):
                            window.append(_open_ahead(todo[nxt]))
                            nxt += 1
                        last_base = base
                        try:
                            many = i + 1 < len(paths) and _same_file(paths, skip, i)
                            last_raw = _read_fd(fd, max_size, many)
                        except (OSError, SpectrumFormatError) as exc:
                            last_raw = exc
                    if isinstance(last_raw, Exception):
                        raise last_raw
                    raw = last_raw
                    if i not in group and i + 1 < len(paths) and _same_file(paths, skip, i):
                        group.update(_read_group(raw, paths, skip, fetched, i, max_size))
                    if i in group:
                        got = group.pop(i)
                        if isinstance(got, BaseException):
                            raise got
                        out.append(got)
                        continue
                out.append(
                    read_spectrum(raw, name=path, select=split_address(path)[1], max_size=max_size)
                )
            except SpectrumFormatError as exc:
                out.append(ValueError(exc.reason))
            except OSError as exc:
                out.append(ValueError(f"cannot read: {exc.strerror or exc}"))
            except Exception as exc:  # never let one file abort an archive run
                out.append(ValueError(f"cannot read: {type(exc).__name__}: {exc}"))
    finally:
        for fd in window:
            if isinstance(fd, int):
                os.close(fd)
    return out


def soda_band(params: PreprocessParams) -> tuple[float, float]:
    """The wavelength range (Angstrom) a SODA cutout asks for: the cutout, widened on each side
    by its half width, so that the continuum fit sees continuum on both sides of the line.

    Examples
    --------
    >>> soda_band(PreprocessParams.from_dict({"cutout": {"center": 6562.8, "half_width": 150}}))
    (6262.8, 6862.8)
    """
    c = params.cutout
    return (round(c.lo - c.half_width, 6), round(c.hi + c.half_width, 6))


def compute_chunk(
    paths: Sequence[str],
    skip: Sequence[str | None],
    params: dict[str, Any] | PreprocessParams,
    fetch_options: FetchOptions | dict[str, Any] | None = None,
    datalinks: Sequence[str | None] | None = None,
    rv: Sequence[Any] | None = None,
    max_size: int = MAX_FILE_SIZE,
) -> ChunkData:
    """Read and preprocess a block of files into the rows of the feature store.

    :func:`compute_block` with its inputs given as lists (:meth:`TaskInputs.of_files`).

    Parameters
    ----------
    paths : sequence of str
        Files to read.
    skip : sequence of str or None
        Per file, ``None`` or a reason to record it as failed without reading it.
    params : dict or PreprocessParams
        The preprocessing parameters.
    fetch_options : FetchOptions or dict, optional
        Options for remote entries: the experiment's :class:`vocloud.fetch.FetchOptions`, used as
        it is (or its fields as a dict).
    datalinks : sequence of str or None, optional
        Per file, a DataLink URL (``...?ID=...``) to resolve instead of reading ``paths[i]``.
    rv : sequence, optional
        Per file, the spectra list column ``preprocess.rv = "column:<name>"`` names.
    max_size : int
        Limit in bytes on each file, as read and after gunzip.

    Returns
    -------
    ChunkData
        As :func:`compute_block`.
    """
    return compute_block(
        TaskInputs.of_files(paths, skip, params, fetch_options, datalinks, rv, max_size)
    )


def compute_block(block: TaskInputs) -> ChunkData:
    """Read and preprocess one task's block of spectra into the rows of the feature store.

    Parameters
    ----------
    block : TaskInputs
        The block's per-spectrum lists and the frozen parameters, used as they are
        (:meth:`TaskInputs.block` of the experiment's inputs).

    Returns
    -------
    ChunkData
        ``features`` (n x m float32, NaN rows for failures) and the per-spectrum columns of
        :data:`vocloud.store.CHUNK_VARIABLES`; ``transient`` marks failed downloads that a
        rerun retries (see :attr:`vocloud.fetch.FetchError.transient`). With
        ``params.weights`` also ``weight``: the inverse variance of each feature value, NaN
        rows for failures and for spectra without an uncertainty.

    Examples
    --------
    >>> data = compute_block(TaskInputs.of_files(["missing.fits"], [None], {}))
    >>> int(data.columns["status"][0]), str(data.columns["error"][0])
    (2, 'cannot read: No such file or directory')
    """
    paths, params, rv = block.paths, block.params, block.rv
    spectra = read_block(
        paths, block.skip, block.fetch_options, block.datalinks, soda_band(params), block.max_size
    )
    result = preprocess_block(spectra, params, rv, weights=params.weights)
    features = np.asarray(result.features, dtype=np.float32)
    out = new_chunk(
        len(paths), features.shape[1] if features.ndim == 2 else 0, weights=params.weights
    )
    if out.weight is not None and result.weight is not None:  # None: no spectrum had ivar
        out.weight[:] = result.weight
    cols = out.columns
    cols["status"][:] = STATUS_OK
    cols["snr"][:] = np.asarray(result.snr, dtype="f4")
    if result.frame is not None:
        cols["rest_frame"][:] = np.asarray(result.frame, dtype=object)
    for i, err in enumerate(result.error):
        if err is not None:
            cols["status"][i] = STATUS_FAILED
            cols["error"][i] = str(err)
            s = spectra[i]
            cols["transient"][i] = isinstance(s, DownloadFailed) and s.transient
    for i, s in enumerate(spectra):
        if isinstance(s, Spectrum):
            ra, dec = _as_float(_first(s.meta, _RA_KEYS)), _as_float(_first(s.meta, _DEC_KEYS))
            if ra != ra:  # SDM VOTables (DataLink/SODA) give [ra, dec] pairs
                pair = _first(s.meta, _POS_KEYS)
                if isinstance(pair, list | tuple | np.ndarray) and len(pair) == 2:
                    ra, dec = _as_float(pair[0]), _as_float(pair[1])
            cols["s_ra"][i], cols["s_dec"][i] = ra, dec
            t = _first(s.meta, _TARGET_KEYS)
            cols["target"][i] = "" if t is None else str(t).strip()
            cols["layout"][i] = s.layout
            cols["medium"][i] = spectrum_medium(s.medium, params.spectra_medium)[1]
    features[cols["status"] != STATUS_OK] = np.nan
    if out.weight is not None:
        out.weight[cols["status"] != STATUS_OK] = np.nan
    return ChunkData(features=features, columns=cols, weight=out.weight)


def run_chunk(store_path: str, index: int, start: int, block: TaskInputs) -> dict[str, int]:
    """Compute chunk ``index`` of a store (its first row ``start``) from ``block`` and write it;
    returns ``{"chunk", "n_ok", "n_failed"}``."""
    data = compute_block(block)
    FeatureStore.write_chunk(store_path, index, start, data)
    ok = int((data.columns["status"] == STATUS_OK).sum())
    return {"chunk": index, "n_ok": ok, "n_failed": len(block.paths) - ok}


def retry_rows(
    store_path: str, index: int, rows: Sequence[int], block: TaskInputs
) -> dict[str, int]:
    """Compute some rows of chunk ``index`` again (``block.paths[i]`` is row ``rows[i]``) and
    write them in place; returns ``{"chunk", "n", "n_ok", "n_failed", "n_transient"}``.

    The other rows of the chunk are not recomputed and keep their values
    (:meth:`FeatureStore.write_rows`).
    """
    data = compute_block(block)
    FeatureStore.write_rows(store_path, index, np.asarray(rows, dtype=np.int64), data)
    ok = int((data.columns["status"] == STATUS_OK).sum())
    n = len(block.paths)
    return {
        "chunk": index,
        "n": n,
        "n_ok": ok,
        "n_failed": n - ok,
        "n_transient": int(data.columns["transient"].sum()),
    }

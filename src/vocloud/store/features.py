"""The Zarr feature store: its chunk schema, create, write chunk by chunk, check, finish, open.

Layout (Zarr v3 group, one per preprocessing cache key)::

    features    (spectrum, wavelength) float32   NaN rows for failed spectra
    weight      (spectrum, wavelength) float32   only with ``preprocess: {weights: true}``: the
                                                 inverse variance of each feature value; 0: a bad
                                                 pixel contributed; NaN: no uncertainty (or failed)
    wavelength  (wavelength)           float64   Angstrom (attrs: units, medium)
    id, path    (spectrum)             str       from the spectra list
    status      (spectrum)             int8      0 pending, 1 ok, 2 failed
    error       (spectrum)             str       "" when ok, else the reason
    transient   (spectrum)             bool      failed to download for a reason that may pass
                                                 (5xx, timeout, reset, truncated): a rerun retries it
    snr, s_ra, s_dec                   float     NaN when unknown
    target, layout                     str
    chunk_done  (chunk,)               bool      one Zarr chunk per element: set after a chunk is written

A store is written under ``<name>.partial`` and renamed to ``<name>`` once every chunk is done, so a
crash never leaves a half store that looks whole; a rerun resumes the ``.partial`` store.

A rerun of a complete store with transient failures retries them in a copy made of hard links
(:meth:`FeatureStore.clone_for_retry`): Zarr replaces a chunk file by writing a new file and
renaming it, so writing the copy never changes the complete store, which is replaced by the copy
once every retried chunk is written (:meth:`FeatureStore.finish`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr
from zarr.codecs import BloscCodec

STATUS_PENDING, STATUS_OK, STATUS_FAILED = 0, 1, 2
STATUS_MEANINGS = "pending ok failed"
PARTIAL_SUFFIX = ".partial"

# Blosc lz4 + bitshuffle: about twice zarr's default zstd in write and read speed, and smaller
# (docs/performance.md, "Zarr feature codec").
FEATURE_CODEC = BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")

#: The optional per-pixel variable (``preprocess: {weights: true}``): the inverse variance of
#: each feature value, laid out, chunked and compressed as ``features``.
WEIGHT = "weight"
WEIGHT_ATTRS: dict[str, Any] = {
    "long_name": "inverse variance of the feature value",
    "comment": (
        "1 / variance of features (after continuum division, degradation, resampling and "
        "scaling); 0: a bad pixel contributed; NaN: the spectrum has no uncertainty or failed"
    ),
}

#: Per-spectrum variables each chunk task writes, with their dtypes (``str``: variable-length
#: strings, ``object`` arrays in memory). The one statement of the chunk schema: the store,
#: the chunk tasks (:func:`new_chunk`) and the lazy graph (:func:`memory_dtype`) read it.
CHUNK_VARIABLES: dict[str, Any] = {
    "status": "i1",
    "error": str,
    "snr": "f4",
    "s_ra": "f8",
    "s_dec": "f8",
    "target": str,
    "layout": str,
    "transient": bool,
    "medium": str,  # the spectrum's original wavelength medium (issue #8)
    "rest_frame": str,  # its wavelengths' frame and the correction applied (issue #8)
}
#: What a row holds before it is written (and the Zarr fill value of each variable).
FILL_VALUES: dict[str, Any] = {
    "status": STATUS_PENDING,
    "error": "",
    "snr": np.nan,
    "s_ra": np.nan,
    "s_dec": np.nan,
    "target": "",
    "layout": "",
    "transient": False,
    "medium": "",
    "rest_frame": "",
}
_COORDS = ["id", "path", *CHUNK_VARIABLES]
#: Every array of a feature store: (dimension names) of its shape.
STORE_ARRAYS: dict[str, tuple[str, ...]] = {
    "wavelength": ("wavelength",),
    "features": ("spectrum", "wavelength"),
    "id": ("spectrum",),
    "path": ("spectrum",),
    **{name: ("spectrum",) for name in CHUNK_VARIABLES},
    "chunk_done": ("chunk",),
}


def memory_dtype(name: str) -> Any:
    """The numpy dtype of per-spectrum variable ``name`` in memory (strings as ``object``).

    Examples
    --------
    >>> memory_dtype("snr"), memory_dtype("error")
    ('f4', <class 'object'>)
    """
    dtype = CHUNK_VARIABLES.get(name, object)
    return object if dtype is str else dtype


def new_chunk(n: int, m: int, *, weights: bool = False) -> ChunkData:
    """A chunk of ``n`` rows of ``m`` features as the store holds it before it is written:
    NaN features (and NaN weights when ``weights``), ``status`` pending, every variable at its
    fill value.

    Examples
    --------
    >>> c = new_chunk(2, 3)
    >>> c.features.shape, c.columns["status"].tolist(), c.columns["error"].tolist()
    ((2, 3), [0, 0], ['', ''])
    >>> c.weight is None, new_chunk(2, 3, weights=True).weight.shape
    (True, (2, 3))
    """
    return ChunkData(
        features=np.full((n, m), np.nan, dtype="f4"),
        columns={
            name: np.full(n, FILL_VALUES[name], dtype=memory_dtype(name))
            for name in CHUNK_VARIABLES
        },
        weight=np.full((n, m), np.nan, dtype="f4") if weights else None,
    )


@functools.lru_cache(maxsize=128)
def _open_writable(path: str, metadata: bytes) -> zarr.Array:
    return zarr.open_array(path, mode="r+")


def _writable(path: str) -> zarr.Array:
    """An array opened for writing, kept per worker process while its metadata is the same.

    Opening a chunk's arrays was a third of a chunk write (docs/performance.md).
    The cache key is the array's ``zarr.json`` itself, so a store made anew at the same path with
    other metadata is opened anew, and one with the same metadata is written the same way.
    """
    with open(f"{path}/zarr.json", "rb") as f:
        return _open_writable(path, f.read())


def failure_category(reason: str) -> str:
    """Group failure reasons for counting: the text before the first ``:`` or ``(``, digits as ``N``.

    Examples
    --------
    >>> failure_category("truncated FITS: data needs 31680 bytes, file has 4000")
    'truncated FITS'
    >>> failure_category("does not cover the grid 6420-6710 A (covers 4000-5000 A)")
    'does not cover the grid N-N A'
    """
    head = re.split(r"[:(]", reason, maxsplit=1)[0].strip()
    return re.sub(r"\d+(?:\.\d+)?", "N", head) or reason


def _status_last(columns: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    return sorted(columns.items(), key=lambda kv: kv[0] == "status")


def _unshare(path: Path) -> None:
    """Make ``path`` a file of its own (a copy) when it is a hard link to another."""
    if path.stat().st_nlink <= 1:
        return
    tmp = path.with_name(f".{path.name}.unshare")
    shutil.copy2(path, tmp)
    os.replace(tmp, path)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # no hard links here (or another device): copy
        shutil.copy2(src, dst)


@dataclass
class ChunkData:
    """What one task computed for one chunk of the store (rows ``start:stop``): ``weight``
    (the rows' inverse variances, as ``features``) only for a store that keeps it."""

    features: np.ndarray
    columns: dict[str, np.ndarray]
    weight: np.ndarray | None = None


class FeatureStore:
    """A Zarr feature store on disk.

    Parameters
    ----------
    path : str or Path
        The store folder (``features-<key>.zarr`` or its ``.partial`` while being written).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> p = Path(tempfile.mkdtemp()) / "f.zarr"
    >>> st = FeatureStore.create(p, ids=["a", "b"], paths=["a.fits", "b.fits"],
    ...                          grid=np.array([1.0, 2.0]), chunk_size=2)
    >>> st.n_chunks, st.done_chunks().tolist()
    (1, [False])
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._group = zarr.open_group(str(self.path), mode="r")
        self.attrs: dict[str, Any] = dict(self._group.attrs)
        self.n_spectra = int(self.attrs["n_spectra"])
        self.chunk_size = int(self.attrs["chunk_size"])

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        ids: list[str] | np.ndarray,
        paths: list[str] | np.ndarray,
        grid: np.ndarray,
        chunk_size: int,
        attrs: dict[str, Any] | None = None,
        grid_attrs: dict[str, Any] | None = None,
        weights: bool = False,
    ) -> FeatureStore:
        """Create an empty store for ``len(ids)`` spectra on ``grid`` (Angstrom); with
        ``weights`` also the ``weight`` array (as ``features``: shape, chunks, codec)."""
        path = Path(path)
        if path.exists():
            shutil.rmtree(path)
        n, m = len(ids), len(grid)
        chunk_size = max(1, min(int(chunk_size), max(n, 1)))
        n_chunks = -(-n // chunk_size) if n else 0
        g = zarr.open_group(str(path), mode="w")
        spec, wave = ("spectrum",), ("wavelength",)
        for name in ("features", WEIGHT) if weights else ("features",):
            a = g.create_array(
                name,
                shape=(n, m),
                chunks=(chunk_size, m),
                dtype="f4",
                fill_value=np.nan,
                compressors=FEATURE_CODEC,
                dimension_names=spec + wave,
            )
            a.attrs.update(
                {
                    **(
                        WEIGHT_ATTRS
                        if name == WEIGHT
                        else {"long_name": "preprocessed flux on the experiment grid"}
                    ),
                    "coordinates": " ".join(_COORDS),
                }
            )
        w = g.create_array(
            "wavelength", shape=(m,), chunks=(max(m, 1),), dtype="f8", dimension_names=wave
        )
        w[:] = np.asarray(grid, dtype="f8")
        w.attrs.update({"units": "Angstrom", "long_name": "wavelength", **(grid_attrs or {})})
        for name, values in (("id", ids), ("path", paths)):
            a = g.create_array(
                name, shape=(n,), chunks=(chunk_size,), dtype=str, dimension_names=spec
            )
            if n:
                a[:] = np.asarray(values, dtype=object).astype(str)
        for name, dtype in CHUNK_VARIABLES.items():
            a = g.create_array(
                name,
                shape=(n,),
                chunks=(chunk_size,),
                dtype=dtype,
                fill_value=FILL_VALUES[name],
                dimension_names=spec,
            )
            if name == "status":
                a.attrs.update({"flag_values": [0, 1, 2], "flag_meanings": STATUS_MEANINGS})
            if name == "transient":
                a.attrs.update(
                    {"long_name": "failed to download for a transient reason: a rerun retries it"}
                )
        g.create_array(
            "chunk_done",
            shape=(n_chunks,),
            chunks=(1,),
            dtype=bool,
            fill_value=False,
            dimension_names=("chunk",),
        )
        g.attrs.update(
            {**(attrs or {}), "n_spectra": n, "chunk_size": chunk_size, "complete": False}
        )
        return cls(path)

    # -- chunks -----------------------------------------------------------------------------
    @property
    def n_chunks(self) -> int:
        """Number of chunks (tasks) in the store."""
        return -(-self.n_spectra // self.chunk_size) if self.n_spectra else 0

    def chunk_bounds(self, i: int) -> tuple[int, int]:
        """Rows ``(start, stop)`` of chunk ``i``."""
        start = i * self.chunk_size
        return start, min(start + self.chunk_size, self.n_spectra)

    @property
    def has_weight(self) -> bool:
        """Whether the store keeps the ``weight`` of every feature value."""
        return WEIGHT in self._group

    def done_chunks(self) -> np.ndarray:
        """Boolean array: which chunks are completely written."""
        if not self.n_chunks:
            return np.zeros(0, dtype=bool)
        return read_array(self.path, "chunk_done").astype(bool)

    @staticmethod
    def write_chunk(path: str | os.PathLike[str], index: int, start: int, data: ChunkData) -> None:
        """Write one chunk's rows, then mark the chunk done (a crash before the mark redoes it).

        ``status`` is written after every other variable, so a row whose status is set is whole.
        """
        path = str(path)
        stop = start + data.features.shape[0]
        _writable(f"{path}/features")[start:stop] = data.features
        if data.weight is not None:
            _writable(f"{path}/{WEIGHT}")[start:stop] = data.weight
        for name, values in _status_last(data.columns):
            _writable(f"{path}/{name}")[start:stop] = values
        _writable(f"{path}/chunk_done")[index] = True

    @staticmethod
    def write_rows(
        path: str | os.PathLike[str], index: int, rows: np.ndarray, data: ChunkData
    ) -> None:
        """Write some rows of chunk ``index`` (global row numbers ``rows``), then mark it done.

        The other rows of the chunk keep their values (Zarr rewrites the chunk files whole, each
        as a new file renamed into place); ``status`` is written last, as in :meth:`write_chunk`.
        """
        path = str(path)
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size:
            _writable(f"{path}/features").set_orthogonal_selection(
                (rows, slice(None)), data.features
            )
            if data.weight is not None:
                _writable(f"{path}/{WEIGHT}").set_orthogonal_selection(
                    (rows, slice(None)), data.weight
                )
            for name, values in _status_last(data.columns):
                _writable(f"{path}/{name}").set_orthogonal_selection(
                    (rows,), np.asarray(values, dtype=memory_dtype(name))
                )
        _writable(f"{path}/chunk_done")[index] = True

    @staticmethod
    def mark_done(path: str | os.PathLike[str], index: int) -> None:
        """Mark chunk ``index`` done without writing rows."""
        _writable(f"{path}/chunk_done")[index] = True

    # -- retries ----------------------------------------------------------------------------
    def transient_rows(self) -> np.ndarray:
        """Rows (global numbers) of spectra that failed for a transient reason (a rerun retries them)."""
        if "transient" not in self._group:
            return np.zeros(0, dtype=np.int64)
        status = np.asarray(self._group["status"][:])
        transient = np.asarray(self._group["transient"][:], dtype=bool)
        return np.flatnonzero((status == STATUS_FAILED) & transient)

    def rows_to_retry(self, index: int) -> np.ndarray:
        """Rows of chunk ``index`` a retry computes: failed for a transient reason, or pending."""
        start, stop = self.chunk_bounds(index)
        status = np.asarray(self._group["status"][start:stop])
        redo = status == STATUS_PENDING
        if "transient" in self._group:
            transient = np.asarray(self._group["transient"][start:stop], dtype=bool)
            redo |= (status == STATUS_FAILED) & transient
        return start + np.flatnonzero(redo)

    def status_hash(self) -> str:
        """Short hash of the ``status`` array (what changes when a retry turns failures into rows)."""
        status = np.ascontiguousarray(np.asarray(self._group["status"][:], dtype="i1"))
        return hashlib.sha256(status.tobytes()).hexdigest()[:16]

    def clone_for_retry(self, path: str | os.PathLike[str], rows: np.ndarray) -> FeatureStore:
        """A copy of this complete store at ``path`` (hard links where the file system allows),
        with the chunks holding ``rows`` marked not done, to retry those rows in.

        The copy's attributes say ``complete: False`` and ``retrying: True``; :meth:`finish`
        renames it over this store once every chunk is done again. Writing the copy never changes
        this store: Zarr writes each chunk file as a new file renamed into place, which replaces
        the link in the copy and leaves the file of this store as it was.
        """
        path = Path(path)
        if path.exists():
            shutil.rmtree(path)
        shutil.copytree(self.path, path, copy_function=_link_or_copy)
        chunks = np.unique(np.asarray(rows, dtype=np.int64) // self.chunk_size)
        # Whatever the Zarr version's way of writing, the files the retry may write are copies:
        # metadata and the chunk files of the retried chunks (in every array).
        for f in path.rglob("zarr.json"):
            _unshare(f)
        for array in path.iterdir():
            for i in chunks:
                c = array / "c" / str(int(i))
                for f in [c] if c.is_file() else c.rglob("*") if c.is_dir() else []:
                    if f.is_file():
                        _unshare(f)
        g = zarr.open_group(str(path), mode="r+")
        done = zarr.open_array(str(path / "chunk_done"), mode="r+")
        for i in chunks:
            done[int(i)] = False
        g.attrs.update({"complete": False, "retrying": True, "retry_from": self.status_hash()})
        return FeatureStore(path)

    # -- completion -------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Counts of the store: ``n_spectra``, ``n_ok``, ``n_failed``, ``n_pending``,
        ``n_transient``, ``failures`` (count per :func:`failure_category`, most frequent first)
        and ``failure_examples`` (one real reason of each category)."""
        status = np.asarray(self._group["status"][:])
        errors = np.asarray(self._group["error"][:], dtype=object)
        failed = status == STATUS_FAILED
        failures: Counter[str] = Counter()
        examples: dict[str, str] = {}
        for e in errors[failed]:
            category = failure_category(str(e))
            failures[category] += 1
            examples.setdefault(category, str(e))
        ranked = failures.most_common()
        return {
            "n_spectra": self.n_spectra,
            "n_ok": int((status == STATUS_OK).sum()),
            "n_failed": int(failed.sum()),
            "n_pending": int((status == STATUS_PENDING).sum()),
            "n_transient": int(self.transient_rows().size),
            "failures": dict(ranked),
            "failure_examples": {c: examples[c] for c, _ in ranked},
        }

    def finish(
        self, final_path: str | os.PathLike[str], extra_attrs: dict[str, Any]
    ) -> FeatureStore:
        """Check that every chunk is done, record the summary and rename to ``final_path``.

        A store made by :meth:`clone_for_retry` gets ``retrying: False`` and, when the retry
        turned failures into rows, ``revision`` (a hash of ``status``: step results keyed on the
        store are then computed anew).
        """
        done = self.done_chunks()
        if not done.all():
            missing = np.flatnonzero(~done)
            raise RuntimeError(
                f"{self.path}: {missing.size} chunks not written, e.g. {missing[:5]}"
            )
        g = zarr.open_group(str(self.path), mode="r+")
        attrs: dict[str, Any] = {**extra_attrs, "summary": self.summary(), "complete": True}
        if self.attrs.get("retrying"):
            attrs["retrying"] = False
            now = self.status_hash()
            if now != self.attrs.get("retry_from"):
                attrs["revision"] = now
        g.attrs.update(attrs)
        final_path = Path(final_path)
        replace_folder(self.path, final_path)
        return FeatureStore(final_path)

    def to_xarray(self) -> xr.Dataset:
        """The store as a lazy xarray Dataset (dask arrays), per-spectrum variables as coordinates."""
        return open_store(self.path)


def replace_folder(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Put folder ``src`` at ``dst`` by renames only, so that a reader finds at ``dst`` the old
    folder, the new one or (between two renames) none, never a half-deleted one.

    An old ``dst`` is first renamed to a hidden ``.<name>.old-<hex>`` (removed after; a crash
    leaves it for :func:`remove_leftovers`), since a rename cannot replace a non-empty folder.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


def remove_leftovers(folder: str | os.PathLike[str], name: str) -> None:
    """Remove the old copies :func:`replace_folder` left beside ``folder/name`` when it was cut short."""
    for old in Path(folder).glob(f".{name}.old-*"):
        shutil.rmtree(old, ignore_errors=True)


def check_store(
    path: str | os.PathLike[str],
    *,
    cache_key: str | None = None,
    n_spectra: int | None = None,
    n_wavelengths: int | None = None,
    weights: bool = False,
) -> str | None:
    """Why the feature store at ``path`` cannot be resumed, or None when it checks out.

    It checks out when its metadata reads, its attributes name ``cache_key`` and ``n_spectra``,
    and every array of :data:`STORE_ARRAYS` (and ``weight`` when ``weights``) is there with the
    shape those give (a store cut short while it was made or removed lacks some).

    Examples
    --------
    >>> import tempfile, shutil, numpy as np
    >>> p = Path(tempfile.mkdtemp()) / "f.zarr"
    >>> _ = FeatureStore.create(p, ids=["a"], paths=["a.fits"], grid=np.array([1.0]),
    ...                         chunk_size=1, attrs={"cache_key": "k"})
    >>> check_store(p, cache_key="k", n_spectra=1, n_wavelengths=1) is None
    True
    >>> shutil.rmtree(p / "features")
    >>> check_store(p, cache_key="k", n_spectra=1)
    'array features: missing or unreadable (FileNotFoundError)'
    """
    path = Path(path)
    try:
        st = FeatureStore(path)
    except Exception as exc:
        return f"metadata unreadable ({type(exc).__name__}: {exc})"
    if cache_key is not None and st.attrs.get("cache_key") != cache_key:
        return f"cache key {st.attrs.get('cache_key')!r}, not {cache_key!r}"
    if n_spectra is not None and st.n_spectra != n_spectra:
        return f"{st.n_spectra} spectra, not {n_spectra}"
    sizes = {"spectrum": st.n_spectra, "chunk": st.n_chunks}
    arrays = dict(STORE_ARRAYS)
    if weights:
        arrays[WEIGHT] = ("spectrum", "wavelength")
    for name, dims in arrays.items():
        try:
            shape = zarr.open_array(str(path / name), mode="r").shape
        except Exception as exc:
            return f"array {name}: missing or unreadable ({type(exc).__name__})"
        if name == "wavelength" and n_wavelengths is None:
            sizes["wavelength"] = shape[0]
        elif name == "wavelength":
            sizes["wavelength"] = n_wavelengths
        want = tuple(sizes[d] for d in dims)
        if shape != want:
            return f"array {name}: shape {shape}, not {want}"
    return None


def read_array(path: str | os.PathLike[str], name: str) -> np.ndarray:
    """One whole array of a Zarr store (a feature or step store) in memory, read by zarr itself.

    For the per-spectrum variables, written in 1,000-row chunks, one dask task per chunk would
    cost more than the read itself (docs/performance.md, "SOM dashboard").
    Strings come back as Python ``str`` objects.

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr
    >>> p = tempfile.mkdtemp() + "/s.zarr"
    >>> xr.Dataset({"snr": ("spectrum", np.arange(3.0))}).to_zarr(p, consolidated=False)  # doctest: +ELLIPSIS
    <xarray.backends.zarr.ZarrStore object at ...>
    >>> read_array(p, "snr").tolist()
    [0.0, 1.0, 2.0]
    """
    values = zarr.open_array(str(Path(path) / name), mode="r")[...]
    values = np.asarray(values)
    if values.dtype.kind == "T":  # numpy StringDType (zarr's variable-length strings)
        values = values.astype(object)
    return values


def open_store(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open one feature store folder as a lazy xarray Dataset."""
    ds = xr.open_zarr(str(path), consolidated=False)
    ds = ds.drop_vars("chunk_done", errors="ignore")
    coords = [c for c in _COORDS if c in ds.data_vars]
    ds = ds.set_coords(coords)
    for name in ("id", "path", "error", "target", "layout", "medium", "rest_frame"):
        if name in ds.coords:
            ds.coords[name] = ds.coords[name].astype(object)
    # small numeric per-spectrum coordinates in memory, so selections such as
    # ``ds.where(ds.status == 1, drop=True)`` work (xarray refuses lazy boolean indexers). Read
    # by zarr itself (read_array): 100,000 spectra 1.1 s -> 0.16 s; they need no CF decoding
    # (NaN and 0/False are their fill values).
    for name in ("status", "snr", "s_ra", "s_dec", "transient"):
        if name in ds.coords:
            var = ds.coords[name]
            ds.coords[name] = (var.dims, read_array(path, name), var.attrs)
    for k in ("parameters", "source", "summary"):
        if isinstance(ds.attrs.get(k), str):
            ds.attrs[k] = json.loads(ds.attrs[k])
    return ds

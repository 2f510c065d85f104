"""The parallel generator of synthetic spectra archives, with index, truth and labels.

Layout of an archive directory::

    <path>/<layout>/<NNNN>/spec-<i:09d>.<ext>     the spectra (.fits, .fits.gz, .xml, .csv)
    <path>/index.csv, index.vot                   metadata, one row per spectrum (order of i)
    <path>/truth.csv                              id, class, outlier_kind, base_class, detail
    <path>/labels.csv                             id, label for a label_fraction of the spectra
    <path>/.vocloud-archive.json                  the parameters; written last (complete marker)

Synthesis, FITS formatting and the file write are timed per spectrum by :func:`measure_write_time`;
large archives are bound by the disk (figures: docs/performance.md, "Synthetic archives").
"""

from __future__ import annotations

import base64
import json
import math
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from vocloud.datasets.layouts import LAYOUTS, to_bytes
from vocloud.datasets.synth import LayoutSpec, SynthConfig, draw_spectrum

if TYPE_CHECKING:
    import pandas as pd

MARKER = ".vocloud-archive.json"
"""Name of the marker file of a complete archive (written last)."""
PARTIAL = ".vocloud-archive.partial.json"
"""Name of the marker of an archive being written (removed when complete)."""
FORMAT_VERSION = 1
"""Bumped whenever the same parameters would give different files."""

INDEX_COLUMNS = (
    "id",
    "path",
    "layout",
    "target",
    "vosynid",
    "s_ra",
    "s_dec",
    "snr",
    "rv",
    "resolving_power",
    "n_pixels",
    "wl_min",
    "wl_max",
    "em_min",
    "em_max",
    "gzip",
)
"""Columns of ``index.csv`` / ``index.vot``."""
TRUTH_COLUMNS = ("id", "class", "outlier_kind", "base_class", "detail")
"""Columns of ``truth.csv``."""


@dataclass
class ArchiveInfo:
    """What :func:`make_archive` wrote.

    Attributes
    ----------
    path : pathlib.Path
        The archive directory.
    n_spectra : int
        Number of spectra.
    index : pandas.DataFrame
        The contents of ``index.csv`` (columns :data:`INDEX_COLUMNS`).
    index_csv, index_vot, truth_csv, labels_csv, marker : pathlib.Path
        The files.
    parameters : dict
        The generator parameters (as in the marker).
    created : bool
        ``False`` when a complete archive with the same parameters was found and reused.
    seconds : float
        Wall time of the call.
    """

    path: Path
    n_spectra: int
    index: pd.DataFrame = field(repr=False)
    index_csv: Path
    index_vot: Path
    truth_csv: Path
    labels_csv: Path
    marker: Path
    parameters: dict[str, Any] = field(repr=False)
    created: bool = True
    seconds: float = 0.0

    def truth(self) -> pd.DataFrame:
        """``truth.csv`` as a DataFrame (``outlier_kind`` is ``""`` for normal spectra)."""
        return pd.read_csv(self.truth_csv, keep_default_na=False)

    def labels(self) -> pd.DataFrame:
        """``labels.csv`` as a DataFrame."""
        return pd.read_csv(self.labels_csv, keep_default_na=False)


def _empty_columns() -> dict[str, list]:
    return {k: [] for k in (*INDEX_COLUMNS, *TRUTH_COLUMNS[1:])}


def _write_range(root: str, cfg: SynthConfig, start: int, stop: int) -> dict[str, list]:
    """Worker: write spectra ``start .. stop-1`` under ``root``; return their index rows."""
    cols = _empty_columns()
    made: set[str] = set()
    for i in range(start, stop):
        s = draw_spectrum(cfg, i)
        rel = s.path
        d = os.path.dirname(rel)
        if d not in made:
            os.makedirs(os.path.join(root, d), exist_ok=True)
            made.add(d)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(to_bytes(s))
        wl = s.wavelength
        lo, hi = float(wl[0]), float(wl[-1])
        for k, v in (
            ("id", s.id),
            ("path", rel),
            ("layout", s.layout),
            ("target", s.meta["OBJECT"]),
            ("vosynid", s.meta["VOSYNID"]),
            ("s_ra", s.meta["RA"]),
            ("s_dec", s.meta["DEC"]),
            ("snr", s.snr),
            ("rv", s.rv),
            ("resolving_power", s.resolving_power),
            ("n_pixels", int(wl.shape[0])),
            ("wl_min", lo),
            ("wl_max", hi),
            ("em_min", lo * 1e-10),
            ("em_max", hi * 1e-10),
            ("gzip", s.gzip),
            ("class", s.cls),
            ("outlier_kind", s.outlier_kind),
            ("base_class", s.base_class),
            ("detail", s.detail),
        ):
            cols[k].append(v)
    return cols


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork when safe (no other threads: fast, no re-import), else forkserver / spawn."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _run(root: Path, cfg: SynthConfig, n: int, n_jobs: int) -> dict[str, list]:
    workers = max(1, min(n_jobs, n))
    size = max(1, min(2000, math.ceil(n / (workers * 4))))
    bounds = [(a, min(a + size, n)) for a in range(0, n, size)]
    if workers == 1 or len(bounds) == 1:
        parts = [_write_range(str(root), cfg, a, b) for a, b in bounds]
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as ex:
            futures = [ex.submit(_write_range, str(root), cfg, a, b) for a, b in bounds]
            parts = [f.result() for f in futures]
    out = _empty_columns()
    for p in parts:
        for k, v in p.items():
            out[k].extend(v)
    return out


def _parameters(cfg: SynthConfig, n: int, label_fraction: float) -> dict[str, Any]:
    p = {"format_version": FORMAT_VERSION, "n_spectra": int(n), "label_fraction": label_fraction}
    p.update(cfg.as_json())
    return json.loads(json.dumps(p))


def _clean(root: Path) -> None:
    """Remove what an archive consists of (and nothing else) from ``root``."""
    for name in LAYOUTS:
        if (root / name).is_dir():
            shutil.rmtree(root / name)
    for name in ("index.csv", "index.vot", "truth.csv", "labels.csv", MARKER, PARTIAL):
        (root / name).unlink(missing_ok=True)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _info(root: Path, params: dict[str, Any], index: pd.DataFrame, created: bool, t0: float):
    return ArchiveInfo(
        path=root,
        n_spectra=int(params["n_spectra"]),
        index=index,
        index_csv=root / "index.csv",
        index_vot=root / "index.vot",
        truth_csv=root / "truth.csv",
        labels_csv=root / "labels.csv",
        marker=root / MARKER,
        parameters=params,
        created=created,
        seconds=time.perf_counter() - t0,
    )


def read_index(path: str | os.PathLike) -> pd.DataFrame:
    """``index.csv`` of an archive as a DataFrame with the documented dtypes."""
    return pd.read_csv(
        Path(path) / "index.csv",
        dtype={"id": str, "path": str, "layout": str, "target": str, "vosynid": str},
        keep_default_na=False,
    )


def make_archive(
    path: str | os.PathLike,
    n_spectra: int,
    *,
    layouts: LayoutSpec = "mixed",
    seed: int = 0,
    snr: float | tuple[float, float] = (30.0, 300.0),
    rv: float = 100.0,
    outlier_fraction: float = 0.02,
    class_weights: Mapping[str, float] | None = None,
    label_fraction: float = 0.1,
    gzip_fraction: float = 0.0,
    files_per_dir: int = 1000,
    n_jobs: int | None = None,
    overwrite: bool = False,
) -> ArchiveInfo:
    """Write a synthetic archive of ``n_spectra`` H-alpha spectra of Be stars (and outliers).

    Spectrum ``i`` is drawn from ``numpy.random.default_rng([seed, i])`` only, so the files do not
    depend on ``n_jobs``; it is :func:`~vocloud.datasets.synthesize` ``(..., start=i)[0]`` with the
    same parameters. The work is split into shards of contiguous indices run by a
    :class:`~concurrent.futures.ProcessPoolExecutor`. FITS files are written by a small
    hand-written writer (about 0.05 ms of formatting per LAMOST-like file).

    Parameters
    ----------
    path : str or path-like
        Archive directory (created).
    n_spectra : int
        Number of spectra.
    layouts : str, sequence of str or mapping
        ``"mixed"`` (all of :data:`~vocloud.datasets.LAYOUTS`, equal weights), one layout, a
        sequence (equal weights) or ``{layout: weight}``.
    seed : int
        Seed of everything (classes, grids, noise, labels).
    snr : float or (float, float)
        S/N at the continuum, log-uniform within the range.
    rv : float
        Radial velocities uniform within ``[-rv, rv]`` km/s.
    outlier_fraction : float
        Probability of an outlier (spike, dead run, strange profile).
    class_weights : mapping, optional
        ``{class: weight}`` over :data:`~vocloud.datasets.CLASSES`; default equal.
    label_fraction : float
        Fraction of the spectra (outliers included) listed in ``labels.csv`` with their class:
        ``round(label_fraction * n_spectra)`` of them, chosen by the seed.
    gzip_fraction : float
        Probability that a FITS spectrum is written gzipped (``.fits.gz``).
    files_per_dir : int
        Files per directory: spectrum ``i`` goes to ``<layout>/<i // files_per_dir:04d>/``.
    n_jobs : int, optional
        Worker processes; default ``os.cpu_count()``. ``1`` runs in this process.
    overwrite : bool
        Replace an existing archive made with other parameters (only the archive's own files and
        layout directories are removed).

    Returns
    -------
    ArchiveInfo

    Raises
    ------
    FileExistsError
        ``path`` holds an archive with other parameters, or other files and no archive marker,
        and ``overwrite`` is false.

    Notes
    -----
    ``.vocloud-archive.json`` is written last. A second call with the same parameters on a
    complete archive only reads ``index.csv`` and returns (``created = False``). An interrupted
    run (``.vocloud-archive.partial.json`` with the same parameters) is simply redone.

    Examples
    --------
    >>> import tempfile
    >>> from vocloud.datasets import make_archive
    >>> tmp = tempfile.TemporaryDirectory()
    >>> info = make_archive(tmp.name, 16, layouts=["lamost-dr7", "csv"], seed=3, n_jobs=1)
    >>> info.n_spectra, sorted(info.index.layout.unique())
    (16, ['csv', 'lamost-dr7'])
    >>> make_archive(tmp.name, 16, layouts=["lamost-dr7", "csv"], seed=3).created
    False
    >>> tmp.cleanup()
    """
    t0 = time.perf_counter()
    n = int(n_spectra)
    if n < 1:
        raise ValueError(f"n_spectra must be >= 1, got {n_spectra}")
    if not 0.0 <= label_fraction <= 1.0:
        raise ValueError(f"label_fraction must be within [0, 1], got {label_fraction}")
    cfg = SynthConfig.make(
        seed=seed,
        layouts=layouts,
        class_weights=class_weights,
        snr=snr,
        rv=rv,
        outlier_fraction=outlier_fraction,
        gzip_fraction=gzip_fraction,
        files_per_dir=files_per_dir,
    )
    params = _parameters(cfg, n, float(label_fraction))
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a directory")
    marker, partial = root / MARKER, root / PARTIAL

    if marker.exists():
        old = json.loads(marker.read_text()).get("parameters")
        if old == params:
            return _info(root, params, read_index(root), False, t0)
        if not overwrite:
            diff = sorted(
                k for k in set(old or {}) | set(params) if (old or {}).get(k) != params[k]
            )
            raise FileExistsError(
                f"{root} holds a synthetic archive made with other parameters ({', '.join(diff)}); "
                "pass overwrite=True to replace it"
            )
        _clean(root)
    elif partial.exists():
        old = json.loads(partial.read_text()).get("parameters")
        if old != params and not overwrite:
            raise FileExistsError(
                f"{root} holds an unfinished synthetic archive with other parameters; "
                "pass overwrite=True to replace it"
            )
        _clean(root)
    elif root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root} is not empty and holds no vocloud synthetic archive")
        _clean(root)

    root.mkdir(parents=True, exist_ok=True)
    doc = {"format": "vocloud-synthetic-archive", "parameters": params}
    _write_text_atomic(partial, json.dumps(doc, indent=1))

    jobs = (os.cpu_count() or 1) if n_jobs is None else int(n_jobs)
    cols = _run(root, cfg, n, max(1, jobs))

    index = pd.DataFrame({k: cols[k] for k in INDEX_COLUMNS})
    index["n_pixels"] = index["n_pixels"].astype(np.int64)
    index["gzip"] = index["gzip"].astype(bool)
    index.to_csv(root / "index.csv", index=False)
    truth = pd.DataFrame({"id": cols["id"], **{k: cols[k] for k in TRUTH_COLUMNS[1:]}})
    truth.to_csv(root / "truth.csv", index=False)

    n_lab = round(label_fraction * n)
    lab_rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(0x6C6162,)))
    chosen = np.sort(lab_rng.choice(n, size=n_lab, replace=False)) if n_lab else np.array([], int)
    labels = pd.DataFrame(
        {"id": truth["id"].to_numpy()[chosen], "label": truth["class"].to_numpy()[chosen]}
    )
    labels.to_csv(root / "labels.csv", index=False)

    _write_votable(index, root / "index.vot")

    doc["n_spectra"] = n
    doc["files"] = {"index": "index.csv", "votable": "index.vot", "truth": "truth.csv",
                    "labels": "labels.csv"}  # fmt: skip
    doc["layout_counts"] = {
        k: int(v) for k, v in index["layout"].value_counts().sort_index().items()
    }
    _write_text_atomic(marker, json.dumps(doc, indent=1))
    partial.unlink(missing_ok=True)
    return _info(root, params, read_index(root), True, t0)


_VOT_META = {  # column -> (unit, ucd)
    "id": (None, "meta.id;meta.main"),
    "path": (None, "meta.ref"),
    "layout": (None, "meta.code"),
    "target": (None, "meta.id;src"),
    "vosynid": (None, "meta.id"),
    "s_ra": ("deg", "pos.eq.ra;meta.main"),
    "s_dec": ("deg", "pos.eq.dec;meta.main"),
    "snr": (None, "stat.snr"),
    "rv": ("km/s", "spect.dopplerVeloc"),
    "resolving_power": (None, "spect.resolution"),
    "n_pixels": (None, "meta.number"),
    "wl_min": ("Angstrom", "em.wl;stat.min"),
    "wl_max": ("Angstrom", "em.wl;stat.max"),
    "em_min": ("m", "em.wl;stat.min"),
    "em_max": ("m", "em.wl;stat.max"),
    "gzip": (None, "meta.code"),
}


def _write_votable(index: pd.DataFrame, path: Path, chunk_rows: int = 100_000) -> None:
    """``index.vot``: VOTable 1.4, BINARY2 serialisation, written vectorised (~1 us per row).

    Strings are fixed-width ``char`` (the longest value), floats ``double``, integers ``long``,
    ``gzip`` a ``boolean``.
    """
    fields: list[str] = []
    dtypes: list[tuple] = [("__null", "u1", ((len(index.columns) + 7) // 8,))]
    arrays: dict[str, np.ndarray] = {}
    for name in index.columns:
        col = index[name]
        unit, ucd = _VOT_META.get(name, (None, None))
        attrs = f' unit="{unit}"' if unit else ""
        attrs += f' ucd="{ucd}"' if ucd else ""
        if ptypes.is_bool_dtype(col.dtype):
            datatype, arrays[name] = "boolean", np.where(col.to_numpy(bool), b"T", b"F")
        elif ptypes.is_integer_dtype(col.dtype):
            datatype, arrays[name] = "long", col.to_numpy(np.int64)
        elif ptypes.is_float_dtype(col.dtype):
            datatype, arrays[name] = "double", col.to_numpy(np.float64)
        else:
            raw = np.array([str(x).encode("utf-8") for x in col], dtype=bytes)
            width = max(1, raw.dtype.itemsize)
            arrays[name] = raw.astype(f"S{width}")
            datatype, attrs = "char", f' arraysize="{width}"{attrs}'
        dtypes.append((name, arrays[name].dtype.newbyteorder(">")))
        fields.append(f'<FIELD name="{name}" datatype="{datatype}"{attrs}/>')
    head = "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">',
            '<RESOURCE type="results">',
            '<TABLE name="index">',
            "<DESCRIPTION>vocloud synthetic archive index</DESCRIPTION>",
            *fields,
            '<DATA><BINARY2><STREAM encoding="base64">',
            "",
        ]
    )
    tmp = path.with_name(path.name + ".tmp")
    n = len(index)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(head)
        rest = b""
        for a in range(0, n, chunk_rows):
            b = min(a + chunk_rows, n)
            rows = np.zeros(b - a, dtype=dtypes)
            for name, arr in arrays.items():
                rows[name] = arr[a:b]
            data = rest + rows.tobytes()
            cut = len(data) - len(data) % 57  # base64 lines of 76 chars encode 57 bytes
            f.write(base64.encodebytes(data[:cut]).decode("ascii"))
            rest = data[cut:]
        f.write(base64.encodebytes(rest).decode("ascii"))
        f.write("</STREAM></BINARY2></DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n")
    os.replace(tmp, path)


def measure_write_time(
    n: int = 1000,
    layout: str = "lamost-dr7",
    directory: str | os.PathLike | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Time synthesis, formatting and writing of ``n`` files of one layout (one process).

    Returns
    -------
    dict
        Microseconds per spectrum: ``synth_us``, ``format_us`` (bytes), ``write_us`` (bytes to a
        file: open + write + close), ``file_us`` (``format_us + write_us``).

    Examples
    --------
    >>> t = measure_write_time(20)
    >>> sorted(t)
    ['file_us', 'format_us', 'synth_us', 'write_us']
    """
    cfg = SynthConfig.make(seed=seed, layouts=layout, outlier_fraction=0.0)
    synth = fmt = wr = 0.0
    with tempfile.TemporaryDirectory(dir=directory) as d:
        for i in range(n):  # as a worker does: synthesize, format, write, one file at a time
            t0 = time.perf_counter()
            s = draw_spectrum(cfg, i)
            t1 = time.perf_counter()
            data = to_bytes(s, gzip=False)
            t2 = time.perf_counter()
            with open(os.path.join(d, f"s{i:07d}.fits"), "wb") as f:
                f.write(data)
            t3 = time.perf_counter()
            synth, fmt, wr = synth + (t1 - t0), fmt + (t2 - t1), wr + (t3 - t2)
    us = 1e6 / n
    return {
        "synth_us": synth * us,
        "format_us": fmt * us,
        "write_us": wr * us,
        "file_us": (fmt + wr) * us,
    }

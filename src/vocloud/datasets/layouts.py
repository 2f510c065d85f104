"""One writer per file layout of ``docs/layouts.md``, with each layout's typical wavelength grid.

A layout here is two functions: ``draw_grid(layout, rng)`` picks the wavelength grid, resolving
power and header variant of one spectrum (the grid is computed exactly as a reader recomputes it
from the header, or is the float32 column the file stores), and ``to_bytes(spectrum)`` writes the
file. FITS layouts go through :mod:`vocloud.datasets.fitswrite` (tens of microseconds per file),
VOTable and CSV are formatted as text.

Examples
--------
>>> import numpy as np
>>> g = draw_grid("lamost-dr7", np.random.default_rng(0))
>>> g.wavelength.shape, round(float(g.wavelength[0]), -2)
((3909,), 3700.0)
"""

from __future__ import annotations

import base64
import functools
import gzip as _gzip
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from vocloud.datasets import fitswrite as fw
from vocloud.datasets.profiles import sigma_lsf

if TYPE_CHECKING:
    from vocloud.datasets.synth import SyntheticSpectrum

LAYOUTS = (
    "iraf-linear",
    "iraf-log",
    "lamost-dr7",
    "lamost-dr8",
    "sdss-coadd",
    "two-column",
    "votable-sdm",
    "csv",
)
"""The eight layout names of ``docs/layouts.md``."""

FITS_LAYOUTS = frozenset(LAYOUTS[:6])
EXTENSIONS = {name: ".fits" for name in FITS_LAYOUTS} | {"votable-sdm": ".xml", "csv": ".csv"}
"""File extension of each layout (``.gz`` is appended to gzipped FITS files)."""

ORIGIN = "vocloud.datasets (synthetic)"
LAMOST_NODATA = 32  # LAMOST pixel mask bit "NODATA"
SDSS_FULLREJECT = 1 << 16  # SDSS pixel mask bit "FULLREJECT"

# Ondřejov 2-m Perek telescope, CCD700 spectrograph around H-alpha
ONDREJOV_START, ONDREJOV_STEP, ONDREJOV_N = 6269.65, 0.2352, 1980


@dataclass
class Grid:
    """The wavelength grid of one spectrum and how its file describes it.

    Attributes
    ----------
    wavelength : numpy.ndarray
        float64 Angstrom (air), exactly as a reader recomputes it from the file.
    resolving_power : float
        λ/Δλ of the instrument (the LSF applied to the lines).
    variant : dict
        Header keywords and writer choices (``CRVAL1``, ``CDELT1``, ``use_cd``, ``bitpix``...).
    """

    wavelength: np.ndarray
    resolving_power: float
    variant: dict[str, Any] = field(default_factory=dict)


def _vary(rng: np.random.Generator, x: float, frac: float) -> float:
    return x * (1.0 + frac * (2.0 * rng.random() - 1.0))


def _linear_wcs(rng: np.random.Generator, start: float, step: float, n: int) -> dict[str, Any]:
    """CRVAL1/CDELT1/CRPIX1 of a linear grid; CRPIX1 is other than 1 for about a third."""
    crpix = 1.0 if rng.random() < 0.65 else float(rng.integers(2, n))
    crval = round(start + (crpix - 1.0) * step, 4)
    return {"CRVAL1": crval, "CDELT1": step, "CRPIX1": crpix, "NAXIS1": n}


def _pixels(v: dict[str, Any]) -> np.ndarray:
    """``i + 1 - CRPIX1`` for the 0-based pixel indices i."""
    return np.arange(v["NAXIS1"], dtype=np.float64) + (1.0 - v["CRPIX1"])


def _ondrejov(rng: np.random.Generator) -> tuple[float, float, int]:
    start = round(_vary(rng, ONDREJOV_START, 0.005), 3)
    step = round(_vary(rng, ONDREJOV_STEP, 0.005), 6)
    n = round(_vary(rng, ONDREJOV_N, 0.03))
    # every spectrum covers H-alpha +- 150 A and a little more (6400-6725 A), like the real CCD700
    n = max(n, math.ceil((6740.0 - start) / step) + 1)
    return start, step, n


@functools.cache
def _lamost_grid(coeff0: float) -> np.ndarray:
    """The float32 wavelength row of LAMOST (as float64, read-only; shared between spectra)."""
    wl = (10.0 ** (coeff0 + 1e-4 * np.arange(3909))).astype(np.float32).astype(np.float64)
    wl.flags.writeable = False
    return wl


@functools.cache
def _sdss_grid(coeff0: float) -> tuple[np.ndarray, np.ndarray]:
    """float32 loglam and its float64 wavelengths for 4600 px (read-only; sliced per spectrum)."""
    loglam = (coeff0 + 1e-4 * np.arange(4600)).astype(np.float32)
    wl = 10.0 ** loglam.astype(np.float64)
    loglam.flags.writeable = wl.flags.writeable = False
    return loglam, wl


def draw_grid(layout: str, rng: np.random.Generator) -> Grid:
    """Draw the grid, resolving power and header variant of one spectrum in ``layout``.

    Parameters
    ----------
    layout : str
        One of :data:`LAYOUTS`.
    rng : numpy.random.Generator
        The spectrum's generator.

    Returns
    -------
    Grid
    """
    if layout == "iraf-linear":
        start, step, n = _ondrejov(rng)
        v = _linear_wcs(rng, start, step, n)
        u = rng.random(5)
        v["use_cd"] = bool(u[0] < 0.3)
        v["CTYPE1"] = ("WAVE", "LINEAR", None)[int(u[1] * 3)]
        v["CUNIT1"] = "Angstrom" if u[2] < 0.5 else None
        v["dcflag"] = bool(u[3] < 0.5)
        v["bitpix"] = -64 if u[4] < 0.15 else -32
        wl = v["CRVAL1"] + _pixels(v) * v["CDELT1"]
        return Grid(wl, float(round(rng.uniform(11000.0, 15000.0))), v)
    if layout == "iraf-log":
        start, step, n = _ondrejov(rng)
        u = rng.random(4)
        if u[0] < 0.2:  # FITS WCS paper III logarithmic axis
            v = _linear_wcs(rng, start, step, n)
            v.update(CTYPE1="WAVE-LOG", CUNIT1="Angstrom", use_cd=bool(u[1] < 0.15))
            wl = v["CRVAL1"] * np.exp(v["CDELT1"] * _pixels(v) / v["CRVAL1"])
        else:  # IRAF DC-FLAG = 1: log10 lambda
            dlog = round(math.log10(1.0 + step / 6500.0), 10)
            crpix = 1.0 if rng.random() < 0.65 else float(rng.integers(2, n))
            crval = round(math.log10(start) + (crpix - 1.0) * dlog, 8)
            v = {"CRVAL1": crval, "CDELT1": dlog, "CRPIX1": crpix, "NAXIS1": n}
            v.update(CTYPE1="LINEAR" if u[2] < 0.7 else None, use_cd=bool(u[1] < 0.15))
            wl = 10.0 ** (v["CRVAL1"] + _pixels(v) * v["CDELT1"])
        v["bitpix"] = -64 if u[3] < 0.15 else -32
        return Grid(wl, float(round(rng.uniform(10000.0, 14000.0))), v)
    if layout in ("lamost-dr7", "lamost-dr8"):
        coeff0 = round(3.5682 + int(rng.integers(-40, 41)) * 1e-4, 4)
        v = {"COEFF0": coeff0, "COEFF1": 1e-4, "NAXIS1": 3909}
        return Grid(_lamost_grid(coeff0), float(round(rng.uniform(1500.0, 2100.0))), v)
    if layout == "sdss-coadd":
        coeff0 = round(3.5797 + int(rng.integers(-200, 1)) * 1e-4, 4)
        n = int(rng.integers(3800, 4601))
        loglam, wl = _sdss_grid(coeff0)
        v = {"COEFF0": coeff0, "COEFF1": 1e-4, "NAXIS1": n, "loglam": loglam[:n]}
        return Grid(wl[:n], float(round(rng.uniform(1500.0, 2500.0))), v)
    if layout == "two-column":
        start, step, n = _ondrejov(rng)
        u = rng.random(4)
        names = ("WAVELENGTH", "WAVE", "LAMBDA", "spectral", "LOGLAM")
        wname = names[int(np.searchsorted([0.4, 0.6, 0.75, 0.85], u[0], side="right"))]
        if wname == "LOGLAM":
            dlog = round(math.log10(1.0 + step / 6500.0), 10)
            stored = math.log10(start) + dlog * np.arange(n)
            wl = 10.0**stored
            unit = None
        else:
            stored = start + step * np.arange(n)
            wl = stored
            unit = "Angstrom" if u[1] < 0.6 else None
        v = {
            "NAXIS1": n,
            "wname": wname,
            "fname": "FLUX" if u[2] < 0.7 else "flux",
            "error": ("IVAR", "ERROR", None)[int(u[3] * 3)],
            "wunit": unit,
            "stored": stored,
        }
        return Grid(wl, float(round(rng.uniform(11000.0, 15000.0))), v)
    if layout == "votable-sdm":
        start, step, n = _ondrejov(rng)
        u = rng.random(2)
        v = {"NAXIS1": n, "binary2": bool(u[0] < 0.3), "error": bool(u[1] < 0.6)}
        return Grid(start + step * np.arange(n), float(round(rng.uniform(11000.0, 15000.0))), v)
    if layout == "csv":
        start = round(_vary(rng, 6300.0, 0.005), 3)
        step = round(_vary(rng, 0.45, 0.02), 5)
        n = max(round(_vary(rng, 1000, 0.03)), math.ceil((6740.0 - start) / step) + 1)
        u = rng.random(2)
        v = {"NAXIS1": n, "ivar": bool(u[0] < 0.7), "unit": bool(u[1] < 0.2)}
        return Grid(start + step * np.arange(n), float(round(rng.uniform(5000.0, 9000.0))), v)
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


# --------------------------------------------------------------------------------------- writers


_META_TAIL = [
    fw.format_card("AIRORVAC", "air", "wavelengths in air"),
    fw.format_card("ORIGIN", ORIGIN),
]


def _meta_cards(s: SyntheticSpectrum) -> list[fw.Card | str]:
    m = s.meta
    return [
        ("OBJECT", m["OBJECT"]),
        ("RA", m["RA"], "deg"),
        ("DEC", m["DEC"], "deg"),
        ("SNR", m["SNR"], "S/N at the continuum near H-alpha"),
        ("RESPOWER", m["RESPOWER"], "resolving power lambda/dlambda"),
        ("VOSYNID", m["VOSYNID"], "synthetic spectrum id"),
        *_META_TAIL,
    ]


def _iraf(s: SyntheticSpectrum) -> bytes:
    v = s.variant
    data = s.flux
    cards = fw.image_cards(data)
    if v.get("CTYPE1"):
        cards.append(("CTYPE1", v["CTYPE1"]))
    cards.append(("CRVAL1", float(v["CRVAL1"])))
    cards.append(("CD1_1" if v["use_cd"] else "CDELT1", float(v["CDELT1"])))
    cards.append(("CRPIX1", float(v["CRPIX1"])))
    if v.get("CUNIT1"):
        cards.append(("CUNIT1", v["CUNIT1"]))
    if s.layout == "iraf-log" and v.get("CTYPE1") != "WAVE-LOG":
        cards.append(("DC-FLAG", 1, "log10 wavelength"))
    elif v.get("dcflag"):
        cards.append(("DC-FLAG", 0))
    cards.append(("TELESCOP", "Ondrejov 2m"))
    cards.extend(_meta_cards(s))
    return fw.image_hdu(cards, data)


_LAMOST_DR7_HEAD = [
    fw.format_card(*c)
    for c in (
        *fw.image_cards(np.empty((5, 3909), np.float32)),
        ("TELESCOP", "LAMOST"),
        ("DATA_V", "LAMOST DR7 synthetic"),
        ("COEFF1", 1e-4, "log10 dispersion per pixel"),
    )
]


def _lamost_dr7(s: SyntheticSpectrum) -> bytes:
    v = s.variant
    n = s.wavelength.shape[0]
    img = np.empty((5, n), dtype=">f4")
    img[0] = s.flux
    img[1] = s.ivar
    img[2] = s.wavelength
    img[3] = np.where(s.mask, LAMOST_NODATA, 0)
    img[4] = img[3]
    if n == 3909 and v["COEFF1"] == 1e-4:
        cards: list[fw.Card | str] = list(_LAMOST_DR7_HEAD)
    else:
        cards = [*fw.image_cards(img), ("TELESCOP", "LAMOST"), ("DATA_V", "LAMOST DR7 synthetic")]
        cards.append(("COEFF1", v["COEFF1"], "log10 dispersion per pixel"))
    cards.append(("COEFF0", v["COEFF0"], "log10 of the first wavelength"))
    cards += _meta_cards(s)
    return fw.hdu_bytes(fw.header_bytes(cards), img.tobytes())


def _lamost_dr8(s: SyntheticSpectrum) -> bytes:
    v = s.variant
    mask = np.where(s.mask, np.float32(LAMOST_NODATA), np.float32(0))
    prim = fw.empty_primary(
        [
            ("TELESCOP", "LAMOST"),
            ("DATA_V", "LAMOST DR8 synthetic"),
            ("COEFF0", v["COEFF0"], "log10 of the first wavelength"),
            ("COEFF1", v["COEFF1"], "log10 dispersion per pixel"),
            *_meta_cards(s),
        ]
    )
    cols = [
        ("FLUX", s.flux),
        ("IVAR", s.ivar),
        ("WAVELENGTH", s.wavelength.astype(np.float32)),
        ("ANDMASK", mask),
        ("ORMASK", mask),
    ]
    return prim + fw.bintable_hdu(cols, nrows=1)


def _sdss(s: SyntheticSpectrum) -> bytes:
    v = s.variant
    m = s.meta
    prim = fw.empty_primary(
        [
            ("TELESCOP", "SDSS 2.5-M"),
            ("PLUG_RA", m["RA"], "deg"),
            ("PLUG_DEC", m["DEC"], "deg"),
            *_meta_cards(s),
        ]
    )
    n = s.wavelength.shape[0]
    mask = np.where(s.mask, np.int32(SDSS_FULLREJECT), np.int32(0))
    # wdisp: LSF sigma in units of (log10) pixels
    wdisp = (sigma_lsf(s.resolving_power, 1.0) / (math.log(10.0) * v["COEFF1"])) * np.ones(
        n, np.float32
    )
    sky = (0.02 * s.continuum).astype(np.float32)
    cols = [
        ("flux", s.flux),
        ("loglam", v["loglam"]),
        ("ivar", s.ivar),
        ("and_mask", mask),
        ("or_mask", mask),
        ("wdisp", wdisp),
        ("sky", sky),
        ("model", s.model.astype(np.float32)),
    ]
    return prim + fw.bintable_hdu(cols, [("EXTNAME", "COADD")])


def _two_column(s: SyntheticSpectrum) -> bytes:
    v = s.variant
    cols: list[tuple[str, np.ndarray, str | None]] = [
        (v["wname"], v["stored"], v["wunit"]),
        (v["fname"], s.flux, None),
    ]
    if v["error"] == "IVAR":
        cols.append(("IVAR", s.ivar, None))
    elif v["error"] == "ERROR":
        cols.append(("ERROR", _error(s.ivar), None))
    return fw.empty_primary(_meta_cards(s)) + fw.bintable_hdu(cols, [("EXTNAME", "SPECTRUM")])


def _error(ivar: np.ndarray) -> np.ndarray:
    """1/sqrt(ivar) as float32, NaN where ivar is 0."""
    with np.errstate(divide="ignore"):
        err = 1.0 / np.sqrt(ivar.astype(np.float64))
    err[~np.isfinite(err)] = np.nan
    return err.astype(np.float32)


def _fmt32(x: np.ndarray) -> list[str]:
    """float32 values as round-trip text (9 significant digits), ``NaN`` for NaN."""
    return ["NaN" if t != t else f"{t:.9g}" for t in x.tolist()]


def _votable(s: SyntheticSpectrum) -> bytes:
    v = s.variant
    m = s.meta
    params = [
        ("OBJECT", "char", m["OBJECT"], 'ucd="meta.id;src" utype="spec:Spectrum.Target.Name"'),
        ("RA", "double", m["RA"], 'unit="deg" ucd="pos.eq.ra;meta.main"'),
        ("DEC", "double", m["DEC"], 'unit="deg" ucd="pos.eq.dec;meta.main"'),
        ("SNR", "double", m["SNR"], 'ucd="stat.snr"'),
        ("RESPOWER", "double", m["RESPOWER"], 'ucd="spect.resolution"'),
        ("VOSYNID", "char", m["VOSYNID"], 'ucd="meta.id"'),
        ("AIRORVAC", "char", "air", ""),
    ]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"'
        ' xmlns:spec="http://www.ivoa.net/xml/SpectrumModel/v1.0">',
        '<RESOURCE type="results">',
        f"<DESCRIPTION>{escape(ORIGIN)}</DESCRIPTION>",
        '<TABLE name="spectrum" utype="spec:Spectrum">',
    ]
    for name, dtype, value, extra in params:
        size = ' arraysize="*"' if dtype == "char" else ""
        val = repr(float(value)) if dtype == "double" else str(value)
        lines.append(
            f'<PARAM name="{name}" datatype="{dtype}"{size} value={quoteattr(val)} {extra}/>'
        )
    lines += [
        '<FIELD name="spectral" datatype="double" unit="Angstrom" ucd="em.wl"'
        ' utype="spec:Spectrum.Data.SpectralAxis.Value"/>',
        '<FIELD name="flux" datatype="float" ucd="phot.flux.density;em.wl"'
        ' utype="spec:Spectrum.Data.FluxAxis.Value"/>',
    ]
    err = _error(s.ivar) if v["error"] else None
    if err is not None:
        lines.append(
            '<FIELD name="flux_error" datatype="float" ucd="stat.error;phot.flux.density;em.wl"'
            ' utype="spec:Spectrum.Data.FluxAxis.Accuracy.StatError"/>'
        )
    lines.append("<DATA>")
    n = s.wavelength.shape[0]
    if v["binary2"]:
        fields = [("null", "u1"), ("w", ">f8"), ("f", ">f4")]
        if err is not None:
            fields.append(("e", ">f4"))
        rows = np.zeros(n, dtype=fields)
        rows["w"] = s.wavelength
        rows["f"] = s.flux
        if err is not None:
            rows["e"] = err
        stream = base64.encodebytes(rows.tobytes()).decode("ascii")
        lines.append(f'<BINARY2><STREAM encoding="base64">\n{stream}</STREAM></BINARY2>')
    else:
        cols = [[repr(w) for w in s.wavelength.tolist()], _fmt32(s.flux)]
        if err is not None:
            cols.append(_fmt32(err))
        lines.append("<TABLEDATA>")
        lines.extend("<TR><TD>" + "</TD><TD>".join(r) + "</TD></TR>" for r in zip(*cols))
        lines.append("</TABLEDATA>")
    lines += ["</DATA>", "</TABLE>", "</RESOURCE>", "</VOTABLE>", ""]
    return "\n".join(lines).encode("utf-8")


def _csv(s: SyntheticSpectrum) -> bytes:
    v = s.variant
    m = s.meta
    lines = [f"# {k} = {m[k]}" for k in ("OBJECT", "RA", "DEC", "SNR", "RESPOWER", "VOSYNID")]
    lines.append("# AIRORVAC = air")
    head = ["wavelength[Angstrom]" if v["unit"] else "wavelength", "flux"]
    cols = [[repr(w) for w in s.wavelength.tolist()], _fmt32(s.flux)]
    if v["ivar"]:
        head.append("ivar")
        cols.append(_fmt32(s.ivar))
    lines.append(",".join(head))
    lines.extend(",".join(r) for r in zip(*cols))
    lines.append("")
    return "\n".join(lines).encode("utf-8")


_WRITERS = {
    "iraf-linear": _iraf,
    "iraf-log": _iraf,
    "lamost-dr7": _lamost_dr7,
    "lamost-dr8": _lamost_dr8,
    "sdss-coadd": _sdss,
    "two-column": _two_column,
    "votable-sdm": _votable,
    "csv": _csv,
}


def to_bytes(spectrum: SyntheticSpectrum, *, gzip: bool | None = None) -> bytes:
    """The file content of a synthetic spectrum in its layout.

    Parameters
    ----------
    spectrum : SyntheticSpectrum
        From :func:`vocloud.datasets.synthesize`.
    gzip : bool, optional
        Gzip the bytes (FITS layouts only); default ``spectrum.gzip``. The gzip header carries no
        file name and mtime 0, so the bytes are deterministic.

    Returns
    -------
    bytes

    Examples
    --------
    >>> from vocloud.datasets import synthesize
    >>> s = synthesize(1, layout="iraf-linear")[0]
    >>> to_bytes(s)[:9]
    b'SIMPLE  ='
    """
    data = _WRITERS[spectrum.layout](spectrum)
    if spectrum.gzip if gzip is None else gzip:
        if spectrum.layout not in FITS_LAYOUTS:
            raise ValueError(f"only FITS layouts are gzipped, not {spectrum.layout!r}")
        data = _gzip.compress(data, compresslevel=1, mtime=0)
    return data

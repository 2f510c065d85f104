"""IRAF images (docs/layouts.md): ``iraf-linear`` and ``iraf-log`` (a 1-D image with a linear or
log-lambda spectral WCS, also what HARPS s1d, UVES and Ondřejov reductions write) and
``iraf-multispec`` (echelle orders as image rows, a ``specN`` string per order), read lazily."""

from __future__ import annotations

import re
from typing import Any

import astropy.units as u
import numpy as np

from vocloud.io.fitslayouts.base import _merge_meta, _number, _unknown
from vocloud.io.fitslayouts.select import _one_order, _select_order
from vocloud.io.fitsparse import HDU, image_data, image_raw
from vocloud.io.spectralaxis import axis_kind, to_angstrom
from vocloud.io.spectrum import (
    LazySegments,
    Spectrum,
    SpectrumFormatError,
    header_medium,
    make_spectrum,
    spectral_unit,
)


def _pixel_axis(h: dict[str, Any], n: int, source: str) -> np.ndarray:
    """World coordinates ``CRVAL1 + CDELT1 * (p - CRPIX1)`` of pixels ``p = 1..n``."""
    if "CRVAL1" not in h:
        raise _unknown(source, f"1-D image {n} without CRVAL1")
    crval = _number(h, "CRVAL1", source)
    if "CD1_1" in h:
        cdelt = _number(h, "CD1_1", source)
    elif "CDELT1" in h:
        cdelt = _number(h, "CDELT1", source)
    else:
        raise _unknown(source, f"1-D image {n} without CDELT1 or CD1_1")
    if cdelt == 0:
        raise SpectrumFormatError(source, "corrupt wavelength solution: CDELT1 = 0")
    crpix = _number(h, "CRPIX1", source, 1.0)
    pix = np.arange(n, dtype=np.float64)
    pix += 1.0 - crpix
    pix *= cdelt
    pix += crval
    return pix


def read_iraf(
    buf: bytes | bytearray, primary: HDU, source: str, image: HDU | None = None
) -> Spectrum:
    """``iraf-linear`` / ``iraf-log``: a 1-D image with a linear or log-lambda spectral WCS.

    ``image`` is the HDU that holds the image when it is not the primary HDU. The axis may be
    any spectral kind (:func:`vocloud.io.spectralaxis.to_angstrom`: wavelength, frequency,
    wavenumber, energy, velocity with a rest value) and the unit may be written in ``CTYPE1``
    (HARPS s1d ``'Angstrom'``, UVES ``'WAVELENGTH [Ang]'``). Medium: the header's, else air
    (IRAF and ESO reductions).
    """
    hdu = image if image is not None else primary
    h = hdu.header
    ctype = str(h.get("CTYPE1", "")).strip()
    base, _, algo = ctype.upper().partition("-")
    algo = algo.strip("-")
    log10 = h.get("DC-FLAG", 0) == 1
    data = image_data(buf, hdu, source)
    flux = data.reshape(-1)
    axis = _pixel_axis(h, flux.shape[0], source)
    if algo == "LOG":
        crval = _number(h, "CRVAL1", source)
        if crval <= 0:
            raise SpectrumFormatError(source, f"corrupt wavelength solution: CRVAL1 = {crval}")
        cdelt = axis[1] - axis[0] if axis.shape[0] > 1 else 0.0
        # WCS Paper III -LOG: w = CRVAL1 * exp(CDELT1 * (p - CRPIX1) / CRVAL1)
        with np.errstate(over="ignore", invalid="ignore"):
            axis = crval * np.exp((axis - crval) / crval) if cdelt else axis
        ctype = base
        layout = "iraf-log"
    elif log10:
        with np.errstate(over="ignore", invalid="ignore"):
            axis = np.power(10.0, axis)
        layout = "iraf-log"
    else:
        layout = "iraf-linear"
    if algo not in ("", "LOG") and base in ("WAVE", "AWAV", "FREQ", "VRAD", "VOPT", "VELO"):
        raise _unknown(source, f"1-D image with CTYPE1 = {ctype!r} (algorithm {algo})")
    kind, _base, unit = axis_kind(ctype, h.get("CUNIT1"), source)
    if kind == "wave":  # the hot path: a monotonic axis is positive when both its ends are
        if not (axis[0] > 0 and axis[-1] > 0):
            raise SpectrumFormatError(
                source, f"spectral axis {_base or 'WAVE'} gives wavelengths that are not positive"
            )
    else:
        checked = to_angstrom(axis, ctype, h, source, h.get("CUNIT1"))  # refuses the unusable
        if kind not in ("freq", "energy", "wavenumber"):
            axis, unit = checked, u.AA  # velocities: only Angstrom keeps their meaning
    meta = _merge_meta(primary, image) if image is not None else primary.meta()
    return make_spectrum(
        axis,
        unit,
        flux,
        meta=meta,
        layout=layout,
        source=source,
        medium=header_medium(h, "air" if base not in ("FREQ", "VRAD", "VOPT", "VELO") else None),
    )


def _wat(h: dict[str, Any], n: int) -> str:
    """The ``WAT{n}_001...`` strings joined (IRAF splits them at 68 characters, spaces kept)."""
    parts = []
    i = 1
    while f"WAT{n}_{i:03d}" in h:
        v = h[f"WAT{n}_{i:03d}"]
        text = v if isinstance(v, str) else str(v)
        parts.append(text.ljust(68) if len(text) < 68 else text)
        i += 1
    return "".join(parts)


def _multispec_wave(spec: list[float], p: np.ndarray, source: str, ap: int) -> np.ndarray:
    """Wavelengths of one multispec aperture at pixels ``p`` (1-based) from its ``specN`` numbers
    (IRAF ONEDSPEC), before the ``1 / (1 + z)`` factor."""
    dtype = int(spec[2])
    w1, dw = spec[3], spec[4]
    if dtype == 0:
        return w1 + dw * (p - 1)
    if dtype == 1:
        return 10.0 ** (w1 + dw * (p - 1))
    if dtype != 2:
        raise SpectrumFormatError(source, f"multispec aperture {ap}: unknown dtype {dtype}")
    w = np.zeros(p.shape)
    rest = spec[9:]
    while rest:
        wt, w0, ftype = rest[0], rest[1], int(rest[2])
        if ftype not in (1, 2):
            kind = {3: "cubic spline", 4: "linear spline", 5: "pixel table", 6: "sampled"}
            raise SpectrumFormatError(
                source,
                f"multispec aperture {ap}: dispersion function type {ftype} "
                f"({kind.get(ftype, 'unknown')}) is not supported",
            )
        order, pmin, pmax = int(rest[3]), rest[4], rest[5]
        coef = np.asarray(rest[6 : 6 + order], dtype=np.float64)
        x = (2 * p - (pmax + pmin)) / (pmax - pmin)
        val = np.polynomial.chebyshev.chebval if ftype == 1 else np.polynomial.legendre.legval
        w += wt * (w0 + val(x, coef))
        rest = rest[6 + order :]
    return w


def _multispec_ends(
    flat: np.ndarray,
    starts: np.ndarray,
    lens: list[int],
    rows: np.ndarray,
    last: np.ndarray,
    nums: list[list[float]],
    source: str,
) -> np.ndarray:
    """First and last wavelength of the non-linear (dtype 2) orders ``rows``: orders with one
    Chebyshev or Legendre function of one degree (the usual echelle file) in one vectorised
    evaluation, any other one by one."""
    out = np.empty((rows.size, 2))
    groups: dict[tuple[int, int], list[int]] = {}
    for j, i in enumerate(rows):
        a = starts[i] + 9
        ftype, order = (int(flat[a + 2]), int(flat[a + 3])) if lens[i] >= 15 else (0, -1)
        if int(flat[starts[i] + 2]) == 2 and ftype in (1, 2) and lens[i] == 15 + order:
            groups.setdefault((ftype, order), []).append(j)
        else:
            out[j] = _multispec_wave(nums[i], np.array([1.0, last[i]]), source, int(i) + 1)
    for (ftype, order), js in groups.items():
        a = starts[rows[js]] + 9
        wt, w0, pmin, pmax = flat[a], flat[a + 1], flat[a + 4], flat[a + 5]
        coef = flat[a[None, :] + 6 + np.arange(order)[:, None]]  # order x k
        val = np.polynomial.chebyshev.chebval if ftype == 1 else np.polynomial.legendre.legval
        for col, p in ((0, np.ones(len(js))), (1, last[rows[js]])):
            x = (2 * p - (pmax + pmin)) / (pmax - pmin)
            out[js, col] = wt * (w0 + val(x, coef, tensor=False))
    return out


_SPEC_RE = re.compile(r'spec(\d+)\s*=\s*"([^"]*)"')


def _multispec(
    buf: bytes | bytearray, primary: HDU, source: str, image: HDU | None = None
) -> tuple[LazySegments, np.ndarray, np.ndarray]:
    """An IRAF multispec file as :class:`~vocloud.io.spectrum.LazySegments` of its orders, with
    each order's aperture number and beam number (the ``ap`` and ``beam`` of its ``specN``)."""
    hdu = image if image is not None else primary
    h = hdu.header
    shape = hdu.shape
    if h["BITPIX"] < 0 and h.get("BSCALE", 1) == 1 and h.get("BZERO", 0) == 0:
        data = image_raw(buf, hdu)  # a view: each order converted when used
    else:
        data = image_data(buf, hdu, source)
    if len(shape) == 3:
        data = data[0]
    norders, npix = data.shape
    wat2 = _wat(h, 2)
    specs = {int(k): v for k, v in _SPEC_RE.findall(wat2)}
    missing = [i for i in range(1, norders + 1) if i not in specs]
    if missing:
        raise SpectrumFormatError(
            source,
            f"multispec image of {norders} orders has no WAT2 spec{missing[0]} string "
            f"({len(specs)} found)",
        )
    toks = [specs[i].split() for i in range(1, norders + 1)]
    lens = [len(t) for t in toks]
    try:
        flat = np.array([x for t in toks for x in t], dtype=np.float64)
    except ValueError:
        raise SpectrumFormatError(source, "multispec specN strings hold non-numbers") from None
    if min(lens) < 7:
        i = lens.index(min(lens))
        raise SpectrumFormatError(source, f"multispec spec{i + 1}: {lens[i]} numbers, needs 7")
    starts = np.cumsum([0, *lens[:-1]])
    head = flat[starts[:, None] + np.arange(7)]  # ap beam dtype w1 dw nw z, one row per order
    nums = [flat[a : a + n].tolist() for a, n in zip(starts, lens)]
    # pixels per order: NW when shorter than the row (the rest is not data)
    nw = head[:, 5]
    counts = np.where((nw > 0) & (nw < npix), nw, npix).astype(int).tolist()
    # the solution at both ends of every order (raises on what is not supported)
    kind = head[:, 2]
    last = np.asarray(counts, dtype=np.float64)
    ends = np.empty((norders, 2))
    ends[:, 0] = head[:, 3]
    ends[:, 1] = head[:, 3] + head[:, 4] * (last - 1)
    log = kind == 1
    ends[log] = 10.0 ** ends[log]
    other = np.flatnonzero((kind != 0) & (kind != 1))
    if other.size:
        ends[other] = _multispec_ends(flat, starts, lens, other, last, nums, source)
    ends /= 1.0 + head[:, 6:7]
    if not np.isfinite(ends).all():
        raise SpectrumFormatError(source, "multispec wavelength solution gives non-finite values")
    down = ends[:, 0] > ends[:, 1]
    native = data.dtype.newbyteorder("=")

    def load(i: int) -> tuple[np.ndarray, np.ndarray]:
        n = counts[i]
        w = _multispec_wave(nums[i], np.arange(1.0, n + 1.0), source, i + 1)
        w /= 1.0 + nums[i][6]
        f = data[i, :n].astype(native)
        if down[i]:  # each order increasing in wavelength
            return w[::-1].copy(), f[::-1].copy()
        return w, f

    if np.isnan(data[0, 0]) and np.isnan(data).all():
        raise SpectrumFormatError(source, "all flux values are NaN")
    unit_text = re.search(r"units=(\S+)", _wat(h, 1))
    unit = spectral_unit(unit_text.group(1) if unit_text else None, source)
    meta = _merge_meta(primary, image) if image is not None else primary.meta()
    lazy = LazySegments(
        load,
        counts,
        np.sort(ends, axis=1),
        unit,
        meta=meta,
        layout="iraf-multispec",
        source=source,
        medium=header_medium(h, "air"),
    )
    return lazy, head[:, 0].astype(np.int64), head[:, 1].astype(np.int64)


def _multispec_beams(h: dict[str, Any], norders: int) -> np.ndarray | None:
    """The beam (echelle order) number of each order from the WAT2 ``specN`` strings alone, or
    ``None`` when a string is missing or malformed (its read then says why)."""
    specs = {int(k): v.split() for k, v in _SPEC_RE.findall(_wat(h, 2))}
    try:
        return np.array([int(float(specs[i][1])) for i in range(1, norders + 1)], dtype=np.int64)
    except (KeyError, IndexError, ValueError):
        return None


def read_iraf_multispec(
    buf: bytes | bytearray,
    primary: HDU,
    source: str,
    image: HDU | None = None,
    select: str | None = None,
) -> Spectrum:
    """``iraf-multispec``: echelle orders as image rows, one ``specN`` string per order in
    ``WAT2_nnn`` (``"ap beam dtype w1 dw nw z aplow aphigh ..."``: dtype 0 linear, 1 log-linear,
    2 Chebyshev or Legendre; splines and pixel tables are refused). Only the first band (the
    spectrum; others are sigma, background...) is read. Medium: the header's, else air.

    Without ``select`` the orders become :attr:`Spectrum.segments`, each increasing in
    wavelength; preprocessing takes the order covering the cutout (docs/layouts.md). ``select``
    ``"ORDER=<m>"`` (``m`` the order's **beam** number, the echelle order number) or ``"<row>"``
    gives that one order, ``meta["ORDER"]`` and ``meta["APERTURE"]`` set.

    The whole file is a :class:`~vocloud.io.spectrum.LazySegments`: only each order's two end
    wavelengths are computed here (every solution is still checked), an order's wavelengths and
    flux when it is used -- reading 50-110 orders of which a cutout needs one is then near the
    cost of parsing the header.
    """
    lazy, aps, beams = _multispec(buf, primary, source, image)
    if select is None:
        return lazy
    row = _select_order(beams, select, source)
    return _one_order(lazy, lazy.take([row]), beams[row], {"APERTURE": int(aps[row])})

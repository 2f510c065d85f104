"""LAMOST (docs/layouts.md): ``lamost-dr7`` (LRS DR1-DR8 image, rows named by ``EXTEN0``),
``lamost-dr8`` (LRS DR8-DR13 one-row table) and ``lamost-mrs`` (MRS ``med-*.fits``, two arms)."""

from __future__ import annotations

from typing import Any

import numpy as np

from vocloud.io.fitslayouts.base import _all_hdus, _join, _loglinear, _merge_meta
from vocloud.io.fitslayouts.tables import _table_spectrum
from vocloud.io.fitsparse import HDU, image_data, image_raw
from vocloud.io.spectrum import Spectrum, header_medium, make_spectrum, spectral_unit


def _lamost_rows(h: dict[str, Any], nrows: int) -> dict[str, int]:
    """Row index of each quantity in a LAMOST image, from ``EXTEN0`` (DR1 differs)."""
    names = [w.strip(" ,").lower() for w in str(h.get("EXTEN0", "")).replace(",", " ").split()]
    rows = {"flux": 0, "ivar": 1, "wave": 2, "andmask": 3}
    if names and len(names) <= nrows:
        found = {}
        for i, w in enumerate(names):
            if w.startswith("flux"):
                found.setdefault("flux", i)
            elif w.startswith("inverse") or w == "ivar":
                found.setdefault("ivar", i)
            elif w.startswith("wavelength"):
                found.setdefault("wave", i)
            elif w.startswith("andmask"):
                found.setdefault("andmask", i)
        if "flux" in found:
            rows = {"flux": found["flux"], "ivar": found.get("ivar", 1)}
            if "wave" in found:
                rows["wave"] = found["wave"]
            if "andmask" in found:
                rows["andmask"] = found["andmask"]
    return rows


def read_lamost_dr7(
    buf: bytes | bytearray, primary: HDU, source: str, image: HDU | None = None
) -> Spectrum:
    """``lamost-dr7``: LAMOST LRS DR1-DR8 image, rows named by ``EXTEN0``.

    Usually flux, ivar, wavelength, andmask, ormask; DR1 (pipeline v2.6.4) has ``'Flux Inverse
    Subcontinuum Andmask Ormask'`` with no wavelength row. The wavelength row is used when there
    is one and it is usable (positive, finite, increasing), else ``COEFF0``/``COEFF1`` (log10
    start / step). Every andmask bit is a bad condition (BADCCD, BADPROFILE, NOSKY, BRIGHTSKY,
    BADCENTER, NODATA). Medium: ``VACUUM`` (vacuum by the LAMOST convention).
    """
    hdu = image if image is not None else primary
    h = hdu.header
    if h["BITPIX"] < 0 and h.get("BSCALE", 1) == 1 and h.get("BZERO", 0) == 0:
        data = image_raw(buf, hdu)  # convert only the rows used, each to its own array
        native = data.dtype.newbyteorder("=")
        conv = lambda i: data[i].astype(native)  # noqa: E731
    else:
        data = image_data(buf, hdu, source)
        conv = lambda i: data[i].copy()  # noqa: E731
    nrows = data.shape[0]
    rows = _lamost_rows(h, nrows)
    flux, ivar = conv(rows["flux"]), conv(rows["ivar"])
    wave = None
    if "wave" in rows:
        with np.errstate(invalid="ignore"):  # signalling NaNs in a damaged file
            wave = data[rows["wave"]].astype(np.float64)
        if not (wave[0] > 0 and np.isfinite(wave[-1]) and wave[-1] > wave[0]):
            wave = None
    if wave is None:
        wave = _loglinear(h, flux.shape[0], source)
    mask = data[rows["andmask"]] != 0 if "andmask" in rows and rows["andmask"] < nrows else None
    unit = spectral_unit(h.get("CUNIT1"), source)
    meta = _merge_meta(primary, image) if image is not None else primary.meta()
    return make_spectrum(
        wave,
        unit,
        flux,
        ivar=ivar,
        mask=mask,
        meta=meta,
        layout="lamost-dr7",
        source=source,
        medium=header_medium(primary.header, header_medium(h, "vacuum")),
    )


def read_lamost_dr8(buf: bytes | bytearray, primary: HDU, ext: HDU, source: str) -> Spectrum:
    """``lamost-dr8``: HDU 1 table of one row with array columns FLUX, IVAR, WAVELENGTH, ANDMASK.

    LAMOST LRS DR8 (table form) to DR13; medium vacuum (``VACUUM = T``).
    """
    return _table_spectrum(buf, primary, ext, source, "lamost-dr8", medium="vacuum")


def read_lamost_mrs(buf: bytes | bytearray, primary: HDU, ext: HDU, source: str) -> Spectrum:
    """``lamost-mrs``: LAMOST MRS ``med-*.fits``: COADD_B (~4950-5350 A) and COADD_R (~6300-6800
    A, with H-alpha) tables, one row per pixel (FLUX, IVAR, LOGLAM, ANDMASK).

    Both arms are read, as two :attr:`Spectrum.segments` (blue, then red): the arms are not flux
    calibrated against each other, so preprocessing takes the arm that covers the cutout.
    Medium: vacuum (``VACUUM = T``).
    """
    hdus = _all_hdus(buf, ext, source)
    arms = [
        h for h in hdus if str(h.header.get("EXTNAME", "")).strip().upper().startswith("COADD_")
    ]
    parts = [_table_spectrum(buf, primary, h, source, "lamost-mrs", "vacuum") for h in arms]
    return _join(parts, primary, "lamost-mrs", source, parts[0].medium)

"""SDSS (docs/layouts.md): ``sdss-coadd`` (SDSS/BOSS/eBOSS ``spec-*.fits`` table),
``sdss-spspec`` (DR7 ``spSpec`` image) and ``sdss-spplate`` (``spPlate``: every fibre of a
plate, one spectrum per ``#FIBERID=<n>``), and the SPPIXMASK bits that make a pixel bad."""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np

from vocloud.io.fitslayouts.base import _all_hdus, _loglinear, _merge_meta
from vocloud.io.fitslayouts.select import _select_row
from vocloud.io.fitslayouts.tables import _table_spectrum
from vocloud.io.fitsparse import HDU, image_data, image_raw, read_hdu, table_columns
from vocloud.io.spectrum import (
    Spectrum,
    SpectrumFormatError,
    header_medium,
    ivar_from_error,
    make_spectrum,
)

#: SDSS SPPIXMASK bits that mean a bad pixel (the others -- e.g. bit 4 MANYBADCOLUMNS, a
#: fibre-level flag, or bit 23 BRIGHTSKY -- are informational; the pipeline already sets
#: ivar = 0 where a pixel is unusable): NOPLUG, BADTRACE, BADFLAT, BADARC, FULLREJECT, NODATA.
SDSS_BAD_BITS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 18) | (1 << 24)


def read_sdss_spspec(
    buf: bytes | bytearray, primary: HDU, source: str, image: HDU | None = None
) -> Spectrum:
    """``sdss-spspec``: SDSS DR7 spSpec image, rows flux, continuum-subtracted flux, error
    (sigma), mask (float-coded SPPIXMASK bits), sky; log10 wavelengths from ``COEFF0``/``COEFF1``.

    Bad pixels: sigma not positive, or one of :data:`SDSS_BAD_BITS`. Medium: vacuum.
    """
    hdu = image if image is not None else primary
    h = hdu.header
    data = image_data(buf, hdu, source)
    if data.shape[0] < 3:
        raise SpectrumFormatError(source, f"SDSS spSpec image has {data.shape[0]} rows, needs 3")
    flux = data[0].copy()
    ivar = ivar_from_error(data[2])
    mask = None
    if data.shape[0] > 3:
        bits = np.nan_to_num(data[3]).astype(np.int64)
        mask = (bits & SDSS_BAD_BITS) != 0
    wave = _loglinear(h, flux.shape[0], source)
    meta = _merge_meta(primary, image) if image is not None else primary.meta()
    return make_spectrum(
        wave,
        u.AA,
        flux,
        ivar=ivar,
        mask=mask,
        meta=meta,
        layout="sdss-spspec",
        source=source,
        medium=header_medium(h, "vacuum"),
    )


def _spplate_arrays(buf: bytes | bytearray, primary: HDU, source: str) -> dict[str, Any]:
    """An spPlate's images (flux, IVAR, ANDMASK: one row per fibre), its PLUGMAP columns and the
    plate's log-linear wavelengths, parsed once for all its fibres."""
    hdus = _all_hdus(buf, primary, source)
    by_name = {str(h.header.get("EXTNAME", "")).strip().upper(): h for h in hdus[1:]}
    for i, name in ((1, "IVAR"), (2, "ANDMASK")):  # older files: by position, unnamed
        if name not in by_name and len(hdus) > i and "EXTNAME" not in hdus[i].header:
            by_name[name] = hdus[i]
    flux = image_raw(buf, primary)
    if flux.ndim != 2:
        raise SpectrumFormatError(source, f"spPlate flux image is {flux.ndim}-D, not 2-D")
    nfib, npix = flux.shape
    out: dict[str, Any] = {"flux": flux, "wave": _loglinear(primary.header, npix, source)}
    for name in ("IVAR", "ANDMASK"):
        if name in by_name:
            img = image_raw(buf, by_name[name])
            if img.shape != flux.shape:
                raise SpectrumFormatError(
                    source, f"spPlate {name} image {img.shape} does not match flux {flux.shape}"
                )
            out[name] = img
    plug = by_name.get("PLUGMAP")
    cols = (
        table_columns(buf, plug, ["FIBERID", "RA", "DEC", "OBJTYPE"], source)
        if plug is not None and plug.xtension == "BINTABLE"
        else {}
    )
    fib = cols.get("FIBERID")
    out["FIBERID"] = (
        np.asarray(fib) if fib is not None and len(fib) == nfib else np.arange(1, nfib + 1)
    )
    out["plug"] = cols if fib is not None and len(fib) == nfib else {}
    return out


def _spplate_fibre(primary: HDU, a: dict[str, Any], row: int, source: str) -> Spectrum:
    """One fibre of an spPlate: its row of each image, native, with the plate's wavelengths."""
    flux = a["flux"][row]
    flux = flux.astype(flux.dtype.newbyteorder("="))
    ivar = a["IVAR"][row].astype(np.float32) if "IVAR" in a else None
    mask = None
    if "ANDMASK" in a:
        mask = (a["ANDMASK"][row].astype(np.int64) & SDSS_BAD_BITS) != 0
    meta = primary.meta()
    meta["FIBERID"] = int(a["FIBERID"][row])
    for key in ("RA", "DEC", "OBJTYPE"):
        if key in a["plug"]:
            v = a["plug"][key][row]
            meta[key] = str(v).strip() if key == "OBJTYPE" else float(v)
    return make_spectrum(
        a["wave"],
        u.AA,
        flux,
        ivar=ivar,
        mask=mask,
        meta=meta,
        layout="sdss-spplate",
        source=source,
        medium=header_medium(primary.header, "vacuum"),
    )


def read_sdss_spplate(
    buf: bytes | bytearray, primary: HDU, source: str, select: str | None = None
) -> Spectrum:
    """``sdss-spplate``: SDSS spPlate, every fibre of a plate (640 SDSS-I/II, 1000 BOSS) in one
    file: HDU 0 flux (one row per fibre) with the plate's ``COEFF0``/``COEFF1`` (log10 start and
    step), ``IVAR``, ``ANDMASK``, ``ORMASK``, ``WAVEDISP``, ``PLUGMAP`` (FIBERID, RA, DEC), ``SKY``.

    ``select`` (``"FIBERID=<n>"`` or a row number) picks the fibre. Bad pixels: ivar 0 or one of
    :data:`SDSS_BAD_BITS` in ANDMASK. Medium: ``VACUUM``, else vacuum.
    """
    a = _spplate_arrays(buf, primary, source)
    row = _select_row({"FIBERID": a["FIBERID"]}, select, source)
    return _spplate_fibre(primary, a, row, source)


def read_sdss_coadd(buf: bytes | bytearray, primary: HDU, ext: HDU, source: str) -> Spectrum:
    """``sdss-coadd``: HDU 1 ``COADD`` table, one row per pixel: flux, loglam, ivar, and_mask.

    Bad pixels: ``ivar == 0`` or an and_mask bit of :data:`SDSS_BAD_BITS` (not the informational
    bits). Medium: vacuum. The pipeline redshift of the SPECOBJ/SPALL table becomes ``meta["Z"]``.
    """
    s = _table_spectrum(
        buf, primary, ext, source, "sdss-coadd", medium="vacuum", mask_bits=SDSS_BAD_BITS
    )
    # the pipeline redshift lives in the SPECOBJ (DR8-DR16) or SPALL (DR17) table after COADD
    if ext.next_start < len(buf) and "Z" not in s.meta:
        nxt = read_hdu(buf, ext.next_start, ext.index + 1, source)
        if str(nxt.header.get("EXTNAME", "")).strip().upper() in ("SPECOBJ", "SPALL"):
            z = table_columns(buf, nxt, ["Z"], source).get("Z")
            if z is not None and len(z):
                s.meta["Z"] = float(z[0])
    return s

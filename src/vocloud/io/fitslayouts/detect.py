"""Which FITS layout a file is (:data:`FITS_LAYOUTS`; docs/layouts.md, "detected by"), from its
headers and table columns alone. Every rule is here, in the order they are tried, because
layouts of alike shapes are told apart by comparing them (LAMOST and SDSS spSpec images are
both 2-D: the header decides; a FIBERMAP with EXPID and no COADD_* columns is desi-spectra)."""

from __future__ import annotations

from typing import Any

from vocloud.io.fitslayouts.base import _first, _unknown
from vocloud.io.fitslayouts.crires import chip_number, spectrum_columns
from vocloud.io.fitslayouts.tables import WAVE_COLUMNS
from vocloud.io.fitsparse import HDU, Column, read_hdu, table_layout

FITS_LAYOUTS = (
    "iraf-linear",
    "iraf-log",
    "iraf-multispec",
    "lamost-dr7",
    "lamost-dr8",
    "lamost-mrs",
    "sdss-coadd",
    "sdss-spspec",
    "sdss-spplate",
    "desi-coadd",
    "desi-spectra",
    "hst-x1d",
    "eso-sdp",
    "crires-extracted",
    "deep2-spec1d",
    "spex-merged",
    "ondrejov-ssa",
    "two-column",
)
"""The FITS layouts :func:`read_fits` knows."""


def _shape_text(hdu: HDU) -> str:
    return "x".join(str(n) for n in reversed(hdu.shape))


def _telescope(h: dict[str, Any]) -> str:
    return str(h.get("TELESCOP", "")).strip().upper()


def _is_sdss_spspec(hdu: HDU) -> bool:
    """SDSS DR7 spSpec: a 5-row image like LAMOST's, told apart by its header, never its shape."""
    h = hdu.header
    return len(hdu.shape) == 2 and (
        _telescope(h).startswith("SDSS") or ("ARRAY1" in h and "ARRAY3" in h)
    )


def _is_sdss_spplate(buf: bytes | bytearray, primary: HDU, source: str) -> bool:
    """SDSS spPlate: an SDSS image of one row per fibre with ``COEFF0`` (no spSpec ``ARRAYn``
    cards), followed by an image HDU named ``IVAR`` (idlspec2d's spcoadd) or, unnamed, of the
    same shape (older files)."""
    h = primary.header
    if "ARRAY1" in h or "COEFF0" not in h or primary.next_start >= len(buf):
        return False
    nxt = read_hdu(buf, primary.next_start, 1, source)
    name = str(nxt.header.get("EXTNAME", "")).strip().upper()
    return name == "IVAR" or (not name and nxt.xtension == "IMAGE" and nxt.shape == primary.shape)


def _is_lamost_dr7(hdu: HDU) -> bool:
    h = hdu.header
    shape = hdu.shape
    return (
        len(shape) == 2
        and shape[0] >= 3
        and (_telescope(h) == "LAMOST" or ("COEFF0" in h and not _telescope(h)))
    )


def _is_multispec(h: dict[str, Any]) -> bool:
    return str(h.get("CTYPE1", "")).strip().upper().startswith("MULTISPE") or "multispec" in str(
        h.get("WAT0_001", "")
    )


def _image_layout(hdu: HDU) -> str | None:
    h = hdu.header
    shape = hdu.shape
    if _is_sdss_spspec(hdu):
        return "sdss-spspec"
    if _is_lamost_dr7(hdu):
        return "lamost-dr7"
    if len(shape) >= 2 and _is_multispec(h):
        return "iraf-multispec"
    if len(shape) == 2 and 3 <= shape[0] <= 4 and "XUNITS" in h:
        return "spex-merged"
    if shape and all(n == 1 for n in shape[:-1]) and shape[-1] > 0:
        return (
            "iraf-log"
            if h.get("DC-FLAG", 0) == 1 or "-LOG" in str(h.get("CTYPE1", "")).upper()
            else "iraf-linear"
        )
    return None


def _table_layout_name(primary: HDU, hdu: HDU, cols: list[Column]) -> str | None:
    keys = {c.key: c for c in cols}
    extname = str(hdu.header.get("EXTNAME", "")).strip().upper()
    if extname == "FIBERMAP":
        # a spectra-* FIBERMAP has a row per exposure (EXPID, NIGHT, MJD); a coadd's has a row
        # per target with COADD_* columns and the exposures in EXP_FIBERMAP
        coadded = any(k.startswith("COADD_") for k in keys)
        return "desi-spectra" if "EXPID" in keys and not coadded else "desi-coadd"
    if extname in ("COADD_B", "COADD_R") and "FLUX" in keys and keys["FLUX"].repeat == 1:
        return "lamost-mrs"
    if "SPEC" in keys and "LAMBDA" in keys and keys["SPEC"].repeat > 1:
        return "deep2-spec1d"
    if _is_eso_sdp(primary, hdu):
        return "eso-sdp"
    if "FLUX" not in keys or _first(keys, WAVE_COLUMNS) is None:
        if "SPECTRAL" in keys and "FLUX" not in keys:
            return None
        return None
    nrows = hdu.header.get("NAXIS2")
    if keys["FLUX"].repeat > 1:
        if nrows == 1:
            return "lamost-dr8"
        if _telescope(primary.header) == "HST" or "SPORDER" in keys:
            return "hst-x1d"
        return None
    if extname == "COADD" or ("LOGLAM" in keys and "AND_MASK" in keys):
        return "sdss-coadd"
    pub = str(hdu.header.get("DS_IDPUB", "")) + str(hdu.header.get("VOPUB", ""))
    if "asu.cas.cz" in pub.lower():
        return "ondrejov-ssa"
    return "two-column"


def _is_eso_sdp(primary: HDU, hdu: HDU) -> bool:
    """ESO Phase 3 1-D spectrum: ``VOCLASS = 'SPECTRUM V1.0/V2.0'`` in the table's header or
    ``PRODCATG = 'SCIENCE.SPECTRUM'`` in the primary, one row of vector columns."""
    voclass = str(hdu.header.get("VOCLASS", "")).strip().upper()
    prodcatg = str(primary.header.get("PRODCATG", "")).strip().upper()
    return hdu.header.get("NAXIS2") == 1 and (
        voclass.startswith("SPECTRUM") or prodcatg == "SCIENCE.SPECTRUM"
    )


def _is_crires_extracted(primary: HDU, ext: HDU, source: str) -> bool:
    """ESO CRIRES+ cr2res extracted spectra: HDU 1 named ``CHIPn.INT1`` holding ``OO_TT_SPEC``
    and ``OO_TT_WL`` columns, or, where the pipeline did not reduce that detector (an extension
    without a table), a primary ``ESO DRS TYPE = 'EXTRACT_1D'``. Old CRIRES tables share the
    extension names, not the columns."""
    if chip_number(ext) is None:
        return False
    if spectrum_columns(ext, source):
        return True
    drs = str(primary.header.get("ESO DRS TYPE", "")).strip().upper()
    return drs == "EXTRACT_1D" and ext.data_size == 0


def _locate(buf: bytes | bytearray, source: str) -> tuple[str, HDU, HDU | None]:
    """Parse the HDUs needed and detect the layout: ``(layout, primary, extension or None)``."""
    primary = read_hdu(buf, 0, 0, source)
    if primary.data_size > 0:
        layout = _image_layout(primary)
        if layout is None:
            raise _unknown(source, f"{len(primary.shape)}-D image {_shape_text(primary)}")
        if layout == "sdss-spspec" and _is_sdss_spplate(buf, primary, source):
            return "sdss-spplate", primary, None
        return layout, primary, None
    if primary.next_start >= len(buf):
        raise _unknown(source, "empty primary HDU and no extension")
    ext = read_hdu(buf, primary.next_start, 1, source)
    if _is_crires_extracted(primary, ext, source):
        return "crires-extracted", primary, ext
    kind = ext.xtension
    if kind == "BINTABLE":
        cols = table_layout(ext, source)
        layout = _table_layout_name(primary, ext, cols)
        if layout is None:
            rows = ext.header.get("NAXIS2")
            desc = ", ".join(f"{c.name} ({c.repeat}{c.code})" for c in cols)
            raise _unknown(source, f"table columns [{desc}] in {rows} rows")
        return layout, primary, ext
    if kind == "IMAGE" and ext.data_size > 0:
        layout = _image_layout(ext)
        if layout is None:
            raise _unknown(source, f"{len(ext.shape)}-D image {_shape_text(ext)} in HDU 1")
        return layout, primary, ext
    raise _unknown(source, f"empty primary HDU and HDU 1 of type {kind or 'none'!r}")


def detect_fits_layout(buf: bytes | bytearray, source: str = "<bytes>") -> str:
    """Name of the layout of the FITS file in ``buf`` (one of :data:`FITS_LAYOUTS`).

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from vocloud.io.fitsparse import hdu_bytes
    >>> img = fits.PrimaryHDU(np.ones((5, 10), dtype=np.float32))
    >>> img.header["TELESCOP"] = "LAMOST"
    >>> detect_fits_layout(hdu_bytes(img))
    'lamost-dr7'
    >>> img.header["TELESCOP"] = "SDSS 2.5-M"
    >>> detect_fits_layout(hdu_bytes(img))
    'sdss-spspec'
    """
    return _locate(buf, source)[0]

"""FITS spectrum layouts (docs/layouts.md): detection from the headers and one reader per layout.

Every reader takes the bytes of the whole (uncompressed) file and the parsed HDUs, and returns
a :class:`~vocloud.io.spectrum.Spectrum`; anything it cannot make sense of raises
:class:`~vocloud.io.spectrum.SpectrumFormatError` with the reason.

Examples
--------
>>> import numpy as np
>>> from astropy.io import fits
>>> from vocloud.io.fitsparse import hdu_bytes
>>> hdu = fits.PrimaryHDU(np.ones(5, dtype=np.float32))
>>> hdu.header.update(CRVAL1=6500.0, CDELT1=0.25, CRPIX1=1.0, CTYPE1="WAVE")
>>> s = read_fits(hdu_bytes(hdu), "x.fits")
>>> s.layout, s.wavelength_aa[:3]
('iraf-linear', array([6500.  , 6500.25, 6500.5 ]))
"""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np

from vocloud.io.fitsparse import (
    HDU,
    Column,
    image_data,
    image_raw,
    read_hdu,
    table_columns,
    table_layout,
)
from vocloud.io.spectrum import (
    Spectrum,
    SpectrumFormatError,
    ivar_from_error,
    make_spectrum,
    spectral_unit,
)

__all__ = [
    "FITS_LAYOUTS",
    "detect_fits_layout",
    "read_fits",
    "read_iraf",
    "read_lamost_dr7",
    "read_lamost_dr8",
    "read_sdss_coadd",
    "read_two_column",
]

FITS_LAYOUTS = ("iraf-linear", "iraf-log", "lamost-dr7", "lamost-dr8", "sdss-coadd", "two-column")
"""The FITS layouts :func:`read_fits` knows."""

#: wavelength column names of tables, in order of preference (upper case)
WAVE_COLUMNS = ("WAVELENGTH", "WAVE", "LAMBDA", "LOGLAM", "SPECTRAL")
#: error column names (converted to inverse variance)
ERROR_COLUMNS = ("ERROR", "ERR", "FLUX_ERROR", "SIGMA")
#: bad-pixel mask column names (non-zero: bad)
MASK_COLUMNS = ("ANDMASK", "AND_MASK", "MASK")

# CTYPE1 types accepted for a 1-D image (the part before the algorithm code)
_SPECTRAL_CTYPES = frozenset(
    {"", "LINEAR", "WAVE", "AWAV", "WAVELENGTH", "LAMBDA", "FREQ", "ENER", "WAVN"}
)


def _number(header: dict[str, Any], key: str, source: str, default: float | None = None) -> float:
    value = header.get(key, default)
    if value is None:
        raise SpectrumFormatError(source, f"missing {key}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpectrumFormatError(source, f"corrupt FITS header: {key} = {value!r} is not a number")
    return float(value)


def _shape_text(hdu: HDU) -> str:
    return "x".join(str(n) for n in reversed(hdu.shape))


def _merge_meta(*hdus: HDU) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for h in hdus:
        meta.update(h.meta())
    return meta


# ------------------------------------------------------------------------------------ detection
def _is_lamost_dr7(hdu: HDU) -> bool:
    h = hdu.header
    shape = hdu.shape
    return (
        len(shape) == 2
        and shape[0] >= 3
        and ("COEFF0" in h or str(h.get("TELESCOP", "")).strip().upper() == "LAMOST")
    )


def _image_layout(hdu: HDU) -> str | None:
    if _is_lamost_dr7(hdu):
        return "lamost-dr7"
    shape = hdu.shape
    if shape and all(n == 1 for n in shape[:-1]) and shape[-1] > 0:
        h = hdu.header
        return (
            "iraf-log"
            if h.get("DC-FLAG", 0) == 1 or "-LOG" in str(h.get("CTYPE1", ""))
            else ("iraf-linear")
        )
    return None


def _first(keys: dict[str, Column], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in keys:
            return name
    return None


def _table_layout_name(hdu: HDU, cols: list[Column]) -> str | None:
    keys = {c.key: c for c in cols}
    if "FLUX" not in keys or _first(keys, WAVE_COLUMNS) is None:
        return None
    if hdu.header.get("NAXIS2") == 1 and keys["FLUX"].repeat > 1:
        return "lamost-dr8"
    if keys["FLUX"].repeat != 1:
        return None
    extname = str(hdu.header.get("EXTNAME", "")).strip().upper()
    if extname == "COADD" or ("LOGLAM" in keys and "AND_MASK" in keys):
        return "sdss-coadd"
    return "two-column"


def _unknown(source: str, what: str) -> SpectrumFormatError:
    return SpectrumFormatError(source, f"unknown FITS layout: {what}")


def _locate(buf: bytes | bytearray, source: str) -> tuple[str, HDU, HDU | None]:
    """Parse the HDUs needed and detect the layout: ``(layout, primary, extension or None)``."""
    primary = read_hdu(buf, 0, 0, source)
    if primary.data_size > 0:
        layout = _image_layout(primary)
        if layout is None:
            raise _unknown(source, f"{len(primary.shape)}-D image {_shape_text(primary)}")
        return layout, primary, None
    if primary.next_start >= len(buf):
        raise _unknown(source, "empty primary HDU and no extension")
    ext = read_hdu(buf, primary.next_start, 1, source)
    kind = ext.xtension
    if kind == "BINTABLE":
        cols = table_layout(ext, source)
        layout = _table_layout_name(ext, cols)
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
    """
    return _locate(buf, source)[0]


# ------------------------------------------------------------------------------------ readers
def read_iraf(
    buf: bytes | bytearray, primary: HDU, source: str, image: HDU | None = None
) -> Spectrum:
    """``iraf-linear`` / ``iraf-log``: a 1-D image with a linear or log-lambda wavelength WCS.

    ``image`` is the HDU that holds the image when it is not the primary HDU.
    """
    hdu = image if image is not None else primary
    h = hdu.header
    ctype = str(h.get("CTYPE1", "")).strip().upper()
    base, _, algo = ctype.partition("-")
    algo = algo.strip("-")
    if base not in _SPECTRAL_CTYPES or algo not in ("", "LOG"):
        raise _unknown(source, f"1-D image with CTYPE1 = {ctype!r}")
    if "CRVAL1" not in h:
        raise _unknown(source, f"1-D image {_shape_text(hdu)} without CRVAL1")
    crval = _number(h, "CRVAL1", source)
    if "CD1_1" in h:
        cdelt = _number(h, "CD1_1", source)
    elif "CDELT1" in h:
        cdelt = _number(h, "CDELT1", source)
    else:
        raise _unknown(source, f"1-D image {_shape_text(hdu)} without CDELT1 or CD1_1")
    if cdelt == 0:
        raise SpectrumFormatError(source, "corrupt wavelength solution: CDELT1 = 0")
    crpix = _number(h, "CRPIX1", source, 1.0)
    unit = spectral_unit(h.get("CUNIT1"), source)
    data = image_data(buf, hdu, source)
    flux = data.reshape(-1)
    pix = np.arange(flux.shape[0], dtype=np.float64)
    pix += 1.0 - crpix
    if algo == "LOG":
        if crval <= 0:
            raise SpectrumFormatError(source, f"corrupt wavelength solution: CRVAL1 = {crval}")
        layout = "iraf-log"
        pix *= cdelt / crval
        with np.errstate(over="ignore", invalid="ignore"):
            wave = np.exp(pix, out=pix)
        wave *= crval
    elif h.get("DC-FLAG", 0) == 1:
        layout = "iraf-log"
        pix *= cdelt
        pix += crval
        with np.errstate(over="ignore", invalid="ignore"):
            wave = np.power(10.0, pix, out=pix)
    else:
        layout = "iraf-linear"
        pix *= cdelt
        pix += crval
        wave = pix
    meta = _merge_meta(primary, image) if image is not None else primary.meta()
    return make_spectrum(wave, unit, flux, meta=meta, layout=layout, source=source)


def read_lamost_dr7(
    buf: bytes | bytearray, primary: HDU, source: str, image: HDU | None = None
) -> Spectrum:
    """``lamost-dr7``: 2-D float32 image, rows flux, ivar, wavelength, andmask, ormask.

    The wavelength row is used as it is (as float64); when it is unusable (not positive or not
    finite at its ends) it is rebuilt from ``COEFF0`` / ``COEFF1`` (log10 start / step).
    """
    hdu = image if image is not None else primary
    h = hdu.header
    if h["BITPIX"] < 0 and h.get("BSCALE", 1) == 1 and h.get("BZERO", 0) == 0:
        data = image_raw(buf, hdu)  # convert only the rows used, each to its own array
        native = data.dtype.newbyteorder("=")
        flux, ivar = data[0].astype(native), data[1].astype(native)
    else:
        data = image_data(buf, hdu, source)
        flux, ivar = data[0].copy(), data[1].copy()
    nrows = data.shape[0]
    with np.errstate(invalid="ignore"):  # signalling NaNs in a damaged file
        wave = data[2].astype(np.float64)
    if not (wave[0] > 0 and np.isfinite(wave[-1]) and wave[-1] > wave[0]):
        c0 = _number(h, "COEFF0", source)
        c1 = _number(h, "COEFF1", source)
        wave = np.arange(flux.shape[0], dtype=np.float64)
        wave *= c1
        wave += c0
        with np.errstate(over="ignore", invalid="ignore"):
            np.power(10.0, wave, out=wave)
    mask = data[3] != 0 if nrows > 3 else None
    unit = spectral_unit(h.get("CUNIT1"), source)
    meta = _merge_meta(primary, image) if image is not None else primary.meta()
    return make_spectrum(
        wave, unit, flux, ivar=ivar, mask=mask, meta=meta, layout="lamost-dr7", source=source
    )


def _table_spectrum(
    buf: bytes | bytearray, primary: HDU, ext: HDU, source: str, layout: str
) -> Spectrum:
    """Shared reader of the three table layouts (array-in-a-row or one-row-per-pixel)."""
    cols = {c.key: c for c in table_layout(ext, source)}
    wave_key = _first(cols, WAVE_COLUMNS)
    ivar_key = "IVAR" if "IVAR" in cols else None
    err_key = None if ivar_key else _first(cols, ERROR_COLUMNS)
    mask_key = _first(cols, MASK_COLUMNS)
    keys = [k for k in ("FLUX", wave_key, ivar_key, err_key, mask_key) if k is not None]
    data = table_columns(buf, ext, keys, source)
    one_row = layout == "lamost-dr8"
    arrays = {}
    for k, v in data.items():
        if v.dtype.kind not in "fiub":
            raise SpectrumFormatError(source, f"table column {cols[k].name} is not numeric")
        arrays[k] = v[0] if one_row else v
    flux = arrays["FLUX"]
    wave = arrays[wave_key]
    if wave_key == "LOGLAM":
        with np.errstate(over="ignore", invalid="ignore"):
            wave = np.power(10.0, wave, dtype=np.float64)
        unit = u.AA
    else:
        unit = spectral_unit(cols[wave_key].unit, source)
    if ivar_key is not None:
        ivar = arrays[ivar_key]
    elif err_key is not None:
        ivar = ivar_from_error(arrays[err_key])
    else:
        ivar = None
    mask = arrays[mask_key] != 0 if mask_key is not None else None
    return make_spectrum(
        wave,
        unit,
        flux,
        ivar=ivar,
        mask=mask,
        meta=_merge_meta(primary, ext),
        layout=layout,
        source=source,
    )


def read_lamost_dr8(buf: bytes | bytearray, primary: HDU, ext: HDU, source: str) -> Spectrum:
    """``lamost-dr8``: HDU 1 table of one row with array columns FLUX, IVAR, WAVELENGTH, ANDMASK."""
    return _table_spectrum(buf, primary, ext, source, "lamost-dr8")


def read_sdss_coadd(buf: bytes | bytearray, primary: HDU, ext: HDU, source: str) -> Spectrum:
    """``sdss-coadd``: HDU 1 ``COADD`` table, one row per pixel: flux, loglam, ivar, and_mask."""
    return _table_spectrum(buf, primary, ext, source, "sdss-coadd")


def read_two_column(buf: bytes | bytearray, primary: HDU, ext: HDU, source: str) -> Spectrum:
    """``two-column``: HDU 1 table, one row per pixel: wavelength and flux (ivar or error)."""
    return _table_spectrum(buf, primary, ext, source, "two-column")


def read_fits(buf: bytes | bytearray, source: str = "<bytes>") -> Spectrum:
    """Read a spectrum from the bytes of an uncompressed FITS file of any known layout.

    Parameters
    ----------
    buf : bytes or bytearray
        The whole file.
    source : str
        File name for error messages.

    Returns
    -------
    Spectrum

    Raises
    ------
    SpectrumFormatError
        For a truncated or corrupt file or an unknown layout.
    """
    layout, primary, ext = _locate(buf, source)
    if layout in ("iraf-linear", "iraf-log"):
        return read_iraf(buf, primary, source, ext)
    if layout == "lamost-dr7":
        return read_lamost_dr7(buf, primary, source, ext)
    assert ext is not None
    if layout == "lamost-dr8":
        return read_lamost_dr8(buf, primary, ext, source)
    if layout == "sdss-coadd":
        return read_sdss_coadd(buf, primary, ext, source)
    return read_two_column(buf, primary, ext, source)

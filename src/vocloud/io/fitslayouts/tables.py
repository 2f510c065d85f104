"""Spectra in FITS tables whose columns are found by name: ``two-column`` (a wavelength column
and ``FLUX``, optional ``IVAR`` or ``ERROR`` and a mask), and that reading by column names
(:func:`_table_spectrum`) for the layouts that differ only in medium or mask bits:
``ondrejov-ssa`` (:mod:`~vocloud.io.fitslayouts.ondrejov`), ``lamost-dr8``, ``lamost-mrs``
(:mod:`~vocloud.io.fitslayouts.lamost`) and ``sdss-coadd`` (:mod:`~vocloud.io.fitslayouts.sdss`).
"""

from __future__ import annotations

import astropy.units as u
import numpy as np

from vocloud.io.fitslayouts.base import _first, _merge_meta
from vocloud.io.fitsparse import HDU, table_columns, table_layout
from vocloud.io.spectrum import (
    Spectrum,
    SpectrumFormatError,
    header_medium,
    ivar_from_error,
    make_spectrum,
    spectral_unit,
)

#: wavelength column names of tables, in order of preference (upper case)
WAVE_COLUMNS = ("WAVELENGTH", "WAVE", "LAMBDA", "LOGLAM", "SPECTRAL")
#: error column names (converted to inverse variance)
ERROR_COLUMNS = ("ERROR", "ERR", "FLUX_ERROR", "SIGMA")
#: bad-pixel mask column names (non-zero: bad)
MASK_COLUMNS = ("ANDMASK", "AND_MASK", "MASK")


def _table_spectrum(
    buf: bytes | bytearray,
    primary: HDU,
    ext: HDU,
    source: str,
    layout: str,
    medium: str | None = None,
    mask_bits: int | None = None,
) -> Spectrum:
    """Shared reader of the table layouts (array-in-a-row or one-row-per-pixel)."""
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
    mask = None
    if mask_key is not None:
        m = arrays[mask_key]
        if mask_bits is not None:
            mask = (np.nan_to_num(m).astype(np.int64) & mask_bits) != 0
        else:
            mask = m != 0
    meta = _merge_meta(primary, ext)
    return make_spectrum(
        wave,
        unit,
        flux,
        ivar=ivar,
        mask=mask,
        meta=meta,
        layout=layout,
        source=source,
        medium=header_medium(ext.header, header_medium(primary.header, medium)),
    )


def read_two_column(buf: bytes | bytearray, primary: HDU, ext: HDU, source: str) -> Spectrum:
    """``two-column``: HDU 1 table, one row per pixel: wavelength and flux (ivar or error)."""
    return _table_spectrum(buf, primary, ext, source, "two-column")

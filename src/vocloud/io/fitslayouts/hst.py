"""HST (docs/layouts.md): ``hst-x1d``, the STIS and COS x1d table (a row per order or segment,
one order per ``#ORDER=<SPORDER>``)."""

from __future__ import annotations

import astropy.units as u
import numpy as np

from vocloud.io.fitslayouts.base import _join
from vocloud.io.fitslayouts.select import _one_order, _select_order
from vocloud.io.fitsparse import HDU, table_columns
from vocloud.io.spectrum import (
    Spectrum,
    SpectrumFormatError,
    header_medium,
    ivar_from_error,
    make_spectrum,
)


def _x1d_parts(
    buf: bytes | bytearray, primary: HDU, ext: HDU, source: str
) -> tuple[list[Spectrum], np.ndarray | None]:
    """The rows of an HST x1d table as spectra, and their ``SPORDER`` (None without it)."""
    cols = table_columns(
        buf, ext, ["WAVELENGTH", "FLUX", "ERROR", "DQ", "NELEM", "SPORDER"], source
    )
    sdq = ext.header.get("SDQFLAGS", primary.header.get("SDQFLAGS"))
    parts = []
    for i in range(cols["FLUX"].shape[0]):
        n = int(cols["NELEM"][i]) if "NELEM" in cols else cols["FLUX"].shape[1]
        dq = cols["DQ"][i, :n] if "DQ" in cols else None
        bad = None
        if dq is not None:
            bad = (dq & int(sdq)) != 0 if isinstance(sdq, int) else dq != 0
        parts.append(
            make_spectrum(
                cols["WAVELENGTH"][i, :n],
                u.AA,
                cols["FLUX"][i, :n],
                ivar=ivar_from_error(cols["ERROR"][i, :n]) if "ERROR" in cols else None,
                mask=bad,
                layout="hst-x1d",
                source=source,
            )
        )
    orders = cols.get("SPORDER")
    return parts, None if orders is None else np.asarray(orders, dtype=np.int64).reshape(-1)


def _x1d_order(
    primary: HDU, parts: list[Spectrum], orders: np.ndarray | None, select: str, source: str
) -> Spectrum:
    """The row of an x1d table that ``select`` (``ORDER=<SPORDER>`` or a row) addresses."""
    if orders is None:
        orders = np.arange(len(parts), dtype=np.int64)
        if "=" in select:
            raise SpectrumFormatError(
                source, f"cannot select #{select}: the x1d table has no SPORDER column (use #<row>)"
            )
    row = _select_order(orders, select, source)
    one = _join([parts[row]], primary, "hst-x1d", source, header_medium(primary.header, "vacuum"))
    return _one_order(one, one, orders[row], {})


def read_hst_x1d(
    buf: bytes | bytearray, primary: HDU, ext: HDU, source: str, select: str | None = None
) -> Spectrum:
    """``hst-x1d``: HST (STIS, COS) x1d table, one row per order or segment: WAVELENGTH, FLUX,
    ERROR, DQ vector columns. Rows become segments; bad pixels are ``DQ & SDQFLAGS`` (the
    serious data-quality flags the file names) or error not positive. Medium: vacuum.

    ``select`` ``"ORDER=<m>"`` (the row's ``SPORDER``) or ``"<row>"`` gives that one row, its
    pixels sorted by wavelength, ``meta["ORDER"]`` set.
    """
    parts, orders = _x1d_parts(buf, primary, ext, source)
    if select is not None:
        return _x1d_order(primary, parts, orders, select, source)
    return _join(parts, primary, "hst-x1d", source, header_medium(primary.header, "vacuum"))

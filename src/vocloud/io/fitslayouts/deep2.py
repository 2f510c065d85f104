"""DEEP2 (docs/layouts.md): ``deep2-spec1d``, the DEIMOS ``spec1d`` file (a one-row table per
chip half, the halves as segments)."""

from __future__ import annotations

import astropy.units as u

from vocloud.io.fitslayouts.base import _all_hdus, _join
from vocloud.io.fitsparse import HDU, table_columns
from vocloud.io.spectrum import Spectrum, make_spectrum


def read_deep2_spec1d(buf: bytes | bytearray, primary: HDU, ext: HDU, source: str) -> Spectrum:
    """``deep2-spec1d``: DEEP2 DEIMOS spec1d: one-row tables per chip half (``Bxspf-B``,
    ``Bxspf-R``; the Horne extractions after them are not read) with SPEC, LAMBDA, IVAR vectors.
    Halves become segments. Medium: air (DEIMOS arc-lamp solutions)."""
    hdus = _all_hdus(buf, ext, source)
    first = [h for h in hdus if str(h.header.get("EXTNAME", "")).upper().startswith("BXSPF")]
    parts = []
    for h in first or hdus[:2]:
        d = table_columns(buf, h, ["SPEC", "LAMBDA", "IVAR"], source)
        parts.append(
            make_spectrum(
                d["LAMBDA"][0],
                u.AA,
                d["SPEC"][0],
                ivar=d["IVAR"][0],
                meta=h.meta(),
                layout="deep2-spec1d",
                source=source,
            )
        )
    return _join(parts, primary, "deep2-spec1d", source, "air")

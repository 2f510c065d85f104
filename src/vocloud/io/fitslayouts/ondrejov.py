"""Ondřejov (docs/layouts.md): ``ondrejov-ssa``, the FITS table the Ondřejov SSA service serves
(``ivo://asu.cas.cz/``), read by column names as ``two-column`` is, with its air wavelengths."""

from __future__ import annotations

from vocloud.io.fitslayouts.tables import _table_spectrum
from vocloud.io.fitsparse import HDU
from vocloud.io.spectrum import Spectrum


def read_ondrejov_ssa(buf: bytes | bytearray, primary: HDU, ext: HDU, source: str) -> Spectrum:
    """``ondrejov-ssa``: the FITS the Ondrejov SSA service serves (``DS_IDPUB ivo://asu.cas.cz/``):
    a ``spectral``/``flux`` table, air wavelengths (its column comment says so)."""
    return _table_spectrum(buf, primary, ext, source, "ondrejov-ssa", medium="air")

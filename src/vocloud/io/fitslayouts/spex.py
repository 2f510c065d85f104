"""Spextool (docs/layouts.md): ``spex-merged``, the merged image of SpeX and TripleSpec (rows
wavelength, flux, error)."""

from __future__ import annotations

import numpy as np

from vocloud.io.fitslayouts.base import _merge_meta
from vocloud.io.fitsparse import HDU, image_data
from vocloud.io.spectrum import (
    Spectrum,
    header_medium,
    ivar_from_error,
    make_spectrum,
    spectral_unit,
)


def read_spex_merged(
    buf: bytes | bytearray, primary: HDU, source: str, image: HDU | None = None
) -> Spectrum:
    """``spex-merged``: Spextool merged image, rows wavelength (``XUNITS``), flux, error[, flag].

    Medium: not stated by the format (the experiment's assumption applies).
    """
    hdu = image if image is not None else primary
    h = hdu.header
    data = image_data(buf, hdu, source)
    unit = spectral_unit(h.get("XUNITS"), source)
    wave = data[0].astype(np.float64)
    ok = np.isfinite(wave)
    meta = _merge_meta(primary, image) if image is not None else primary.meta()
    return make_spectrum(
        wave[ok],
        unit,
        data[1][ok],
        ivar=ivar_from_error(data[2][ok]),
        meta=meta,
        layout="spex-merged",
        source=source,
        medium=header_medium(h),
    )

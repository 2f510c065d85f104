"""What the FITS layout readers share: header numbers, metadata of several HDUs, the walk over
a file's HDUs, log-linear ``COEFF0``/``COEFF1`` axes (LAMOST, SDSS) and the joining of arms or
orders calibrated apart into one spectrum of segments."""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np

from vocloud.io.fitsparse import HDU, Column, read_hdu
from vocloud.io.spectrum import Spectrum, SpectrumFormatError, make_spectrum


def _number(header: dict[str, Any], key: str, source: str, default: float | None = None) -> float:
    value = header.get(key, default)
    if value is None:
        raise SpectrumFormatError(source, f"missing {key}")
    if isinstance(value, str):  # a header defect archives ship: CRVAL1 = '3.5802'
        try:
            return float(value.strip().replace("D", "E"))
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpectrumFormatError(source, f"corrupt FITS header: {key} = {value!r} is not a number")
    return float(value)


def _merge_meta(*hdus: HDU) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for h in hdus:
        meta.update(h.meta())
    return meta


def _first(keys: dict[str, Column], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in keys:
            return name
    return None


def _unknown(source: str, what: str) -> SpectrumFormatError:
    return SpectrumFormatError(source, f"unknown FITS layout: {what}")


def _all_hdus(buf: bytes | bytearray, first: HDU, source: str) -> list[HDU]:
    """Every HDU of the file from ``first`` on (headers parsed, data located, not read)."""
    hdus = [first]
    while hdus[-1].next_start < len(buf):
        if bytes(buf[hdus[-1].next_start : hdus[-1].next_start + 8]).strip(b"\x00 ") == b"":
            break  # zero padding after the last HDU
        # numbered from ``first``: astropy opens a tile-compressed HDU by this number
        hdus.append(read_hdu(buf, hdus[-1].next_start, first.index + len(hdus), source))
    return hdus


def _loglinear(h: dict[str, Any], n: int, source: str) -> np.ndarray:
    c0 = _number(h, "COEFF0", source)
    c1 = _number(h, "COEFF1", source)
    wave = np.arange(n, dtype=np.float64)
    wave *= c1
    wave += c0
    with np.errstate(over="ignore", invalid="ignore"):
        np.power(10.0, wave, out=wave)
    return wave


def _join(
    parts: list[Spectrum],
    primary: HDU,
    layout: str,
    source: str,
    medium: str | None,
    meta: dict[str, Any] | None = None,
) -> Spectrum:
    """Spectra of one object calibrated apart (arms) as one :class:`Spectrum` with segments.
    ``meta``: the primary's metadata when the caller has it already (a file of many orders)."""
    parts = [p for p in parts if len(p)]
    waves, fluxes, ivars, masks, segments, start = [], [], [], [], [], 0
    for p in parts:
        w = p.wavelength_aa
        order = np.argsort(w, kind="stable")
        waves.append(w[order])
        fluxes.append(np.asarray(p.flux, dtype=np.float64)[order])
        ivars.append(
            np.asarray(p.ivar, dtype=np.float64)[order] if p.ivar is not None else np.ones(len(p))
        )
        masks.append(p.mask[order] if p.mask is not None else np.zeros(len(p), bool))
        segments.append((start, start + len(p)))
        start += len(p)
    # the parts' keys in their order, a later part's value winning, then the primary's over all:
    # one pass over a primary of a thousand ESO cards, not a copy of it per part
    merged: dict[str, Any] = {}
    for p in parts:
        merged.update(p.meta)
    merged.update(meta if meta is not None else primary.meta())
    return make_spectrum(
        np.concatenate(waves),
        u.AA,
        np.concatenate(fluxes),
        ivar=np.concatenate(ivars) if any(p.ivar is not None for p in parts) else None,
        mask=np.concatenate(masks),
        meta=merged,
        layout=layout,
        source=source,
        medium=medium,
        segments=tuple(segments),
    )

"""The wide fallback: files the fast readers do not know, read through specutils' loaders.

specutils (an optional extra: ``pip install vocloud[specutils]``) knows dozens of instrument
formats. :func:`read_with_specutils` identifies the file's format with specutils' registry,
reads it and converts the result to a :class:`~vocloud.io.spectrum.Spectrum` with layout
``specutils:<format>``: spectral axis to Angstrom through astropy's equivalencies (a velocity
axis needs its rest value), uncertainty to inverse variance, specutils' mask (``True`` = bad) as
the mask. It costs milliseconds per file (see docs/performance.md), so the survey layouts keep
their fast readers and this only catches the rest.
"""

from __future__ import annotations

import os
import tempfile
import warnings

import astropy.units as u
import numpy as np
from astropy.io.registry import IORegistryError, identify_format
from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty

from vocloud.io.spectrum import Spectrum, SpectrumFormatError, make_spectrum

__all__ = ["HAS_SPECUTILS", "read_with_specutils"]

try:  # an optional extra
    import specutils as _specutils  # noqa: F401

    HAS_SPECUTILS = True
except ImportError:  # pragma: no cover - depends on the environment
    HAS_SPECUTILS = False


def _ivar(unc, n: int) -> np.ndarray | None:
    if unc is None:
        return None
    a = np.asarray(unc.array, dtype=np.float64).reshape(-1)[:n]
    ok = np.isfinite(a) & (a > 0)
    out = np.zeros(a.shape)
    if isinstance(unc, InverseVariance):
        out[ok] = a[ok]
    elif isinstance(unc, VarianceUncertainty):
        out[ok] = 1.0 / a[ok]
    elif isinstance(unc, StdDevUncertainty):
        out[ok] = 1.0 / a[ok] ** 2
    else:
        return None
    return out


def read_with_specutils(buf: bytes | bytearray, source: str, suffix: str = ".fits") -> Spectrum:
    """Read a file's bytes with the first specutils loader that identifies and reads it.

    Raises
    ------
    SpectrumFormatError
        When specutils is not installed, knows no loader for the file, every loader fails, or the
        result is not one 1-D spectrum with a convertible spectral axis.
    """
    if not HAS_SPECUTILS:
        raise SpectrumFormatError(
            source, "specutils is not installed (pip install 'vocloud[specutils]')"
        )
    from specutils import Spectrum1D  # the optional extra

    fd, tmp = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                formats = identify_format("read", Spectrum1D, tmp, None, [], {})
            except Exception as exc:  # identifiers of third-party loaders raise anything
                raise SpectrumFormatError(
                    source, f"specutils: cannot identify: {type(exc).__name__}: {exc}"
                ) from None
            if not formats:
                raise SpectrumFormatError(source, "specutils knows no loader for it")
            reasons = []
            for fmt in formats:
                try:
                    spec = Spectrum1D.read(tmp, format=fmt)
                except (Exception, IORegistryError) as exc:
                    reasons.append(f"{fmt}: {type(exc).__name__}: {exc}")
                    continue
                return _convert(spec, fmt, source)
            raise SpectrumFormatError(source, "specutils: " + "; ".join(reasons))
    finally:
        os.unlink(tmp)


def _convert(spec, fmt: str, source: str) -> Spectrum:
    flux = np.asarray(spec.flux.value)
    if flux.ndim != 1:
        raise SpectrumFormatError(
            source, f"specutils:{fmt} gave {flux.shape[0]} spectra of {flux.shape[-1]} pixels"
        )
    axis = spec.spectral_axis
    try:
        wave = axis.to_value(u.AA, equivalencies=u.spectral())
    except u.UnitConversionError:
        rest = getattr(axis, "doppler_rest", None)
        if rest is None:
            raise SpectrumFormatError(
                source, f"specutils:{fmt}: spectral axis in {axis.unit} without a rest value"
            ) from None
        conv = getattr(axis, "doppler_convention", None) or "radio"
        doppler = {
            "radio": u.doppler_radio,
            "optical": u.doppler_optical,
            "relativistic": u.doppler_relativistic,
        }[conv](rest)
        wave = axis.to_value(u.AA, equivalencies=doppler)
    n = flux.shape[0]
    w = np.asarray(wave, dtype=np.float64)
    if n > 1 and (np.array_equal(w, np.arange(n)) or np.array_equal(w, np.arange(1, n + 1))):
        raise SpectrumFormatError(
            source, f"specutils:{fmt} gave pixel numbers, not wavelengths (no spectral WCS)"
        )
    mask = None if spec.mask is None else np.asarray(spec.mask, dtype=bool).reshape(-1)[:n]
    meta = dict(spec.meta.get("header", {})) if isinstance(spec.meta, dict) else {}
    return make_spectrum(
        np.asarray(wave, dtype=np.float64),
        u.AA,
        flux,
        ivar=_ivar(spec.uncertainty, n),
        mask=mask,
        meta={str(k).upper(): v for k, v in meta.items() if isinstance(v, str | int | float)},
        layout=f"specutils:{fmt}",
        source=source,
    )

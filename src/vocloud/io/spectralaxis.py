"""The spectral axis of a FITS image: its kind, unit and rest value, converted to Angstrom.

A 1-D spectrum's axis may be a wavelength, a frequency, a wavenumber, an energy or a velocity
(with its rest frequency or wavelength). Every kind is converted to wavelengths in Angstrom with
astropy's spectral (and Doppler) equivalencies; an axis that cannot be converted -- no rest value
for a velocity, frequencies that are offsets (zero or negative), a celestial or unknown axis --
is refused with the reason, never read as Angstrom.

Examples
--------
>>> import numpy as np
>>> to_angstrom(np.array([1.0e14, 2.0e14]), "FREQ", {}, "x.fits")
array([29979.2458, 14989.6229])
>>> to_angstrom(np.array([-1.0e6, 1.0e6]), "FREQ", {}, "radio.fits")
Traceback (most recent call last):
...
vocloud.io.spectrum.SpectrumFormatError: radio.fits: spectral axis FREQ has values <= 0 \
(offsets from a rest frequency?): not a spectrum vocloud can put on a wavelength grid
"""

from __future__ import annotations

import functools
import re
from typing import Any

import astropy.units as u
import numpy as np

from vocloud.io.spectrum import SpectrumFormatError, spectral_unit

__all__ = ["axis_kind", "to_angstrom"]

# CTYPE base (before "-ALG") -> (kind, default unit: IRAF writes Angstrom without CUNIT1)
_KINDS: dict[str, tuple[str, u.UnitBase]] = {
    "": ("wave", u.AA),
    "LINEAR": ("wave", u.AA),
    "WAVE": ("wave", u.AA),
    "AWAV": ("wave", u.AA),
    "WAVELENGTH": ("wave", u.AA),
    "LAMBDA": ("wave", u.AA),
    "FREQ": ("freq", u.Hz),
    "ENER": ("energy", u.J),
    "WAVN": ("wavenumber", 1 / u.m),
    "VRAD": ("vrad", u.m / u.s),
    "VOPT": ("vopt", u.m / u.s),
    "ZOPT": ("zopt", u.dimensionless_unscaled),
    "VELO": ("velo", u.m / u.s),
    "BETA": ("beta", u.dimensionless_unscaled),
}
_UNIT_IN_CTYPE = re.compile(r"^\s*([A-Z]*)\s*[\[(]\s*([^\])]+?)\s*[\])]\s*$", re.IGNORECASE)


def axis_kind(ctype: str, cunit: Any, source: str) -> tuple[str, str, u.UnitBase]:
    """``(kind, ctype base, unit)`` of a FITS spectral axis, or :class:`SpectrumFormatError`.

    Besides the WCS Paper III types this reads the unit-in-CTYPE variants archives write:
    ``'Angstrom'`` (HARPS s1d), ``'WAVELENGTH [Ang]'`` (UVES), ``'LAMBDA (nm)'``.

    Examples
    --------
    >>> axis_kind("Angstrom", None, "s1d.fits")
    ('wave', 'WAVE', Unit("Angstrom"))
    >>> axis_kind("WAVELENGTH [Ang]", None, "uves.fits")
    ('wave', 'WAVELENGTH', Unit("Angstrom"))
    >>> axis_kind("RA---TAN", None, "img.fits")
    Traceback (most recent call last):
    ...
    vocloud.io.spectrum.SpectrumFormatError: img.fits: CTYPE1 = 'RA---TAN' is not a spectral axis
    """
    if not isinstance(cunit, str | None):
        cunit = str(cunit)
    result = _axis_kind(str(ctype or ""), cunit)
    if isinstance(result, str):
        raise SpectrumFormatError(source, result)
    return result


@functools.lru_cache(maxsize=256)
def _axis_kind(ctype: str, cunit: str | None) -> tuple[str, str, u.UnitBase] | str:
    """:func:`axis_kind` without the source, cached (archives repeat a few axes); the reason
    as a string when the axis is refused."""
    try:
        return _axis_kind_uncached(ctype, cunit, "")
    except SpectrumFormatError as exc:
        return exc.reason


def _axis_kind_uncached(ctype: str, cunit: Any, source: str) -> tuple[str, str, u.UnitBase]:
    text = str(ctype or "").strip()
    m = _UNIT_IN_CTYPE.match(text)
    if m:
        base = (m.group(1) or "WAVE").upper()
        unit = spectral_unit(m.group(2), source)
        kind = _KINDS.get(base, ("wave", u.AA))[0] if base in _KINDS else "wave"
        return kind, base, unit
    upper = text.upper()
    base, _, _algo = upper.partition("-")
    if base in _KINDS:
        kind, default = _KINDS[base]
        unit = default
        if cunit is not None and str(cunit).strip():
            if kind in ("wave", "freq", "energy", "wavenumber"):
                unit = spectral_unit(cunit, source)
            else:
                try:
                    unit = u.Unit(str(cunit).strip())
                except ValueError:
                    raise SpectrumFormatError(
                        source, f"unknown unit {cunit!r} of a {base} axis"
                    ) from None
        return kind, base, unit
    # a unit written as the axis type ("Angstrom", "nm")
    try:
        unit = spectral_unit(text, source)
    except SpectrumFormatError:
        raise SpectrumFormatError(source, f"CTYPE1 = {text!r} is not a spectral axis") from None
    if unit.physical_type == "length":
        return "wave", "WAVE", unit
    raise SpectrumFormatError(source, f"CTYPE1 = {text!r} is not a spectral axis")


def _rest(header: dict[str, Any]) -> u.Quantity | None:
    for key in ("RESTFRQ", "RESTFREQ"):
        v = header.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
            return v * u.Hz
    for key in ("RESTWAV", "RESTWAVE"):
        v = header.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
            return v * u.m
    return None


def to_angstrom(
    values: np.ndarray, ctype: str, header: dict[str, Any], source: str, cunit: Any = None
) -> np.ndarray:
    """World coordinates of a spectral axis (in its own unit) as wavelengths in Angstrom.

    Parameters
    ----------
    values : numpy.ndarray
        The axis values in the unit of the axis (``CUNIT1``, or the type's default).
    ctype : str
        ``CTYPE1`` as written.
    header : dict
        The header (``RESTFRQ``/``RESTFREQ`` in Hz, ``RESTWAV``/``RESTWAVE`` in m for velocities).
    source : str
        File name for the error messages.
    cunit : str, optional
        ``CUNIT1``.

    Raises
    ------
    SpectrumFormatError
        An axis that is not spectral, a velocity axis without a rest value, or values that give
        no positive finite wavelength.
    """
    kind, base, unit = axis_kind(ctype, cunit, source)
    q = np.asarray(values, dtype=np.float64) * unit
    try:
        if kind in ("wave", "freq", "energy", "wavenumber"):
            if kind != "wave" and not (np.all(q.value > 0)):
                raise SpectrumFormatError(
                    source,
                    f"spectral axis {base} has values <= 0 (offsets from a rest frequency?): "
                    "not a spectrum vocloud can put on a wavelength grid",
                )
            wave = q.to_value(u.AA, equivalencies=u.spectral())
        else:
            rest = _rest(header)
            if rest is None:
                raise SpectrumFormatError(
                    source,
                    f"velocity axis {base} without a rest value (RESTFRQ or RESTWAV): "
                    "cannot convert it to wavelengths",
                )
            if kind in ("zopt",):
                wave = (rest.to_value(u.AA, equivalencies=u.spectral())) * (1 + q.value)
            else:
                if kind == "beta":
                    q = q.value * 299792458.0 * (u.m / u.s)
                doppler = {
                    "vrad": u.doppler_radio,
                    "vopt": u.doppler_optical,
                    "velo": u.doppler_relativistic,
                    "beta": u.doppler_relativistic,
                }[kind](rest)
                wave = q.to_value(u.AA, equivalencies=doppler)
    except u.UnitConversionError:
        raise SpectrumFormatError(
            source, f"spectral axis {base} in unit {unit.to_string()!r} cannot be converted"
        ) from None
    wave = np.asarray(wave, dtype=np.float64)
    finite = np.isfinite(wave)
    if not finite.any() or np.any(wave[finite] <= 0):
        raise SpectrumFormatError(
            source, f"spectral axis {base} gives wavelengths that are not positive"
        )
    return wave

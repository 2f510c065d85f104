"""Air and vacuum wavelengths: one physical wavelength scale for spectra from every archive.

The IAU standard relation (Morton 2000, ApJS 130, 403, eq. 8; the one SDSS and VALD use) gives
the refractive index of standard air from the vacuum wavenumber ``s = 1e4 / lambda_vac``
(lambda in Angstrom, s in 1/micron)::

    n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s**2) + 1.5998e-4 / (38.9 - s**2)
    lambda_air = lambda_vac / n

Air to vacuum inverts it by fixed-point iteration (three rounds reach 1e-9 A). By the IAU
convention wavelengths below 2000 A are always vacuum: they are left as they are.

Examples
--------
>>> import numpy as np
>>> vac_to_air(np.array([6564.614])).round(3)  # H-alpha (NIST: 6562.801 A in air)
array([6562.801])
>>> air_to_vac(np.array([6562.801])).round(3)
array([6564.614])
"""

from __future__ import annotations

import numpy as np

__all__ = ["MEDIA", "air_to_vac", "convert_medium", "spectrum_medium", "vac_to_air"]

MEDIA = ("air", "vacuum")
_LIMIT = 2000.0  # Angstrom: below it, wavelengths are vacuum by convention


def _index(lambda_vac: np.ndarray) -> np.ndarray:
    s2 = (1e4 / lambda_vac) ** 2
    return 1.0 + 8.34254e-5 + 2.406147e-2 / (130.0 - s2) + 1.5998e-4 / (38.9 - s2)


def vac_to_air(wave: np.ndarray) -> np.ndarray:
    """Vacuum wavelengths (Angstrom) to standard air (IAU, Morton 2000); < 2000 A unchanged."""
    w = np.asarray(wave, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(w >= _LIMIT, w / _index(w), w)


def air_to_vac(wave: np.ndarray) -> np.ndarray:
    """Standard air wavelengths (Angstrom) to vacuum: the inverse of :func:`vac_to_air`."""
    w = np.asarray(wave, dtype=np.float64)
    vac = w.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(4):
            vac = np.where(w >= _LIMIT, w * _index(vac), w)
    return vac


def convert_medium(wave: np.ndarray, source: str, target: str) -> np.ndarray:
    """Wavelengths in medium ``source`` expressed in medium ``target`` (``"air"``/``"vacuum"``).

    Examples
    --------
    >>> convert_medium(np.array([5000.0]), "air", "air")
    array([5000.])
    """
    if source == target:
        return np.asarray(wave, dtype=np.float64)
    if (source, target) == ("vacuum", "air"):
        return vac_to_air(wave)
    if (source, target) == ("air", "vacuum"):
        return air_to_vac(wave)
    raise ValueError(f"unknown media {source!r} -> {target!r} (known: air, vacuum)")


def spectrum_medium(medium: str | None, spectra_medium: str = "auto") -> tuple[str, str]:
    """``(medium used, label recorded)`` of a spectrum whose reader found ``medium``.

    ``spectra_medium`` ``"air"``/``"vacuum"`` overrides the reader; ``"auto"`` takes it, and
    where the reader found none assumes air (recorded as ``"air (assumed)"``).

    Examples
    --------
    >>> spectrum_medium("vacuum"), spectrum_medium(None), spectrum_medium("vacuum", "air")
    (('vacuum', 'vacuum'), ('air', 'air (assumed)'), ('air', 'air (set)'))
    """
    if spectra_medium in MEDIA:
        return spectra_medium, f"{spectra_medium} (set)"
    if medium in MEDIA:
        return medium, medium
    return "air", "air (assumed)"

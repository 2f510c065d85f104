"""The in-memory spectrum every reader returns, and the error every reader raises."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from typing import Any

import astropy.units as u
import numpy as np


class SpectrumFormatError(ValueError):
    """A file that is not a spectrum vocloud can read.

    The message names the file (or ``<bytes>``) and what is wrong with it.

    Parameters
    ----------
    source : str
        The file name, URL or ``"<bytes>"``.
    reason : str
        What is wrong, in a few words (e.g. ``"truncated FITS: data ends at byte 4000 of 8640"``).
    """

    def __init__(self, source: str, reason: str) -> None:
        self.source = str(source)
        self.reason = str(reason)
        super().__init__(f"{self.source}: {self.reason}")

    def __reduce__(self):  # keep pickling (dask sends errors between processes) lossless
        return (type(self), (self.source, self.reason))


@dataclass
class Spectrum:
    """One 1-D spectrum as read from a file.

    Attributes
    ----------
    wavelength : astropy.units.Quantity
        1-D wavelengths (float64) in the file's own spectral unit (``Angstrom`` when the file names none).
    flux : numpy.ndarray
        1-D flux, same length, in the file's dtype (float32 or float64); NaN where the file has NaN.
    ivar : numpy.ndarray or None
        Inverse variance where the file has it (from an error column: ``1 / err**2``).
    mask : numpy.ndarray or None
        Boolean, ``True`` marks a bad pixel (a non-zero mask value in the file).
    meta : dict
        Header keywords (upper case, as in the file) of the primary and data HDUs, or VOTable PARAMs.
    layout : str
        The layout that was detected, e.g. ``"lamost-dr7"``.
    source : str
        The file name or ``"<bytes>"``.
    medium : str or None
        ``"air"`` or ``"vacuum"``: the medium of the wavelengths, from the header (``VACUUM``,
        ``AIRORVAC``, ``CTYPE1 = 'AWAV'``...) or the layout's documented convention (LAMOST, SDSS,
        DESI: vacuum; IRAF, Ondrejov, ESO: air); ``None`` when neither says (docs/layouts.md).
    segments : tuple of (int, int) or None
        Pixel ranges ``[start, stop)`` of the parts of a spectrum that are calibrated apart
        (spectrograph arms, echelle orders), each increasing in wavelength; ``None`` for one part.
        Preprocessing takes the part that covers the cutout (docs/layouts.md).

    Examples
    --------
    >>> import numpy as np, astropy.units as u
    >>> s = Spectrum(np.arange(3.0) * u.AA, np.ones(3), layout="csv")
    >>> s.wavelength_aa
    array([0., 1., 2.])
    """

    wavelength: u.Quantity
    flux: np.ndarray
    ivar: np.ndarray | None = None
    mask: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    layout: str = "unknown"
    source: str = "<bytes>"
    medium: str | None = None
    segments: tuple[tuple[int, int], ...] | None = None

    @property
    def wavelength_aa(self) -> np.ndarray:
        """Wavelengths in Angstrom as a plain float64 array (spectral equivalencies applied)."""
        w = self.wavelength
        if w.unit is u.AA or w.unit == u.AA:
            return np.asarray(w.value, dtype=np.float64)
        return np.asarray(w.to_value(u.AA, equivalencies=u.spectral()), dtype=np.float64)

    def good(self) -> np.ndarray:
        """Boolean array, ``True`` for usable pixels: finite flux, ``ivar > 0`` and not masked."""
        ok = np.isfinite(self.flux)
        if self.ivar is not None:
            ok &= self.ivar > 0
        if self.mask is not None:
            ok &= ~self.mask
        return ok

    def __len__(self) -> int:
        return int(self.flux.shape[0])


# --------------------------------------------------------------------------------------------
# Helpers shared by the readers (vocloud.io.fitslayouts, .votable, .csvtext)
# --------------------------------------------------------------------------------------------

_UNIT_ALIASES: dict[str, u.UnitBase] = {
    "a": u.AA,
    "aa": u.AA,
    "ang": u.AA,
    "å": u.AA,
    "angstrom": u.AA,
    "angstroms": u.AA,
    "angstroem": u.AA,
    "0.1nm": u.AA,
    "0.1 nm": u.AA,
    "nm": u.nm,
    "nanometer": u.nm,
    "nanometers": u.nm,
    "nanometre": u.nm,
    "nanometres": u.nm,
    "um": u.um,
    "micron": u.um,
    "microns": u.um,
    "micrometer": u.um,
    "micrometers": u.um,
    "m": u.m,
    "meter": u.m,
    "meters": u.m,
    "metre": u.m,
    "metres": u.m,
}


@functools.lru_cache(maxsize=512)
def _parse_spectral_unit(text: str) -> u.UnitBase | str:
    """Parse ``text`` into a spectral unit, or return the reason why it is not one (cached)."""
    key = text.strip()
    if not key:
        return u.AA
    alias = _UNIT_ALIASES.get(key.lower())
    if alias is not None:
        return alias
    unit = None
    for fmt in ("fits", "generic", "cds"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                unit = u.Unit(key, format=fmt)
        except (ValueError, TypeError):
            continue
        if isinstance(unit, u.UnrecognizedUnit):
            unit = None
            continue
        break
    if unit is None:
        return f"unknown wavelength unit {key!r}"
    if not unit.is_equivalent(u.AA, equivalencies=u.spectral()):
        return f"wavelength unit {key!r} is not spectral"
    return unit


def spectral_unit(text: str | u.UnitBase | None, source: str) -> u.UnitBase:
    """Return the spectral unit named by ``text`` (``None`` or empty: Angstrom).

    FITS (``CUNIT1``, ``TUNITn``), VOTable and CSV unit strings are tried in turn with the
    ``fits``, ``generic`` and ``cds`` formats after a few common aliases
    (``A``, ``Angstroms``, ``micron`` ...). Wavelength, frequency, energy and wavenumber
    units are accepted (they convert with :func:`astropy.units.spectral`).

    Parameters
    ----------
    text : str, astropy.units.UnitBase or None
        The unit as written in the file.
    source : str
        The file name used in the error message.

    Returns
    -------
    astropy.units.UnitBase

    Raises
    ------
    SpectrumFormatError
        If the unit cannot be parsed or is not spectral.

    Examples
    --------
    >>> spectral_unit("nm", "x.fits")
    Unit("nm")
    >>> spectral_unit(None, "x.fits")
    Unit("Angstrom")
    """
    if text is None:
        return u.AA
    if isinstance(text, u.UnitBase) and not isinstance(text, u.UnrecognizedUnit):
        if text.is_equivalent(u.AA, equivalencies=u.spectral()):
            return text
        raise SpectrumFormatError(source, f"wavelength unit {text.to_string()!r} is not spectral")
    result = _parse_spectral_unit(str(text))
    if isinstance(result, str):
        raise SpectrumFormatError(source, result)
    return result


def ivar_from_error(err: np.ndarray) -> np.ndarray:
    """Inverse variance ``1 / err**2``; 0 where the error is not positive and finite.

    Examples
    --------
    >>> ivar_from_error(np.array([0.5, 0.0, np.nan]))
    array([4., 0., 0.])
    """
    err = np.asarray(err, dtype=np.float64)
    ok = np.isfinite(err) & (err > 0)
    out = np.zeros(err.shape, dtype=np.float64)
    np.divide(1.0, np.square(err, where=ok, out=np.ones_like(err)), out=out, where=ok)
    return out


def make_spectrum(
    wavelength: np.ndarray,
    unit: u.UnitBase,
    flux: np.ndarray,
    *,
    ivar: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    meta: dict[str, Any] | None = None,
    layout: str,
    source: str,
    medium: str | None = None,
    segments: tuple[tuple[int, int], ...] | None = None,
) -> Spectrum:
    """Check the arrays of a spectrum just read and wrap them in a :class:`Spectrum`.

    ``wavelength`` becomes float64 in ``unit``; ``flux`` stays float32 or float64 (other
    dtypes become float64). Raises :class:`SpectrumFormatError` when the lengths differ,
    the spectrum has no pixel or every flux value is NaN.

    Examples
    --------
    >>> s = make_spectrum(np.array([1.0, 2.0]), u.nm, np.array([1.0, np.nan]),
    ...                   layout="csv", source="a.csv")
    >>> s.wavelength_aa
    array([10., 20.])
    >>> make_spectrum(np.array([1.0]), u.nm, np.array([np.nan]), layout="csv", source="a.csv")
    Traceback (most recent call last):
    ...
    vocloud.io.spectrum.SpectrumFormatError: a.csv: all flux values are NaN
    """
    wave = np.asarray(wavelength)
    if wave.dtype != np.float64 or not wave.dtype.isnative:
        wave = wave.astype(np.float64)
    flux = np.asarray(flux)
    if flux.dtype.kind != "f" or flux.dtype.itemsize not in (4, 8):
        flux = flux.astype(np.float64)
    elif not flux.dtype.isnative:
        flux = flux.astype(flux.dtype.newbyteorder("="))
    if wave.ndim != 1 or flux.ndim != 1:
        raise SpectrumFormatError(
            source, f"wavelength and flux must be 1-D, got shapes {wave.shape} and {flux.shape}"
        )
    n = flux.shape[0]
    if wave.shape[0] != n:
        raise SpectrumFormatError(
            source, f"wavelength and flux lengths differ ({wave.shape[0]} != {n})"
        )
    if n == 0:
        raise SpectrumFormatError(source, "empty spectrum: no pixels")
    if np.isnan(flux[0]) and np.isnan(flux).all():
        raise SpectrumFormatError(source, "all flux values are NaN")
    if ivar is not None:
        ivar = np.asarray(ivar)
        if ivar.dtype.kind != "f" or not ivar.dtype.isnative:
            ivar = ivar.astype(np.float64)
        if ivar.shape != flux.shape:
            raise SpectrumFormatError(
                source, f"ivar and flux lengths differ ({ivar.shape[0]} != {n})"
            )
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            mask = mask != 0
        if mask.shape != flux.shape:
            raise SpectrumFormatError(
                source, f"mask and flux lengths differ ({mask.shape[0]} != {n})"
            )
    return Spectrum(
        u.Quantity(wave, unit, copy=False),
        flux,
        ivar=ivar,
        mask=mask,
        meta=meta if meta is not None else {},
        layout=layout,
        source=source,
        medium=medium,
        segments=segments,
    )


MEDIA = ("air", "vacuum")
"""The two media a wavelength scale can be in."""


def header_medium(header: dict[str, Any], default: str | None = None) -> str | None:
    """The medium a header states, else ``default``.

    ``VACUUM = T/F`` (LAMOST, SDSS), ``AIRORVAC = 'air'/'vac'`` (IRAF ``dispcor``, many
    pipelines), ``AIRVAC``, ``VAC_AIR``, ``WAVEAIR`` / ``WAVEVAC``, ``SPEC_SYS``-style strings
    and ``CTYPE1 = 'AWAV'`` (FITS WCS Paper III: air wavelength).

    Examples
    --------
    >>> header_medium({"VACUUM": True}), header_medium({"AIRORVAC": "air"})
    ('vacuum', 'air')
    >>> header_medium({"CTYPE1": "AWAV"}), header_medium({}, "air"), header_medium({})
    ('air', 'air', None)
    """
    v = header.get("VACUUM")
    if isinstance(v, bool):
        return "vacuum" if v else "air"
    for key in ("AIRORVAC", "AIRVAC", "VAC_AIR", "VACORAIR", "WAVESYS"):
        text = str(header.get(key, "")).strip().lower()
        if text.startswith("vac"):
            return "vacuum"
        if text.startswith("air"):
            return "air"
    if str(header.get("CTYPE1", "")).strip().upper().startswith("AWAV"):
        return "air"
    return default

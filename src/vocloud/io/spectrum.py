"""The in-memory spectrum every reader returns, and the error every reader raises."""

from __future__ import annotations

import functools
import itertools
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

    def segment_bounds(self) -> np.ndarray:
        """First and last wavelength (Angstrom) of each part: ``k x 2`` (``1 x 2`` for one part).

        A :class:`LazySegments` spectrum answers from its wavelength solution alone, without
        computing a single wavelength array.

        Examples
        --------
        >>> s = Spectrum(np.array([1.0, 2.0, 3.0, 2.5, 4.0]) * u.AA, np.ones(5),
        ...              segments=((0, 3), (3, 5)))
        >>> s.segment_bounds()
        array([[1. , 3. ],
               [2.5, 4. ]])
        """
        w = self.wavelength_aa
        parts = self.segments or ((0, w.shape[0]),)
        return np.array(
            [[np.nanmin(w[a:b]), np.nanmax(w[a:b])] for a, b in parts], dtype=np.float64
        )

    def take(self, parts: list[int]) -> Spectrum:
        """The spectrum made of the parts (segments) ``parts`` only, in that order.

        Examples
        --------
        >>> s = Spectrum(np.arange(5.0) * u.AA, np.arange(5.0), segments=((0, 3), (3, 5)))
        >>> t = s.take([1])
        >>> t.wavelength_aa, t.segments
        (array([3., 4.]), ((0, 2),))
        """
        segs = self.segments or ((0, len(self)),)
        idx = np.concatenate([np.arange(*segs[i]) for i in parts])
        sizes = np.cumsum([0] + [segs[i][1] - segs[i][0] for i in parts])
        return Spectrum(
            self.wavelength[idx],
            self.flux[idx],
            ivar=None if self.ivar is None else self.ivar[idx],
            mask=None if self.mask is None else self.mask[idx],
            meta=self.meta,
            layout=self.layout,
            source=self.source,
            medium=self.medium,
            segments=tuple((int(a), int(b)) for a, b in itertools.pairwise(sizes)),
        )


class LazySegments(Spectrum):
    """A spectrum of many parts (echelle orders) whose arrays are made on first use.

    An IRAF multispec file holds 50-110 orders of 2,000-4,000 pixels; preprocessing needs the one
    or two that cover its cutout. The reader gives each part's pixel count, its wavelength ends
    and a function that makes one part's ``(wavelength, flux)``; :meth:`take` makes only the
    parts asked for, and touching :attr:`wavelength` or :attr:`flux` makes them all. Pickling
    gives a plain :class:`Spectrum` (the function holds the file's bytes).

    Parameters
    ----------
    load : callable
        ``load(i) -> (wavelength, flux)`` of part ``i``: 1-D, increasing, float64 wavelengths in
        ``unit``, ``counts[i]`` pixels.
    counts : sequence of int
        Pixels per part.
    bounds : numpy.ndarray
        ``k x 2`` first and last wavelength of each part, in ``unit``.
    unit : astropy.units.UnitBase
        The spectral unit of the wavelengths.
    **kwargs
        ``meta``, ``layout``, ``source``, ``medium`` as for :class:`Spectrum`.

    Examples
    --------
    >>> load = lambda i: (np.arange(3.0) + 10 * i, np.full(3, float(i)))
    >>> s = LazySegments(load, [3, 3], np.array([[0.0, 2.0], [10.0, 12.0]]), u.AA)
    >>> s.take([1]).flux, len(s), s.segments
    (array([1., 1., 1.]), 6, ((0, 3), (3, 6)))
    """

    def __init__(self, load, counts, bounds, unit, **kwargs: Any) -> None:
        self._load = load
        self._unit = unit
        self._bounds = np.asarray(bounds, dtype=np.float64)
        self._arrays: tuple[u.Quantity, np.ndarray] | None = None
        ends = np.cumsum(counts)
        self.segments = tuple((int(e - c), int(e)) for c, e in zip(counts, ends))
        self._n = int(ends[-1]) if len(ends) else 0
        self.ivar = None
        self.mask = None
        self.meta = kwargs.get("meta", {})
        self.layout = kwargs.get("layout", "unknown")
        self.source = kwargs.get("source", "<bytes>")
        self.medium = kwargs.get("medium")

    def _all(self) -> tuple[u.Quantity, np.ndarray]:
        if self._arrays is None:
            parts = [self._load(i) for i in range(len(self.segments))]
            wave = np.concatenate([p[0] for p in parts])
            flux = np.concatenate([p[1] for p in parts])
            self._arrays = (u.Quantity(wave, self._unit, copy=False), flux)
        return self._arrays

    @property  # type: ignore[override]
    def wavelength(self) -> u.Quantity:
        return self._all()[0]

    @property  # type: ignore[override]
    def flux(self) -> np.ndarray:
        return self._all()[1]

    def __len__(self) -> int:
        return self._n

    def segment_bounds(self) -> np.ndarray:
        b = self._bounds
        if self._unit is u.AA or self._unit == u.AA:
            return b.copy()
        return np.sort((b * self._unit).to_value(u.AA, equivalencies=u.spectral()), axis=1)

    def take(self, parts: list[int]) -> Spectrum:
        loaded = [self._load(i) for i in parts]
        sizes = np.cumsum([0] + [p[0].shape[0] for p in loaded])
        return Spectrum(
            u.Quantity(np.concatenate([p[0] for p in loaded]), self._unit, copy=False),
            np.concatenate([p[1] for p in loaded]),
            meta=self.meta,
            layout=self.layout,
            source=self.source,
            medium=self.medium,
            segments=tuple((int(a), int(b)) for a, b in itertools.pairwise(sizes)),
        )

    def __reduce__(self):
        return (
            _plain_spectrum,
            (
                self.wavelength,
                self.flux,
                self.meta,
                self.layout,
                self.source,
                self.medium,
                self.segments,
            ),
        )

    def __repr__(self) -> str:
        return (
            f"LazySegments({len(self.segments)} parts, {self._n} pixels, layout={self.layout!r}, "
            f"source={self.source!r})"
        )


def _plain_spectrum(wavelength, flux, meta, layout, source, medium, segments) -> Spectrum:
    return Spectrum(
        wavelength, flux, meta=meta, layout=layout, source=source, medium=medium, segments=segments
    )


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

"""Preprocessing parameters: validation, canonical form (for the cache key), experiment grid."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import astropy.units as u
import numpy as np

__all__ = [
    "C_KMS",
    "RESAMPLE_METHODS",
    "SCALE_METHODS",
    "ContinuumParams",
    "CutoutParams",
    "GridParams",
    "PreprocessParams",
    "ResolutionParams",
]

C_KMS = 299792.458  # speed of light, km/s
CONTINUUM_METHODS = ("chebyshev", "polynomial", "spline")
RESAMPLE_METHODS = ("linear", "flux-conserving")
SCALE_METHODS = ("minmax-1-1", "minmax-0-1", "zscore", "l2", "none")


def _canon_float(x: float) -> float:
    """Round to 12 significant digits so that 656.28 nm and 6562.8 Angstrom hash the same."""
    x = float(x)
    return float(f"{x:.12g}") if math.isfinite(x) else x


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{key}: expected a finite number, got {value!r}")
    return v


def _integer(value: Any, key: str, minimum: int = 0) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{key}: expected an integer, got {value!r}")
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        raise ValueError(f"{key}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{key}: must be >= {minimum}, got {value}")
    return int(value)


def _unit(value: Any, key: str) -> u.UnitBase:
    try:
        return u.Unit(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{key}: not a unit: {value!r}") from exc


def _quantity(value: Any, unit: u.UnitBase, key: str) -> u.Quantity:
    """A number in ``unit`` or a string with its own unit (``"656.28 nm"``)."""
    if isinstance(value, str):
        try:
            q = u.Quantity(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{key}: cannot read {value!r} as a number with a unit") from exc
        if q.unit == u.dimensionless_unscaled:
            q = q.value * unit
        return q
    return _number(value, key) * unit


def _to_aa(q: u.Quantity, key: str, *, spectral: bool = True) -> float:
    """A wavelength (or any spectral coordinate when ``spectral``) in Angstrom."""
    try:
        if spectral:
            return float(q.to_value(u.AA, equivalencies=u.spectral()))
        return float(q.to_value(u.AA))
    except u.UnitConversionError as exc:
        kind = "spectral" if spectral else "length"
        raise ValueError(f"{key}: unit {q.unit} is not a {kind} unit") from exc


def _check_keys(d: Any, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected a mapping, got {d!r}")
    unknown = sorted(set(map(str, d)) - set(allowed))
    if unknown:
        raise ValueError(f"unknown parameter {where}.{unknown[0]} (allowed: {', '.join(allowed)})")
    return d


@dataclass(frozen=True)
class ContinuumParams:
    """Continuum fit: iterative sigma-clipped least squares, flux divided by the continuum.

    The fit is in wavelength (each spectrum's range mapped onto [-1, 1]); spectra of similar
    length are fitted together, padded to a common length, which leaves the least-squares fit of a
    polynomial unchanged (see :mod:`vocloud.preprocess.continuum`).

    Attributes
    ----------
    method : str
        ``"chebyshev"``, ``"polynomial"`` (the same least-squares fit as ``"chebyshev"``: the same
        function space; it is computed in the Chebyshev basis, which is better conditioned) or
        ``"spline"`` (cubic B-spline).
    degree : int
        Polynomial degree (3 for a spline).
    knots : int or None
        Spline: number of interior knots (uniform in wavelength).
    knot_spacing : float or None
        Spline: knot spacing in Angstrom (the number of knots then follows each spectrum's range).
    sigma : tuple of float
        ``(lower, upper)`` clip in units of the residual RMS of the currently kept pixels.
    iterations : int
        Maximum number of clip-and-refit rounds after the first fit (stops early when no pixel
        changes).
    windows : tuple of (float, float)
        Wavelength ranges (Angstrom) left out of the fit, e.g. line windows.
    """

    method: str = "chebyshev"
    degree: int = 5
    knots: int | None = None
    knot_spacing: float | None = None
    sigma: tuple[float, float] = (3.0, 3.0)
    iterations: int = 5
    windows: tuple[tuple[float, float], ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContinuumParams:
        keys = ("method", "degree", "knots", "knot_spacing", "sigma", "iterations", "windows")
        d = _check_keys(d, (*keys, "unit"), "continuum")
        unit = _unit(d.get("unit", "Angstrom"), "continuum.unit")
        method = str(d.get("method", "chebyshev")).lower()
        if method not in CONTINUUM_METHODS:
            raise ValueError(
                f"continuum.method: {method!r} is not one of {', '.join(CONTINUUM_METHODS)}"
            )
        knots = knot_spacing = None
        if method == "spline":
            degree = _integer(d.get("degree", 3), "continuum.degree")
            if degree != 3:
                raise ValueError("continuum.degree: a spline continuum is cubic (degree 3)")
            if d.get("knots") is not None and d.get("knot_spacing") is not None:
                raise ValueError("continuum.knots: give knots or knot_spacing, not both")
            if d.get("knot_spacing") is not None:
                q = _quantity(d["knot_spacing"], unit, "continuum.knot_spacing")
                knot_spacing = _canon_float(_to_aa(q, "continuum.knot_spacing", spectral=False))
                if knot_spacing <= 0:
                    raise ValueError("continuum.knot_spacing: must be > 0")
            else:
                knots = _integer(d.get("knots", 10), "continuum.knots", 0)
        else:
            for k in ("knots", "knot_spacing"):
                if d.get(k) is not None:
                    raise ValueError(f"continuum.{k}: only for method spline")
            degree = _integer(d.get("degree", 5), "continuum.degree", 0)
        sig = d.get("sigma", (3.0, 3.0))
        if not isinstance(sig, (list, tuple)):
            sig = (sig, sig)
        if len(sig) != 2:
            raise ValueError(f"continuum.sigma: expected [lower, upper], got {sig!r}")
        sigma = tuple(_canon_float(_number(s, "continuum.sigma")) for s in sig)
        if min(sigma) <= 0:
            raise ValueError(f"continuum.sigma: must be > 0, got {list(sigma)}")
        iterations = _integer(d.get("iterations", 5), "continuum.iterations", 0)
        windows = []
        for w in d.get("windows") or ():
            if not isinstance(w, (list, tuple)) or len(w) != 2:
                raise ValueError(f"continuum.windows: expected [lo, hi] pairs, got {w!r}")
            lo, hi = (
                _canon_float(_to_aa(_quantity(x, unit, "continuum.windows"), "continuum.windows"))
                for x in w
            )
            lo, hi = min(lo, hi), max(lo, hi)
            windows.append((lo, hi))
        return cls(method, degree, knots, knot_spacing, sigma, iterations, tuple(sorted(windows)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "degree": self.degree,
            "knots": self.knots,
            "knot_spacing": self.knot_spacing,
            "sigma": list(self.sigma),
            "iterations": self.iterations,
            "windows": [list(w) for w in self.windows],
            "unit": "Angstrom",
        }


@dataclass(frozen=True)
class CutoutParams:
    """The wavelength range around the line, ``[center - half_width, center + half_width]`` (A)."""

    center: float = 6562.8
    half_width: float = 150.0

    @property
    def lo(self) -> float:
        return self.center - self.half_width

    @property
    def hi(self) -> float:
        return self.center + self.half_width

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CutoutParams:
        d = _check_keys(
            d, ("center", "half_width", "unit", "center_unit", "half_width_unit"), "cutout"
        )
        unit = _unit(d.get("unit", "Angstrom"), "cutout.unit")
        is_velocity = unit.physical_type == "speed"
        cunit = _unit(
            d.get("center_unit", "Angstrom" if is_velocity else unit), "cutout.center_unit"
        )
        hunit = _unit(d.get("half_width_unit", unit), "cutout.half_width_unit")
        center = _to_aa(_quantity(d.get("center", 6562.8), cunit, "cutout.center"), "cutout.center")
        if center <= 0:
            raise ValueError(f"cutout.center: must be > 0 Angstrom, got {center}")
        hq = _quantity(d.get("half_width", 150.0), hunit, "cutout.half_width")
        if hq.unit.physical_type == "speed":
            half = center * float(hq.to_value(u.km / u.s)) / C_KMS  # optical convention
        else:
            try:
                half = float(hq.to_value(u.AA))
            except u.UnitConversionError as exc:
                raise ValueError(
                    f"cutout.half_width: unit {hq.unit} is neither a length nor a velocity"
                ) from exc
        if half <= 0:
            raise ValueError(f"cutout.half_width: must be > 0, got {half}")
        return cls(_canon_float(center), _canon_float(half))

    def to_dict(self) -> dict[str, Any]:
        return {"center": self.center, "half_width": self.half_width, "unit": "Angstrom"}


MEDIA = ("air", "vacuum")
SPECTRA_MEDIA = ("auto", "air", "vacuum")


@dataclass(frozen=True)
class GridParams:
    """The experiment grid ``np.arange(start, stop + step / 2, step)`` in Angstrom, in ``medium``.

    ``medium`` (``"air"``, the default, or ``"vacuum"``) is the medium of the grid, of the cutout
    and continuum windows, and of the store's wavelengths: every spectrum is converted to it
    (:mod:`vocloud.preprocess.medium`) before the cutout. Air is the default because optical
    line lists quote air wavelengths above 2000 A (the IAU convention; H-alpha 6562.8 A, the
    default cutout centre) and because the Ondrejov / VO-CLOUD heritage spectra are in air.
    """

    start: float = 6420.0
    stop: float = 6710.0
    step: float = 0.25
    medium: str = "air"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GridParams:
        d = _check_keys(d, ("start", "stop", "step", "unit", "medium"), "grid")
        medium = str(d.get("medium", "air")).strip().lower()
        medium = {"vac": "vacuum"}.get(medium, medium)
        if medium not in MEDIA:
            raise ValueError(f"grid.medium: {d.get('medium')!r} is not one of air, vacuum")
        unit = _unit(d.get("unit", "Angstrom"), "grid.unit")
        vals = {}
        for k, default in (("start", 6420.0), ("stop", 6710.0), ("step", 0.25)):
            q = _quantity(d.get(k, default), unit, f"grid.{k}")
            vals[k] = _canon_float(_to_aa(q, f"grid.{k}", spectral=False))
        if vals["step"] <= 0:
            raise ValueError(f"grid.step: must be > 0, got {vals['step']}")
        if vals["stop"] <= vals["start"]:
            raise ValueError(f"grid.stop: must be > grid.start, got {vals['stop']}")
        if vals["start"] <= 0:
            raise ValueError(f"grid.start: must be > 0 Angstrom, got {vals['start']}")
        if (vals["stop"] - vals["start"]) / vals["step"] > 10_000_000:
            raise ValueError("grid.step: more than 10 million grid points")
        return cls(vals["start"], vals["stop"], vals["step"], medium)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "stop": self.stop,
            "step": self.step,
            "unit": "Angstrom",
            "medium": self.medium,
        }

    def array(self) -> np.ndarray:
        return np.arange(self.start, self.stop + self.step / 2, self.step, dtype=np.float64)


@dataclass(frozen=True)
class ResolutionParams:
    """Gaussian degradation to resolving power ``target``.

    ``source`` is the spectra's resolving power or the name of the header keyword holding it.
    """

    target: float
    source: float | str = "RESPOWER"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResolutionParams:
        d = _check_keys(d, ("target", "source"), "resolution")
        if "target" not in d:
            raise ValueError("resolution.target: missing (the target resolving power R)")
        target = _canon_float(_number(d["target"], "resolution.target"))
        if target <= 0:
            raise ValueError(f"resolution.target: must be > 0, got {target}")
        src = d.get("source", "RESPOWER")
        if isinstance(src, str):
            if not src.strip():
                raise ValueError("resolution.source: empty keyword name")
            source: float | str = src.strip().upper()
        else:
            source = _canon_float(_number(src, "resolution.source"))
            if source <= 0:
                raise ValueError(f"resolution.source: must be > 0, got {source}")
        return cls(target, source)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "source": self.source}


@dataclass(frozen=True)
class PreprocessParams:
    """All parameters of the preprocessing of one experiment.

    Build it from the ``preprocess`` section of an experiment file with :meth:`from_dict`;
    :meth:`to_dict` gives the canonical form (Angstrom, floats rounded to 12 digits, defaults
    filled) that the cache key hashes.

    ``spectra_medium`` says what medium the spectra's wavelengths are in: ``"auto"`` (the
    default) takes each spectrum's from its header or its layout's convention
    (:attr:`vocloud.io.Spectrum.medium`) and assumes air where neither says; ``"air"`` or
    ``"vacuum"`` overrides that for every spectrum of the experiment (e.g. a source whose headers
    are wrong). Wavelengths are then converted to ``grid.medium`` before the cutout.
    ``frame: barycentric`` corrects the wavelengths of spectra their pipeline left uncorrected
    (:mod:`vocloud.preprocess.frame`); ``rv`` then moves them to the object's rest frame: a
    velocity (km/s), a header keyword (``Z``/``REDSHIFT`` hold redshifts), or
    ``"column:<name>"``, a column of the spectra list (a TAP query's ``z`` or ``rv``).
    ``weights: true`` makes a run also store ``weight``, the inverse variance of every feature
    value (:attr:`vocloud.preprocess.BlockResult.weight`, docs/store.md): off by default, as it
    costs about 180 us per spectrum and doubles the store. It is part of the cache key (a store
    with weights is another store), and :meth:`to_dict` names it only when on, so the keys of
    stores without weights stay what they were.

    Examples
    --------
    >>> p = PreprocessParams.from_dict({
    ...     "continuum": {"method": "chebyshev", "degree": 5, "sigma": [3.0, 3.0], "iterations": 5},
    ...     "cutout": {"center": 656.28, "half_width": 150, "unit": "nm", "half_width_unit": "AA"},
    ...     "grid": {"start": 6420, "stop": 6710, "step": 0.25, "unit": "Angstrom"},
    ...     "resample": "flux-conserving", "scale": "minmax-1-1"})
    >>> p.cutout.center, p.grid().size
    (6562.8, 1161)
    >>> PreprocessParams.from_dict(p.to_dict()) == p
    True
    >>> w = PreprocessParams.from_dict({"weights": True})
    >>> w.weights, w.to_dict()["weights"], "weights" in p.to_dict()
    (True, True, False)
    >>> PreprocessParams.from_dict({"scale": "max"})
    Traceback (most recent call last):
    ...
    ValueError: scale: 'max' is not one of minmax-1-1, minmax-0-1, zscore, l2, none
    """

    continuum: ContinuumParams | None = field(default_factory=ContinuumParams)
    cutout: CutoutParams = field(default_factory=CutoutParams)
    grid_params: GridParams = field(default_factory=GridParams)
    resample: str = "flux-conserving"
    scale: str = "minmax-1-1"
    rv: float | str | None = None
    resolution: ResolutionParams | None = None
    max_bad_fraction: float = 0.2
    spectra_medium: str = "auto"
    frame: str = "as-read"
    weights: bool = False

    KEYS = (
        "continuum",
        "cutout",
        "grid",
        "resample",
        "scale",
        "rv",
        "resolution",
        "max_bad_fraction",
        "spectra_medium",
        "frame",
        "weights",
    )

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> PreprocessParams:
        """Validate and canonicalise a mapping (a ``{"preprocess": {...}}`` is unwrapped)."""
        d = {} if d is None else d
        if isinstance(d, dict) and set(d) == {"preprocess"}:
            d = d["preprocess"] or {}
        d = _check_keys(d, cls.KEYS, "preprocess")
        cont_d = d.get("continuum", {})
        if cont_d is None or cont_d is False:
            continuum = None
        else:
            continuum = ContinuumParams.from_dict({} if cont_d is True else cont_d)
        cutout = CutoutParams.from_dict(d.get("cutout") or {})
        grid = GridParams.from_dict(d.get("grid") or {})
        resample = str(d.get("resample", "flux-conserving")).lower().replace("_", "-")
        if resample not in RESAMPLE_METHODS:
            raise ValueError(f"resample: {resample!r} is not one of {', '.join(RESAMPLE_METHODS)}")
        sc = d.get("scale", "minmax-1-1")
        scale = "none" if sc is None or sc is False else str(sc).lower().replace("_", "-")
        if scale not in SCALE_METHODS:
            raise ValueError(f"scale: {sc!r} is not one of {', '.join(SCALE_METHODS)}")
        rv = d.get("rv")
        if isinstance(rv, str):
            if not rv.strip():
                raise ValueError("rv: empty keyword name")
            rv = rv.strip().upper()
            if rv.startswith("COLUMN:"):  # a column of the spectra list, e.g. a TAP query's z
                rv = "COLUMN:" + rv[7:].strip()
                if rv == "COLUMN:":
                    raise ValueError("rv: empty column name after 'column:'")
        elif rv is not None:
            rv = _canon_float(_number(rv, "rv"))
            if abs(rv) >= C_KMS:
                raise ValueError(f"rv: |v| must be below c, got {rv} km/s")
        res_d = d.get("resolution")
        resolution = None if res_d is None else ResolutionParams.from_dict(res_d)
        mbf = _canon_float(_number(d.get("max_bad_fraction", 0.2), "max_bad_fraction"))
        if not 0 <= mbf <= 1:
            raise ValueError(f"max_bad_fraction: must be within [0, 1], got {mbf}")
        sm = str(d.get("spectra_medium", "auto")).strip().lower()
        sm = {"vac": "vacuum"}.get(sm, sm)
        if sm not in SPECTRA_MEDIA:
            raise ValueError(
                f"spectra_medium: {d.get('spectra_medium')!r} is not one of auto, air, vacuum"
            )
        frame = str(d.get("frame", "as-read")).strip().lower()
        if frame not in ("as-read", "barycentric"):
            raise ValueError(f"frame: {d.get('frame')!r} is not one of as-read, barycentric")
        weights = d.get("weights", False)
        if weights is None:
            weights = False
        if not isinstance(weights, (bool, np.bool_)):
            raise ValueError(f"weights: expected true or false, got {weights!r}")
        if grid.start < cutout.lo - 1e-9 or grid.stop > cutout.hi + 1e-9:
            raise ValueError(
                f"grid: {grid.start:g}-{grid.stop:g} A is not inside the cutout "
                f"{cutout.lo:g}-{cutout.hi:g} A"
            )
        return cls(
            continuum, cutout, grid, resample, scale, rv, resolution, mbf, sm, frame, bool(weights)
        )

    def to_dict(self) -> dict[str, Any]:
        """The canonical, JSON-able form (all defaults filled, Angstrom; ``weights`` only when
        on, so that adding the option left the cache keys of stores without it unchanged)."""
        d = {
            "continuum": None if self.continuum is None else self.continuum.to_dict(),
            "cutout": self.cutout.to_dict(),
            "grid": self.grid_params.to_dict(),
            "resample": self.resample,
            "scale": self.scale,
            "rv": self.rv,
            "resolution": None if self.resolution is None else self.resolution.to_dict(),
            "max_bad_fraction": self.max_bad_fraction,
            "spectra_medium": self.spectra_medium,
            "frame": self.frame,
        }
        if self.weights:
            d["weights"] = True
        return d

    def grid(self) -> np.ndarray:
        """The experiment grid, float64 Angstrom."""
        return self.grid_params.array()

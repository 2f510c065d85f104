"""Synthetic spectra in memory: one deterministic draw per spectrum index.

Spectrum ``i`` of seed ``s`` comes from ``numpy.random.default_rng([s, i])`` alone, so an archive
does not depend on how it is split into shards or processes, and ``synthesize(n, start=k)`` gives
exactly spectra ``k .. k+n-1`` of the archive made with the same parameters.

Examples
--------
>>> from vocloud.datasets import synthesize
>>> s = synthesize(3, seed=1, layout="iraf-linear")
>>> [x.layout for x in s], s[0].flux.dtype.kind
(['iraf-linear', 'iraf-linear', 'iraf-linear'], 'f')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vocloud.datasets import profiles as ph
from vocloud.datasets.layouts import EXTENSIONS, FITS_LAYOUTS, LAYOUTS, draw_grid

LayoutSpec = str | Sequence[str] | Mapping[str, float]
"""``"mixed"`` (all layouts, equal weights), one layout name, a sequence of names (equal weights)
or a mapping name -> weight."""


@dataclass
class SyntheticSpectrum:
    """One synthetic spectrum with its truth.

    Attributes
    ----------
    index : int
        Its number ``i`` in the archive (the generator is ``default_rng([seed, i])``).
    id : str
        The archive id: ``<layout>/<NNNN>/spec-<i:09d><ext>`` (POSIX, no ``.gz``), NNNN =
        ``i // files_per_dir``.
    layout : str
        One of :data:`~vocloud.datasets.LAYOUTS`.
    wavelength : numpy.ndarray
        float64 Angstrom (air), as the file gives it (float32 columns of LAMOST/SDSS widened).
    flux : numpy.ndarray
        The flux written: float32 (float64 for ``BITPIX = -64`` IRAF files); NaN or 0 in dead runs.
    ivar : numpy.ndarray
        float32 inverse variance (0 in dead runs); written only where the layout has it (LAMOST,
        SDSS, ``IVAR``/``ERROR`` columns of two-column, ``flux_error`` of VOTable, CSV ``ivar``).
    mask : numpy.ndarray
        bool, ``True`` = bad pixel (the dead run of ``dead`` outliers).
    meta : dict
        ``OBJECT``, ``RA``, ``DEC``, ``SNR``, ``RESPOWER``, ``VOSYNID`` as written in the file.
    cls : str
        The truth: one of :data:`~vocloud.datasets.CLASSES` or ``"outlier"``.
    outlier_kind : str
        ``""``, or ``"spike"``, ``"dead"``, ``"strange"``.
    base_class : str
        The profile underneath (= ``cls`` for normal spectra; for spikes and dead runs the class
        that was damaged; ``"p-cygni"``, ``"inverse-p-cygni"`` or ``"broad-bump"`` for strange).
    detail : str
        Human-readable outlier detail.
    snr, rv, resolving_power : float
        S/N at the continuum, radial velocity (km/s), λ/Δλ.
    continuum : numpy.ndarray
        The true continuum (float64, 1 at H-alpha).
    model : numpy.ndarray
        The noise-free flux (continuum x profile, float64), before outlier damage.
    components : numpy.ndarray
        Intrinsic Gaussian components ``(offset Å, amplitude, sigma Å)`` of the profile.
    gzip : bool
        Whether the archive writes it gzipped (``.fits.gz``).
    variant : dict
        Layout writer choices (header variant); see :func:`vocloud.datasets.layouts.draw_grid`.
    """

    index: int
    id: str
    layout: str
    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    meta: dict[str, Any]
    cls: str
    outlier_kind: str
    base_class: str
    detail: str
    snr: float
    rv: float
    resolving_power: float
    continuum: np.ndarray
    model: np.ndarray
    components: np.ndarray
    gzip: bool = False
    variant: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def path(self) -> str:
        """The relative path of the file (``id`` plus ``.gz`` when gzipped)."""
        return self.id + ".gz" if self.gzip else self.id

    @property
    def normalized(self) -> np.ndarray:
        """Flux divided by the true continuum (float64)."""
        return self.flux / self.continuum


@dataclass(frozen=True)
class SynthConfig:
    """Normalised, picklable generator parameters (see :func:`synthesize`)."""

    seed: int
    layouts: tuple[tuple[str, float], ...]
    classes: tuple[tuple[str, float], ...]
    snr: tuple[float, float]
    rv: float
    outlier_fraction: float
    gzip_fraction: float
    files_per_dir: int

    @classmethod
    def make(
        cls,
        *,
        seed: int = 0,
        layouts: LayoutSpec = "mixed",
        class_weights: Mapping[str, float] | None = None,
        snr: float | tuple[float, float] = (30.0, 300.0),
        rv: float = 100.0,
        outlier_fraction: float = 0.02,
        gzip_fraction: float = 0.0,
        files_per_dir: int = 1000,
    ) -> SynthConfig:
        if isinstance(snr, (int, float)):
            snr = (float(snr), float(snr))
        lo, hi = (float(x) for x in snr)
        if not 0 < lo <= hi:
            raise ValueError(f"snr must be a positive number or (low, high), got {snr!r}")
        if not 0.0 <= outlier_fraction <= 1.0 or not 0.0 <= gzip_fraction <= 1.0:
            raise ValueError("outlier_fraction and gzip_fraction must be within [0, 1]")
        if rv < 0:
            raise ValueError(f"rv is the half-width of the radial velocity range, got {rv}")
        if int(files_per_dir) < 1:
            raise ValueError("files_per_dir must be >= 1")
        return cls(
            seed=int(seed),
            layouts=normalize_weights(layouts, LAYOUTS, "layout"),
            classes=normalize_weights(
                ph.CLASSES if class_weights is None else class_weights, ph.CLASSES, "class"
            ),
            snr=(lo, hi),
            rv=float(rv),
            outlier_fraction=float(outlier_fraction),
            gzip_fraction=float(gzip_fraction),
            files_per_dir=int(files_per_dir),
        )

    def as_json(self) -> dict[str, Any]:
        """The parameters as plain JSON types."""
        return {
            "seed": self.seed,
            "layouts": dict(self.layouts),
            "class_weights": dict(self.classes),
            "snr": list(self.snr),
            "rv": self.rv,
            "outlier_fraction": self.outlier_fraction,
            "gzip_fraction": self.gzip_fraction,
            "files_per_dir": self.files_per_dir,
        }


def normalize_weights(
    spec: LayoutSpec, names: Sequence[str], what: str
) -> tuple[tuple[str, float], ...]:
    """``(name, probability)`` pairs in the canonical order of ``names``, zero weights dropped.

    Examples
    --------
    >>> normalize_weights({"b": 3, "a": 1}, ("a", "b", "c"), "x")
    (('a', 0.25), ('b', 0.75))
    """
    if isinstance(spec, str):
        weights = dict.fromkeys(names, 1.0) if spec in ("mixed", "all") else {spec: 1.0}
    elif isinstance(spec, Mapping):
        weights = {str(k): float(v) for k, v in spec.items()}
    else:
        weights = dict.fromkeys((str(x) for x in spec), 1.0)
    bad = sorted(set(weights) - set(names))
    if bad:
        raise ValueError(f"unknown {what}(s) {bad}; expected some of {tuple(names)}")
    if any(w < 0 or not math.isfinite(w) for w in weights.values()):
        raise ValueError(f"{what} weights must be finite and >= 0: {weights}")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"no {what} with a positive weight: {weights}")
    return tuple((n, weights[n] / total) for n in names if weights.get(n, 0.0) > 0)


def _pick(pairs: tuple[tuple[str, float], ...], u: float) -> str:
    acc = 0.0
    for name, p in pairs:
        acc += p
        if u < acc:
            return name
    return pairs[-1][0]


def _object_name(ra: float, dec: float) -> str:
    """``SYN Jhhmmss.s+ddmmss`` from degrees."""
    h = ra / 15.0
    hh, mm = int(h), int((h % 1) * 60)
    ss = ((h * 60) % 1) * 60
    sign = "+" if dec >= 0 else "-"
    d = abs(dec)
    dd, dm = int(d), int((d % 1) * 60)
    ds = int(((d * 60) % 1) * 60)
    return f"SYN J{hh:02d}{mm:02d}{min(ss, 59.9):04.1f}{sign}{dd:02d}{dm:02d}{ds:02d}"


def spectrum_id(layout: str, index: int, files_per_dir: int) -> str:
    """The archive id (relative POSIX path, no ``.gz``) of spectrum ``index``.

    Examples
    --------
    >>> spectrum_id("csv", 12345, 1000)
    'csv/0012/spec-000012345.csv'
    """
    return f"{layout}/{index // files_per_dir:04d}/spec-{index:09d}{EXTENSIONS[layout]}"


def draw_spectrum(cfg: SynthConfig, i: int) -> SyntheticSpectrum:
    """Spectrum ``i`` of the configuration ``cfg`` (deterministic, independent of the others)."""
    rng = np.random.default_rng([cfg.seed, i])
    u = rng.random(8)
    layout = _pick(cfg.layouts, u[0])
    is_outlier = bool(u[1] < cfg.outlier_fraction)
    base = _pick(cfg.classes, u[2])
    kind = ph.OUTLIER_KINDS[int(u[3] * 3)] if is_outlier else ""
    gz = bool(layout in FITS_LAYOUTS and u[4] < cfg.gzip_fraction)
    ra = round(360.0 * u[5], 6)
    dec = round(math.degrees(math.asin(2.0 * u[6] - 1.0)), 6)
    lo, hi = cfg.snr
    snr = round(lo * (hi / lo) ** u[7], 2)
    rv = round(cfg.rv * (2.0 * rng.random() - 1.0), 3)

    grid = draw_grid(layout, rng)
    wl = grid.wavelength
    slsf = ph.sigma_lsf(grid.resolving_power)
    slope, curv = ph.draw_continuum(rng)
    cont = ph.continuum(wl, slope, curv)
    detail = ""
    if kind == "strange":
        base = ("p-cygni", "inverse-p-cygni", "broad-bump")[int(rng.integers(0, 3))]
        detail = base
    comps = ph.draw_profile(base, rng, slsf)
    prof = ph.evaluate_profile(wl, comps, rv=rv, sigma_lsf=slsf)
    model = cont * prof
    flux, ivar = ph.add_noise(model, snr, rng)
    mask = np.zeros(wl.shape[0], dtype=bool)
    centre = ph.HALPHA_AIR * (1.0 + rv / ph.C_KMS)
    if kind == "spike":
        detail = ph.add_spikes(flux, wl, centre, rng)
    elif kind == "dead":
        seg, nan = ph.dead_segment(wl, centre, rng)
        flux[seg] = np.nan if nan else 0.0
        ivar[seg] = 0.0
        mask[seg] = True
        detail = f"{seg.stop - seg.start} px of {'NaN' if nan else 'zeros'}"

    dtype = np.float64 if grid.variant.get("bitpix") == -64 else np.float32
    meta = {
        "OBJECT": _object_name(ra, dec),
        "RA": ra,
        "DEC": dec,
        "SNR": snr,
        "RESPOWER": grid.resolving_power,
        "VOSYNID": f"syn-{cfg.seed}-{i:09d}",
    }
    return SyntheticSpectrum(
        index=i,
        id=spectrum_id(layout, i, cfg.files_per_dir),
        layout=layout,
        wavelength=wl,
        flux=flux.astype(dtype),
        ivar=ivar.astype(np.float32),
        mask=mask,
        meta=meta,
        cls=ph.OUTLIER if is_outlier else base,
        outlier_kind=kind,
        base_class=base,
        detail=detail,
        snr=snr,
        rv=rv,
        resolving_power=grid.resolving_power,
        continuum=cont,
        model=model,
        components=comps,
        gzip=gz,
        variant=grid.variant,
    )


def synthesize(
    n: int,
    *,
    seed: int = 0,
    layout: LayoutSpec = "lamost-dr7",
    start: int = 0,
    snr: float | tuple[float, float] = (30.0, 300.0),
    rv: float = 100.0,
    outlier_fraction: float = 0.02,
    class_weights: Mapping[str, float] | None = None,
    gzip_fraction: float = 0.0,
    files_per_dir: int = 1000,
) -> list[SyntheticSpectrum]:
    """Synthesize ``n`` spectra in memory (no files).

    With the same parameters as :func:`~vocloud.datasets.make_archive` (``layout`` there is
    ``layouts``) spectrum ``k`` here is exactly the file of index ``start + k`` of that archive.

    Parameters
    ----------
    n : int
        Number of spectra.
    seed : int
        Seed; spectrum ``i`` is drawn from ``numpy.random.default_rng([seed, i])``.
    layout : str, sequence of str or mapping
        ``"mixed"``, one of :data:`~vocloud.datasets.LAYOUTS`, several (equal weights) or
        ``{name: weight}``. Decides the wavelength grid and resolving power.
    start : int
        Index of the first spectrum.
    snr : float or (float, float)
        S/N at the continuum near H-alpha, log-uniform within the range.
    rv : float
        Radial velocities are uniform in ``[-rv, rv]`` km/s.
    outlier_fraction : float
        Probability of an outlier (spike, dead run or strange profile, equally likely).
    class_weights : mapping, optional
        ``{class: weight}`` over :data:`~vocloud.datasets.CLASSES`; default equal weights. Use
        ``{"shell": 1}`` for one class only.
    gzip_fraction : float
        Probability that a FITS spectrum is marked ``gzip`` (written ``.fits.gz`` by archives).
    files_per_dir : int
        Only for the ``id`` (directory number ``i // files_per_dir``).

    Returns
    -------
    list of SyntheticSpectrum

    Examples
    --------
    >>> import numpy as np
    >>> s = synthesize(2, seed=7, layout="iraf-linear", class_weights={"single-peak": 1},
    ...                outlier_fraction=0.0)
    >>> s[0].cls, s[0].wavelength.shape == s[0].flux.shape
    ('single-peak', True)
    >>> near = np.abs(s[0].wavelength - 6562.8) < 3
    >>> bool(s[0].normalized[near].max() > 1.2)
    True
    """
    cfg = SynthConfig.make(
        seed=seed,
        layouts=layout,
        class_weights=class_weights,
        snr=snr,
        rv=rv,
        outlier_fraction=outlier_fraction,
        gzip_fraction=gzip_fraction,
        files_per_dir=files_per_dir,
    )
    return [draw_spectrum(cfg, i) for i in range(int(start), int(start) + int(n))]

"""Physics of the synthetic spectra: H-alpha profile classes of Be stars, continuum, LSF, noise, outliers.

The profile classes follow the Ondřejov Be-star studies (e.g. Bromová et al. 2014, Škoda et al. 2020):

``absorption``
    pure photospheric absorption (a Gaussian core plus broad wings).
``emission-in-absorption``
    a narrow emission filling the centre of a broad absorption (W-shaped, centre above the troughs).
``double-peak``
    double-peaked disk emission (violet and red peaks, V/R asymmetry), centre above the continuum.
``single-peak``
    one emission peak, possibly asymmetric, with broad wings.
``shell``
    double-peaked emission with a deep narrow central absorption going below the continuum.

Outliers (class ``"outlier"``) are of three kinds: ``spike`` (cosmic rays), ``dead`` (a run of
zeros or NaN, flagged in ivar/mask) and ``strange`` (P-Cygni, inverse P-Cygni or a very broad bump).

Every line is a sum of Gaussian components relative to the continuum. The instrument's line spread
function (a Gaussian of FWHM λ/R) is applied analytically: each component's sigma becomes
``sqrt(sigma**2 + sigma_lsf**2)`` and its amplitude shrinks by ``sigma / sigma_total``, which keeps
its equivalent width. The class-defining central level of ``shell`` and ``emission-in-absorption``
profiles is set *after* the convolution (the amplitude of the central component is solved for), so
the classes stay recognisable from R ~ 1,800 (LAMOST) to R ~ 13,000 (Ondřejov).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> comps = draw_profile("shell", rng, sigma_lsf=1.5)
>>> wl = np.linspace(6500.0, 6630.0, 2000)
>>> p = evaluate_profile(wl, comps, rv=0.0, sigma_lsf=1.5)
>>> bool(p.max() > 1.0 and p[np.argmin(abs(wl - HALPHA_AIR))] < 1.0)
True
"""

from __future__ import annotations

import math

import numpy as np

HALPHA_AIR = 6562.8
"""H-alpha rest wavelength in air, Angstrom."""
C_KMS = 299792.458
"""Speed of light, km/s."""
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

CLASSES = ("absorption", "emission-in-absorption", "double-peak", "single-peak", "shell")
"""The five profile classes, exactly these strings."""
OUTLIER = "outlier"
"""Class name of the outliers."""
OUTLIER_KINDS = ("spike", "dead", "strange")
"""The kinds of outlier."""

# A profile is a float64 array of shape (k, 3): offset from the line centre (Angstrom, rest frame),
# amplitude relative to the continuum (+ emission, - absorption), intrinsic sigma (Angstrom).


def sigma_lsf(resolving_power: float, wavelength: float = HALPHA_AIR) -> float:
    """Gaussian sigma (Angstrom) of the line spread function of resolving power R at ``wavelength``.

    Examples
    --------
    >>> round(sigma_lsf(1800.0), 3)
    1.548
    """
    return wavelength / (resolving_power * FWHM_PER_SIGMA)


def _convolved(comps: np.ndarray, slsf: float) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes and sigmas after convolution with the LSF (equivalent width preserved)."""
    s = comps[:, 2]
    st = np.sqrt(s * s + slsf * slsf)
    return comps[:, 1] * s / st, st


def _level_at(offset: float, comps: np.ndarray, slsf: float) -> float:
    """Observed (convolved) normalised flux at ``offset`` from the line centre."""
    if len(comps) == 0:
        return 1.0
    a, st = _convolved(comps, slsf)
    z = (offset - comps[:, 0]) / st
    return 1.0 + float(np.sum(a * np.exp(-0.5 * z * z)))


def _central_absorption(
    comps: np.ndarray, target: float, sigma: float, slsf: float, offset: float = 0.0
) -> np.ndarray:
    """Add a central absorption of intrinsic ``sigma`` so that the observed centre equals ``target``.

    The amplitude is solved in the convolved profile; if the intrinsic profile would go below
    2 % of the continuum the absorption is widened until it does not.
    """
    here = _level_at(offset, comps, slsf)
    for _ in range(20):
        st = math.sqrt(sigma * sigma + slsf * slsf)
        depth = max(here - target, 0.0) * st / sigma  # intrinsic depth giving the observed target
        intrinsic_centre = 1.0 + float(
            np.sum(comps[:, 1] * np.exp(-0.5 * ((offset - comps[:, 0]) / comps[:, 2]) ** 2))
        )
        if intrinsic_centre - depth >= 0.02:
            break
        sigma *= 1.2
    return np.vstack([comps, [offset, -depth, sigma]])


def draw_profile(cls: str, rng: np.random.Generator, sigma_lsf: float) -> np.ndarray:
    """Draw the Gaussian components of one H-alpha profile of class ``cls``.

    Parameters
    ----------
    cls : str
        One of :data:`CLASSES`, or ``"p-cygni"``, ``"inverse-p-cygni"``, ``"broad-bump"`` (the
        strange outliers).
    rng : numpy.random.Generator
        Source of randomness (widths, depths, peak separation, asymmetry).
    sigma_lsf : float
        Sigma of the line spread function in Angstrom (see :func:`sigma_lsf`).

    Returns
    -------
    numpy.ndarray
        Shape ``(k, 3)``: offset (Angstrom, rest frame), intrinsic amplitude, intrinsic sigma.
    """
    u = rng.random(12)
    if cls == "absorption":
        depth = 0.25 + 0.4 * u[0]
        sig = 2.5 + 5.0 * u[1]
        wing = 0.15 * u[2]
        comps = np.array(
            [
                [0.3 * (u[3] - 0.5), -depth, sig],
                [0.0, -wing, sig * (2.0 + 1.5 * u[4])],
            ]
        )
    elif cls == "emission-in-absorption":
        depth = 0.35 + 0.3 * u[0]
        sig_a = 5.0 + 4.0 * u[1]
        wing = 0.1 * u[2]
        sig_e = 0.8 + 1.0 * u[3]
        base = np.array([[0.0, -depth, sig_a], [0.0, -wing, sig_a * 2.2]])
        # observed centre between 0.95 and 1.35: a clear central bump inside the broad trough
        target = 0.95 + 0.4 * u[4]
        here = _level_at(0.0, base, sigma_lsf)
        st = math.sqrt(sig_e * sig_e + sigma_lsf * sigma_lsf)
        amp = (target - here) * st / sig_e
        comps = np.vstack([base, [0.4 * (u[5] - 0.5), amp, sig_e]])
    elif cls in ("double-peak", "shell"):
        sig_e = 0.9 + 1.1 * u[0]
        st = math.sqrt(sig_e * sig_e + sigma_lsf * sigma_lsf)
        half_sep = max(2.5 + 3.5 * u[1], (1.8 + 1.2 * u[2]) * st)  # resolved peaks
        strength = 0.5 + 2.0 * u[3] if cls == "double-peak" else 0.4 + 1.4 * u[3]
        vr = 0.65 + 0.7 * u[4]  # V/R ratio
        fill = 0.1 + 0.3 * u[11]  # broad disk emission under the peaks
        comps = np.array(
            [
                [-half_sep, strength * vr / (1 + vr) * 2, sig_e * (0.9 + 0.2 * u[5])],
                [half_sep, strength / (1 + vr) * 2, sig_e * (0.9 + 0.2 * u[6])],
                [0.0, fill * strength, 1.3 * half_sep],
            ]
        )
        comps[:2, 1] *= st / comps[:2, 2]  # amplitudes above are the observed peak heights
        if cls == "double-peak":
            phot = np.array([[0.0, -0.12 * u[7], 6.0 + 3.0 * u[8]]])
            comps = np.vstack([comps, phot])
            centre = _level_at(0.0, comps, sigma_lsf)
            if centre < 1.08:  # keep the centre above the continuum: not a shell
                comps = comps[:3]
        else:
            target = 0.2 + 0.6 * u[9]  # the shell core goes below the continuum
            comps = _central_absorption(comps, target, 0.8 + 0.8 * u[10], sigma_lsf)
    elif cls == "single-peak":
        height = 0.5 + 3.0 * u[0]
        sig = 1.5 + 2.5 * u[1]
        st = math.sqrt(sig * sig + sigma_lsf * sigma_lsf)
        asym = 0.4 * u[2]
        side = 1.0 if u[3] < 0.5 else -1.0
        comps = np.array(
            [
                [0.3 * (u[4] - 0.5), height * st / sig, sig],
                [side * (0.5 + 1.5 * u[5]), asym * height * st / sig, sig * (1.0 + 0.5 * u[6])],
                [0.0, 0.2 * height * u[7], sig * (3.0 + 2.0 * u[8])],
            ]
        )
    elif cls == "p-cygni":
        comps = np.array(
            [
                [2.0 + 4.0 * u[0], 0.6 + 1.5 * u[1], 1.5 + 1.5 * u[2]],
                [-(2.5 + 4.0 * u[3]), -(0.3 + 0.4 * u[4]), 1.0 + 1.5 * u[5]],
            ]
        )
    elif cls == "inverse-p-cygni":
        comps = np.array(
            [
                [-(2.0 + 4.0 * u[0]), 0.6 + 1.5 * u[1], 1.5 + 1.5 * u[2]],
                [2.5 + 4.0 * u[3], -(0.3 + 0.4 * u[4]), 1.0 + 1.5 * u[5]],
            ]
        )
    elif cls == "broad-bump":
        sign = 1.0 if u[0] < 0.6 else -1.0
        comps = np.array([[40.0 * (u[1] - 0.5), sign * (0.2 + 0.5 * u[2]), 25.0 + 35.0 * u[3]]])
    else:
        raise ValueError(f"unknown profile class {cls!r}")
    return np.asarray(comps, dtype=np.float64)


def evaluate_profile(
    wavelength: np.ndarray,
    comps: np.ndarray,
    *,
    rv: float,
    sigma_lsf: float,
    centre: float = HALPHA_AIR,
    nsig: float = 8.0,
) -> np.ndarray:
    """The observed normalised profile (1 = continuum) on an increasing wavelength grid.

    Each component, Doppler-shifted by ``rv`` (km/s) and convolved with the LSF, is evaluated only
    within ``nsig`` of its centre (fast on long grids).

    Examples
    --------
    >>> wl = np.linspace(6500, 6600, 5)
    >>> evaluate_profile(wl, np.zeros((0, 3)), rv=0.0, sigma_lsf=1.0)
    array([1., 1., 1., 1., 1.])
    """
    prof = np.ones(wavelength.shape, dtype=np.float64)
    if len(comps) == 0:
        return prof
    doppler = 1.0 + rv / C_KMS
    amp, st = _convolved(comps, sigma_lsf)
    mu = (centre + comps[:, 0]) * doppler
    st = st * doppler
    los = np.searchsorted(wavelength, mu - nsig * st)
    his = np.searchsorted(wavelength, mu + nsig * st)
    for a, m, s, lo, hi in zip(amp.tolist(), mu.tolist(), st.tolist(), los.tolist(), his.tolist()):
        if hi > lo:
            z = (wavelength[lo:hi] - m) * (1.0 / s)
            prof[lo:hi] += a * np.exp(-0.5 * z * z)
    return prof


def continuum(wavelength: np.ndarray, slope: float, curvature: float) -> np.ndarray:
    """A smooth continuum ``1 + slope x + curvature x**2`` with ``x = (λ - 6562.8 Å) / 1000 Å``.

    It is 1 at H-alpha and clipped at 0.05 far from it.
    """
    x = (wavelength - HALPHA_AIR) * 1e-3
    c = 1.0 + x * (slope + curvature * x)
    return np.maximum(c, 0.05, out=c)


def draw_continuum(rng: np.random.Generator) -> tuple[float, float]:
    """Random slope (per 1000 Å) and curvature of the continuum: hot stars, mostly blue-rising."""
    u = rng.random(2)
    return -0.25 + 0.35 * u[0], -0.04 + 0.12 * u[1]


def add_noise(
    model: np.ndarray, snr: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Photon-like Gaussian noise: S/N ``snr`` at the continuum level 1, scaling as sqrt(flux).

    Returns
    -------
    flux, ivar : numpy.ndarray
        Noisy flux (float64) and inverse variance (float64).
    """
    sigma = np.sqrt(np.maximum(model, 0.05)) * (1.0 / snr)
    flux = model + sigma * rng.standard_normal(model.shape[0], dtype=np.float32)
    return flux, 1.0 / (sigma * sigma)


def add_spikes(
    flux: np.ndarray, wavelength: np.ndarray, centre: float, rng: np.random.Generator
) -> str:
    """Add 1-5 cosmic-ray spikes (1-2 px, 3-30 x the continuum), one within 30 Å of the line."""
    n = wavelength.shape[0]
    k = int(rng.integers(1, 6))
    near = np.searchsorted(wavelength, centre + rng.uniform(-30.0, 30.0, 1))
    pos = np.concatenate([near, rng.integers(0, n, k - 1)])
    pos = np.clip(pos, 0, n - 2)
    heights = rng.uniform(3.0, 30.0, k)
    width2 = rng.random(k) < 0.4
    for p, h, w in zip(pos.tolist(), heights.tolist(), width2.tolist()):
        flux[p] += h
        if w:
            flux[p + 1] += 0.5 * h
    return f"{k} cosmic-ray spike(s)"


def dead_segment(
    wavelength: np.ndarray, centre: float, rng: np.random.Generator
) -> tuple[slice, bool]:
    """A run of 5-30 % of the pixels containing a point within 30 Å of the line.

    Returns
    -------
    segment : slice
        The pixels to kill.
    nan : bool
        ``True``: fill with NaN, ``False``: with zeros.
    """
    n = wavelength.shape[0]
    length = max(5, int(n * rng.uniform(0.05, 0.30)))
    anchor = int(np.searchsorted(wavelength, centre + rng.uniform(-30.0, 30.0)))
    start = anchor - int(rng.integers(0, length))
    start = min(max(start, 0), n - length)
    return slice(start, start + length), bool(rng.random() < 0.5)

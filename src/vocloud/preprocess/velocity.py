"""Radial-velocity shift to the rest frame and Gaussian degradation to a lower resolving power."""

from __future__ import annotations

import numpy as np

from vocloud.preprocess.params import C_KMS

__all__ = ["FWHM_TO_SIGMA", "degradation_sigma", "gaussian_degrade", "to_rest_frame"]

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))  # 1 / 2.3548


def to_rest_frame(wavelength: np.ndarray, v_kms: float | np.ndarray) -> np.ndarray:
    """``lambda_rest = lambda_obs / (1 + v / c)``; ``v_kms`` a scalar or one value per row.

    Examples
    --------
    >>> float(to_rest_frame(np.array([6562.8 * (1 + 100 / 299792.458)]), 100.0)[0])
    6562.8
    """
    w = np.asarray(wavelength, dtype=np.float64)
    v = np.asarray(v_kms, dtype=np.float64)
    if v.ndim == 1 and w.ndim == 2:
        v = v[:, None]
    return w / (1.0 + v / C_KMS)


def degradation_sigma(center: float, r_target: float, r_source: float | np.ndarray) -> np.ndarray:
    """Gaussian kernel sigma (Angstrom) taking resolving power ``r_source`` to ``r_target``.

    ``sigma = sqrt((center / R_t)**2 - (center / R_s)**2) / 2.3548``; 0 where ``R_s <= R_t``
    (nothing to do) and NaN where ``R_s`` is not a positive number.

    Examples
    --------
    >>> degradation_sigma(6562.8, 1800.0, np.array([13000.0, 1000.0])).round(4)
    array([1.5334, 0.    ])
    """
    rs = np.asarray(r_source, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (center / r_target) ** 2 - (center / rs) ** 2
        sig = np.sqrt(np.maximum(var, 0.0)) * FWHM_TO_SIGMA
    sig = np.where(rs <= r_target, 0.0, sig)
    return np.where(~np.isnan(rs) & (rs > 0), sig, np.nan)


def gaussian_degrade(
    wavelength: np.ndarray,
    flux: np.ndarray,
    sigma: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    truncate: float = 4.0,
) -> np.ndarray:
    """Convolve each row with a Gaussian of ``sigma[i]`` Angstrom, on its own (uneven) pixels.

    ``out_i = sum_j K(l_j - l_i) f_j dl_j / sum_j K(l_j - l_i) dl_j`` over ``|l_j - l_i| <=
    truncate * sigma`` (renormalised at the ends, so a flat spectrum stays flat); rows with
    ``sigma == 0`` are returned unchanged; ``valid`` excludes padded pixels.

    Examples
    --------
    >>> w = np.arange(6500.0, 6600.0, 0.1)[None]
    >>> f = 1 + (np.abs(w - 6550) < 0.05)
    >>> out = gaussian_degrade(w, f, np.array([1.0]))
    >>> round(float((out - 1).sum() * 0.1), 4)  # the line flux is kept
    0.1
    """
    w = np.atleast_2d(np.asarray(wavelength, dtype=np.float64))
    f = np.atleast_2d(np.asarray(flux, dtype=np.float64))
    sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (w.shape[0],))
    out = f.copy()
    rows = np.flatnonzero(sig > 0)
    if rows.size == 0 or w.shape[1] < 2:
        return out
    w, f, s = w[rows], f[rows], sig[rows]
    b, k = w.shape
    v = np.ones((b, k), bool) if valid is None else np.atleast_2d(valid)[rows]
    dl = np.gradient(w, axis=1) * v
    spacing = np.diff(w, axis=1)
    spacing = np.where(v[:, 1:] & (spacing > 0), spacing, np.inf).min(axis=1)
    h = int(min(k - 1, np.ceil((truncate * s / spacing).max())))
    num = f * dl
    den = dl.copy()
    inv2s2 = (-0.5 / s**2)[:, None]
    for o in range(1, h + 1):
        # pixel i gets j = i + o (right) and j = i - o (left); the kernel is symmetric in l.
        d = w[:, o:] - w[:, :-o]
        kern = np.exp(d * d * inv2s2)
        kern[d > truncate * s[:, None]] = 0.0
        num[:, :-o] += kern * f[:, o:] * dl[:, o:]
        den[:, :-o] += kern * dl[:, o:]
        num[:, o:] += kern * f[:, :-o] * dl[:, :-o]
        den[:, o:] += kern * dl[:, :-o]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[rows] = np.where(den > 0, num / den, f)
    return out

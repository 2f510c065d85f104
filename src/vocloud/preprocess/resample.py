"""Resampling a block of spectra onto the experiment grid: linear or flux-conserving.

Rows are sorted, strictly increasing wavelengths of equal length (pad a short row by extending
its wavelengths, see :func:`vocloud.preprocess.cutout.extend_wavelengths`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["bin_edges", "fill_bad", "resample", "resample_flux_conserving", "resample_linear"]


def bin_edges(centres: np.ndarray) -> np.ndarray:
    """Bin edges (``... x (k + 1)``) around centres: midpoints, the ends mirrored (as SpectRes).

    Examples
    --------
    >>> bin_edges(np.array([1.0, 2.0, 4.0]))
    array([0.5, 1.5, 3. , 5. ])
    """
    c = np.asarray(centres, dtype=np.float64)
    e = np.empty((*c.shape[:-1], c.shape[-1] + 1), dtype=np.float64)
    e[..., 1:-1] = 0.5 * (c[..., 1:] + c[..., :-1])
    e[..., 0] = c[..., 0] - 0.5 * (c[..., 1] - c[..., 0])
    e[..., -1] = c[..., -1] + 0.5 * (c[..., -1] - c[..., -2])
    return e


def fill_bad(wavelength: np.ndarray, flux: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Replace pixels where ``ok`` is False by linear interpolation between good neighbours.

    Before the first (after the last) good pixel the first (last) good value is repeated; a row
    without any good pixel is returned unchanged. Equivalent to interpolating on good pixels only.

    Examples
    --------
    >>> fill_bad(np.arange(5.0)[None], np.array([[0.0, np.nan, 2.0, 9.0, np.nan]]),
    ...          np.array([[True, False, True, False, False]]))
    array([[0., 1., 2., 2., 2.]])
    """
    w = np.atleast_2d(wavelength)
    f = np.atleast_2d(flux)
    ok = np.atleast_2d(ok)
    if ok.all():
        return f.copy()
    _b, k = f.shape
    cols = np.arange(k)
    prev = np.where(ok, cols, -1)
    np.maximum.accumulate(prev, axis=1, out=prev)
    nxt = np.where(ok, cols, k)[:, ::-1]
    nxt = np.minimum.accumulate(nxt, axis=1)[:, ::-1]
    p = np.where(prev < 0, nxt, prev)
    q = np.where(nxt >= k, p, nxt)
    p = np.minimum(p, k - 1)
    q = np.minimum(q, k - 1)
    wp, wq = np.take_along_axis(w, p, 1), np.take_along_axis(w, q, 1)
    fp, fq = np.take_along_axis(f, p, 1), np.take_along_axis(f, q, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(wq > wp, (w - wp) / (wq - wp), 0.0)
        filled = fp + t * (fq - fp)
    return np.where(ok, f, filled)


def resample_linear(wavelength: np.ndarray, flux: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of each row at ``grid`` (float64, ``B x m``).

    Examples
    --------
    >>> resample_linear(np.array([[1.0, 2.0, 3.0]]), np.array([[0.0, 2.0, 4.0]]),
    ...                 np.array([1.5, 2.5]))
    array([[1., 3.]])
    """
    w = np.atleast_2d(wavelength)
    f = np.atleast_2d(flux)
    g = np.asarray(grid, dtype=np.float64)
    out = np.empty((w.shape[0], g.size), dtype=np.float64)
    for i in range(w.shape[0]):  # np.interp: a few us per row, guess-based search
        out[i] = np.interp(g, w[i], f[i])
    return out


def resample_flux_conserving(
    wavelength: np.ndarray, flux: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    """Flux-conserving resampling (the SpectRes definition) of each row onto ``grid``.

    Each source pixel is a constant over its bin; the cumulative integral at the source edges is
    interpolated (exactly: it is piecewise linear) at the target edges, differenced and divided by
    the target widths, so the integral of the flux over any range of whole target bins is kept.
    Target bins reaching beyond the source edges see the end pixel's value continued.

    Examples
    --------
    >>> w = np.array([[1.0, 2.0, 3.0, 4.0]])
    >>> resample_flux_conserving(w, np.array([[1.0, 3.0, 1.0, 1.0]]), np.array([1.5, 3.5]))
    array([[2., 1.]])
    """
    w = np.atleast_2d(wavelength)
    f = np.atleast_2d(flux).astype(np.float64, copy=False)
    g = np.asarray(grid, dtype=np.float64)
    b, k = w.shape
    se = bin_edges(w)
    te = bin_edges(g)
    big = 1e6 * (te[-1] - te[0] + se[:, -1] - se[:, 0])
    xs = np.empty((b, k + 3))
    xs[:, 0] = se[:, 0] - big
    xs[:, 1:-1] = se
    xs[:, -1] = se[:, -1] + big
    cum = np.empty((b, k + 3))
    cum[:, 1] = 0.0
    np.cumsum(f * np.diff(se, axis=1), axis=1, out=cum[:, 2:-1])
    cum[:, 0] = -f[:, 0] * big
    cum[:, -1] = cum[:, -2] + f[:, -1] * big
    at = np.empty((b, te.size))
    for i in range(b):
        at[i] = np.interp(te, xs[i], cum[i])
    return np.diff(at, axis=1) / np.diff(te)


def resample(
    wavelength: np.ndarray, flux: np.ndarray, grid: np.ndarray, method: str = "flux-conserving"
) -> np.ndarray:
    """Dispatch to :func:`resample_linear` or :func:`resample_flux_conserving`; float32 ``B x m``.

    Examples
    --------
    >>> resample(np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 1.0, 1.0]]), [2.0], "linear")
    array([[1.]], dtype=float32)
    """
    if method == "linear":
        out = resample_linear(wavelength, flux, grid)
    elif method == "flux-conserving":
        out = resample_flux_conserving(wavelength, flux, grid)
    else:
        raise ValueError(f"resample: {method!r} is not one of linear, flux-conserving")
    return out.astype(np.float32)

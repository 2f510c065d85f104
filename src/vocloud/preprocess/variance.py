"""Per-pixel variance carried through the linear stages of preprocessing onto the grid.

After the continuum division every stage is linear in the flux: the Gaussian degradation
``D`` (:func:`vocloud.preprocess.velocity.gaussian_degrade`) and the resampling ``R``
(:mod:`vocloud.preprocess.resample`), so a grid value is ``sum_j C_gj f_j`` with ``C = R @ D``
and, the pixels being independent, its variance ``sum_j C_gj**2 var_j``. ``C`` is built per
spectrum for the grid points only (a band of the resampling's few pixels widened by the kernel),
so the degradation's correlations between neighbouring pixels are kept, not assumed away. The
continuum and the scale factor are taken as exact. Bad pixels are carried by the same
coefficients: a grid value any bad pixel contributes to gets weight 0 (it was interpolated over).

Examples
--------
>>> w = np.array([[1.0, 2.0, 3.0, 4.0]])
>>> grid_variance(w, np.full((1, 4), 4.0), np.array([1.5, 2.5]), "linear")
array([[2., 2.]])
"""

from __future__ import annotations

import numpy as np

from vocloud.preprocess.resample import bin_edges

__all__ = ["grid_variance", "to_weight"]


def _resample_coefficients(
    w: np.ndarray, g: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(first, coef)``: grid point ``n`` is ``sum_p coef[n, p] * f[first[n] + p]``."""
    k = w.shape[0]
    if method == "linear":  # np.interp: the end values continued beyond the ends
        j = np.clip(np.searchsorted(w, g, side="right") - 1, 0, k - 2)
        t = np.clip((g - w[j]) / (w[j + 1] - w[j]), 0.0, 1.0)
        return j, np.stack([1 - t, t], axis=1)
    if method != "flux-conserving":
        raise ValueError(f"resample: {method!r} is not one of linear, flux-conserving")
    e = bin_edges(w)
    te = bin_edges(g)
    lo, hi = te[:-1], te[1:]
    ia = np.clip(np.searchsorted(e, lo, side="right") - 1, 0, k - 1)
    ib = np.clip(np.searchsorted(e, hi, side="right") - 1, 0, k - 1)
    q = int((ib - ia).max()) + 1
    i = ia[:, None] + np.arange(q)[None, :]
    ic = np.minimum(i, k - 1)
    left = np.where(ic == 0, -np.inf, e[ic])  # the end pixels continued, as the flux is
    right = np.where(ic == k - 1, np.inf, e[ic + 1])
    over = np.minimum(hi[:, None], right) - np.maximum(lo[:, None], left)
    over = np.where(i <= ib[:, None], np.maximum(over, 0.0), 0.0)
    return ia, over / (hi - lo)[:, None]


def _kernel_rows(w: np.ndarray, sigma: float, valid: np.ndarray, truncate: float) -> np.ndarray:
    """``D[i, h + o]``: the weight of pixel ``i + o`` in degraded pixel ``i`` (as
    :func:`~vocloud.preprocess.velocity.gaussian_degrade` computes it)."""
    k = w.shape[0]
    if sigma <= 0 or k < 2:
        return np.ones((k, 1))
    dl = np.gradient(w) * valid
    spacing = np.diff(w)
    spacing = np.where(valid[1:] & (spacing > 0), spacing, np.inf).min()
    h = int(min(k - 1, np.ceil(truncate * sigma / spacing)))
    d = np.zeros((k, 2 * h + 1))
    d[:, h] = dl
    for o in range(1, h + 1):
        diff = w[o:] - w[:-o]
        kern = np.exp(-0.5 * (diff / sigma) ** 2)
        kern[diff > truncate * sigma] = 0.0
        d[:-o, h + o] = kern * dl[o:]
        d[o:, h - o] = kern * dl[:-o]
    den = d.sum(axis=1)
    ident = np.zeros(2 * h + 1)
    ident[h] = 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den[:, None] > 0, d / den[:, None], ident)


def grid_variance(
    wavelength: np.ndarray,
    var: np.ndarray | list[np.ndarray],
    grid: np.ndarray,
    method: str = "flux-conserving",
    sigma: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    *,
    truncate: float = 4.0,
) -> np.ndarray | list[np.ndarray]:
    """Variance on ``grid`` of the degraded (``sigma`` Angstrom per row, 0: none) and resampled
    rows of independent pixels of variance ``var`` (``B x k``, finite; or a list of such arrays,
    all carried by the same coefficients, built once).

    Examples
    --------
    >>> w = np.arange(0.5, 6.0)[None]  # pixels 0.5 ... 5.5, edges on whole numbers
    >>> grid_variance(w, np.ones((1, 6)), np.array([1.0, 3.0]))  # two whole pixels per bin
    array([[0.5, 0.5]])
    >>> w = np.arange(6500.0, 6600.0, 0.1)[None]
    >>> v = grid_variance(w, np.ones_like(w), np.array([6550.0]), "linear", np.array([1.0]))
    >>> bool(0.02 < v[0, 0] < 0.03)  # ~ step / (2 sqrt(pi) sigma) = 0.028
    True
    """
    many = isinstance(var, list)
    vs = [np.atleast_2d(np.asarray(v, dtype=np.float64)) for v in (var if many else [var])]
    w2 = np.atleast_2d(np.asarray(wavelength, dtype=np.float64))
    g = np.asarray(grid, dtype=np.float64)
    b, k = w2.shape
    sig = np.zeros(b) if sigma is None else np.broadcast_to(np.asarray(sigma, float), (b,))
    val = np.ones((b, k), bool) if valid is None else np.atleast_2d(valid)
    outs = [np.empty((b, g.size)) for _ in vs]
    for r in range(b):
        first, c = _resample_coefficients(w2[r], g, method)
        h = 0
        if sig[r] > 0:  # C = R @ D, on a band starting at first - h
            d = _kernel_rows(w2[r], float(sig[r]), val[r], truncate)
            h = (d.shape[1] - 1) // 2
            q = c.shape[1]
            band = np.zeros((g.size, q + 2 * h))
            for p in range(q):
                band[:, p : p + 2 * h + 1] += c[:, p : p + 1] * d[np.minimum(first + p, k - 1)]
            c = band
        c2 = c * c
        src = first[:, None] + np.arange(c.shape[1])[None, :]  # into the row padded by h
        for v, out in zip(vs, outs):
            padded = np.concatenate([np.zeros(h), v[r], np.zeros(c.shape[1])])
            out[r] = np.einsum("gc,gc->g", c2, padded[src])
    return outs if many else outs[0]


def to_weight(var: np.ndarray, bad: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Inverse variance of the scaled features (``scaled = slope * f + offset`` per row), 0 where
    a bad pixel contributed (``bad > 0``) or the variance is not a positive number; float32.

    Examples
    --------
    >>> to_weight(np.array([[0.25, 1.0]]), np.array([[0.0, 0.5]]), np.array([2.0]))
    array([[1., 0.]], dtype=float32)
    """
    s2 = np.asarray(slope, dtype=np.float64)[:, None] ** 2
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        w = 1.0 / (var * s2)
    ok = (bad <= 0) & np.isfinite(w) & (var > 0)
    return np.where(ok, w, 0.0).astype(np.float32)

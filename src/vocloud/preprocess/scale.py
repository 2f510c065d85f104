"""Per-spectrum rescaling of the features."""

from __future__ import annotations

import numpy as np

from vocloud.preprocess.params import SCALE_METHODS

__all__ = ["CONSTANT_FLUX", "rescale", "scale_slope"]

CONSTANT_FLUX = "constant flux after preprocessing"
_REL_TOL = 1e-6


def rescale(features: np.ndarray, method: str = "minmax-1-1") -> tuple[np.ndarray, np.ndarray]:
    """Rescale each row; returns ``(scaled float32, ok)``.

    ``minmax-1-1`` maps each row onto [-1, 1] (the VO-CLOUD default), ``minmax-0-1`` onto [0, 1],
    ``zscore`` to zero mean and unit standard deviation, ``l2`` to unit Euclidean norm, ``none``
    leaves it. A row that is constant (peak-to-peak below 1e-6 of its magnitude) or not finite is
    not ok (``CONSTANT_FLUX`` is the reason to give) and comes back NaN.

    Examples
    --------
    >>> out, ok = rescale(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    >>> out[0], ok
    (array([-1.,  0.,  1.], dtype=float32), array([ True, False]))
    """
    if method not in SCALE_METHODS:
        raise ValueError(f"scale: {method!r} is not one of {', '.join(SCALE_METHODS)}")
    f = np.atleast_2d(np.asarray(features, dtype=np.float64))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        fmin, fmax = f.min(axis=1), f.max(axis=1)
        ptp = fmax - fmin
        mag = np.maximum(np.abs(fmin), np.abs(fmax))
        ok = np.isfinite(ptp) & (ptp > _REL_TOL * mag)
        if method == "minmax-1-1":
            out = (f - fmin[:, None]) * (2.0 / ptp)[:, None] - 1.0
        elif method == "minmax-0-1":
            out = (f - fmin[:, None]) * (1.0 / ptp)[:, None]
        elif method == "zscore":
            mu = f.mean(axis=1)
            out = (f - mu[:, None]) / f.std(axis=1)[:, None]
        elif method == "l2":
            out = f / np.sqrt(np.einsum("ij,ij->i", f, f))[:, None]
        else:
            out = f
    out = out.astype(np.float32)
    out[~ok] = np.nan
    return out, ok


def scale_slope(features: np.ndarray, method: str = "minmax-1-1") -> np.ndarray:
    """Per row, the factor :func:`rescale` multiplies the features by (``scaled = slope * f +
    offset``): what an uncertainty on the features is multiplied by.

    Examples
    --------
    >>> scale_slope(np.array([[1.0, 2.0, 3.0]]))
    array([1.])
    >>> scale_slope(np.array([[1.0, 2.0, 3.0]]), "none")
    array([1.])
    """
    f = np.atleast_2d(np.asarray(features, dtype=np.float64))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if method == "minmax-1-1":
            return 2.0 / np.ptp(f, axis=1)
        if method == "minmax-0-1":
            return 1.0 / np.ptp(f, axis=1)
        if method == "zscore":
            return 1.0 / f.std(axis=1)
        if method == "l2":
            return 1.0 / np.sqrt(np.einsum("ij,ij->i", f, f))
    return np.ones(f.shape[0])

"""Cutout around a line: the pixels covering ``[lo, hi]`` of each spectrum, as a padded block."""

from __future__ import annotations

import numpy as np

__all__ = ["coverage_errors", "cutout_bounds", "extend_wavelengths", "gather_cutout"]


def cutout_bounds(wavelength: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel range ``[start, stop)`` per row covering ``[lo, hi]`` (one pixel beyond each end).

    Examples
    --------
    >>> cutout_bounds(np.array([[1.0, 2.0, 3.0, 4.0, 5.0]]), 2.5, 3.5)
    (array([1]), array([4]))
    """
    w = np.atleast_2d(wavelength)
    b = w.shape[0]
    start = np.empty(b, dtype=np.intp)
    stop = np.empty(b, dtype=np.intp)
    q = np.array([lo, hi])
    for i in range(b):  # ~1 us per row; a vectorised count would read the whole B x n block
        s, e = np.searchsorted(w[i], q)
        start[i], stop[i] = s, e
    start = np.maximum(start - 1, 0)
    stop = np.minimum(stop + 1, w.shape[1])
    return start, stop


def gather_cutout(
    arrays: list[np.ndarray | None], start: np.ndarray, stop: np.ndarray, width: int | None = None
) -> tuple[list[np.ndarray | None], np.ndarray]:
    """Gather ``[start, stop)`` of each row of each ``B x n`` array into ``B x width`` blocks.

    Positions past a row's stop repeat its last pixel; the returned ``valid`` (B x width bool)
    says which positions are real.

    Examples
    --------
    >>> (a,), valid = gather_cutout([np.arange(10.0).reshape(2, 5)], np.array([1, 0]),
    ...                             np.array([3, 4]))
    >>> a
    array([[1., 2., 2., 2.],
           [5., 6., 7., 8.]])
    """
    length = stop - start
    width = int(length.max()) if width is None else int(width)
    cols = np.arange(width)
    idx = start[:, None] + np.minimum(cols[None, :], np.maximum(length - 1, 0)[:, None])
    out = [None if a is None else np.take_along_axis(a, idx, axis=1) for a in arrays]
    return out, cols[None, :] < length[:, None]


def coverage_errors(
    wavelength: np.ndarray, good: np.ndarray, start: float, stop: float
) -> list[str | None]:
    """Reason per row when its good pixels do not cover ``[start, stop]`` (never padded).

    Examples
    --------
    >>> w = np.array([[4000.0, 4500.0, 5000.0]])
    >>> coverage_errors(w, np.ones((1, 3), bool), 6420, 6710)
    ['does not cover the grid 6420-6710 A (spectrum covers 4000-5000 A)']
    """
    w = np.atleast_2d(wavelength)
    g = np.atleast_2d(good)
    n = w.shape[1]
    anyg = g.any(axis=1)
    first = np.argmax(g, axis=1)
    last = n - 1 - np.argmax(g[:, ::-1], axis=1)
    rows = np.arange(w.shape[0])
    wlo, whi = w[rows, first], w[rows, last]
    errors: list[str | None] = [None] * w.shape[0]
    bad = ~anyg | (wlo > start) | (whi < stop)
    for i in np.flatnonzero(bad):
        if not anyg[i]:
            errors[i] = "no good pixels"
        else:
            errors[i] = (
                f"does not cover the grid {start:g}-{stop:g} A "
                f"(spectrum covers {wlo[i]:.6g}-{whi[i]:.6g} A)"
            )
    return errors


def extend_wavelengths(wavelength: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Make padded rows strictly increasing: continue the last real pixel step past the end.

    Examples
    --------
    >>> extend_wavelengths(np.array([[1.0, 2.0, 2.0, 2.0]]), np.array([[1, 1, 0, 0]], bool))
    array([[1., 2., 3., 4.]])
    """
    if valid.all():
        return wavelength
    w = np.array(wavelength, dtype=np.float64)
    length = valid.sum(axis=1)
    rows = np.arange(w.shape[0])
    last = w[rows, np.maximum(length - 1, 0)]
    step = last - w[rows, np.maximum(length - 2, 0)]
    step = np.where(step > 0, step, 1.0)
    cols = np.arange(w.shape[1])
    beyond = (cols[None, :] - length[:, None] + 1) * step[:, None] + last[:, None]
    return np.where(valid, w, beyond)

"""Spectra in parts (arms, echelle orders): which parts a cutout needs, and joining them.

The rule (docs/layouts.md, "Arms, orders, segments"): when one part covers the cutout, that
part alone is used (arms and orders are calibrated apart; an order's blaze or an arm's edge
would bend a profile across a join). When none does, the shortest run of consecutive parts that
overlap or abut (gap at most 1.5 pixel steps) and together cover it is joined on the parts' own
wavelengths: outside an overlap each part keeps its pixels untouched; inside an overlap the
pixels of the finer-sampled part are kept and the other part's flux and inverse variance are
interpolated linearly onto them, then the two are averaged with inverse-variance weights
(equal weights where a part has no inverse variance), bad pixels weighing nothing. When no run
covers the cutout, the part covering most of it is used (and the coverage check says why the
spectrum fails).

Examples
--------
>>> bounds = np.array([[3600.0, 5800.0], [5760.0, 7620.0], [7520.0, 9824.0]])
>>> choose_parts(bounds, [2751, 2326, 2881], 6500.0, 6600.0)
[1]
>>> choose_parts(bounds, [2751, 2326, 2881], 5700.0, 5900.0)
[0, 1]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np

if TYPE_CHECKING:
    from vocloud.io.spectrum import Spectrum

__all__ = ["ABUT_STEPS", "choose_parts", "join_parts"]

ABUT_STEPS = 1.5
"""Largest gap between two parts, in pixel steps, for them to be joined as abutting."""


def choose_parts(bounds: np.ndarray, counts: list[int], lo: float, hi: float) -> list[int]:
    """Indices of the parts to use for the cutout ``[lo, hi]`` (in increasing wavelength).

    Parameters
    ----------
    bounds : numpy.ndarray
        ``k x 2`` first and last wavelength of each part (any order of parts).
    counts : list of int
        Pixels per part (gives each part's mean pixel step).
    lo, hi : float
        The cutout, in the same wavelengths as ``bounds``.

    Returns
    -------
    list of int
        One part that covers ``[lo, hi]`` (the one covering most, then the first), else the
        shortest run of overlapping or abutting parts that covers it, else the part covering most.
    """
    b = np.asarray(bounds, dtype=np.float64)
    n = np.asarray(counts)
    usable = np.flatnonzero(n >= 2)
    if usable.size == 0:
        return [0]
    cover = np.minimum(hi, b[usable, 1]) - np.maximum(lo, b[usable, 0])
    full = usable[(b[usable, 0] <= lo) & (b[usable, 1] >= hi)]
    best = [int(usable[np.argmax(cover)])]
    if full.size:
        return best
    step = (b[:, 1] - b[:, 0]) / np.maximum(n - 1, 1)
    order = usable[np.argsort(b[usable, 0], kind="stable")]
    runs: list[list[int]] = []
    for k, first in enumerate(order):  # grow a run from each part until it covers or breaks
        if b[first, 0] > lo:
            continue
        run, top = [int(first)], b[first, 1]
        for nxt in order[k + 1 :]:
            if top >= hi:
                break
            gap = b[nxt, 0] - top
            if b[nxt, 1] <= top:
                continue  # inside the run already
            if gap > ABUT_STEPS * max(step[nxt], step[run[-1]]):
                break
            run.append(int(nxt))
            top = b[nxt, 1]
        if top >= hi:
            runs.append(run)
    if not runs:
        return best
    return min(runs, key=len)


def _weights(ivar: np.ndarray | None, good: np.ndarray) -> np.ndarray:
    w = np.ones(good.shape) if ivar is None else np.where(np.isfinite(ivar), ivar, 0.0)
    return np.where(good & (w > 0), w, 0.0)


def _join_two(a: tuple, b: tuple) -> tuple:
    """Join part ``b`` (starting at or after ``a``'s start) onto ``a``: (wl, flux, ivar, good)."""
    wa, fa, ia, ga = a
    wb, fb, ib, gb = b
    if wb[0] > wa[-1]:  # abutting: one after the other
        ivar = None if ia is None or ib is None else np.concatenate([ia, ib])
        return np.concatenate([wa, wb]), np.concatenate([fa, fb]), ivar, np.concatenate([ga, gb])
    ina = wa >= wb[0]  # a's pixels in the overlap
    inb = wb <= wa[-1]
    if inb.sum() > ina.sum():  # keep the finer sampling's pixels in the overlap
        keep_w, other = wb[inb], (wa[ina], fa[ina], ia, ga[ina], ina)
        kf, ki, kg = fb[inb], None if ib is None else ib[inb], gb[inb]
    else:
        keep_w, other = wa[ina], (wb[inb], fb[inb], ib, gb[inb], inb)
        kf, ki, kg = fa[ina], None if ia is None else ia[ina], ga[ina]
    ow, of, oi, og, osel = other
    oi = None if oi is None else oi[osel]
    # the other part at the kept pixels; a pixel next to a bad one is bad
    tol = 1e-3 * (ow[-1] - ow[0]) / max(ow.shape[0] - 1, 1)  # rounding of equal pixel grids
    inside = (keep_w >= ow[0] - tol) & (keep_w <= ow[-1] + tol)
    f2 = np.interp(keep_w, ow, np.where(og, of, 0.0))
    g2 = inside & (np.interp(keep_w, ow, og.astype(np.float64)) > 1 - 1e-9)
    i2 = None if oi is None else np.interp(keep_w, ow, np.where(og, oi, 0.0))
    w1, w2 = _weights(ki, kg), _weights(i2, g2)
    if (ki is None) != (i2 is None):  # one part without ivar: equal weights for both
        w1, w2 = _weights(None, kg), _weights(None, g2)
    tot = w1 + w2
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(tot > 0, (w1 * np.where(kg, kf, 0.0) + w2 * np.where(g2, f2, 0.0)) / tot, kf)
    good = tot > 0
    ivar = None
    if ki is not None and i2 is not None:
        ivar = np.concatenate([ia[~ina], np.where(good, tot, 0.0), ib[~inb]])
    return (
        np.concatenate([wa[~ina], keep_w, wb[~inb]]),
        np.concatenate([fa[~ina], f, fb[~inb]]),
        ivar,
        np.concatenate([ga[~ina], good, gb[~inb]]),
    )


def join_parts(s: Spectrum) -> Spectrum:
    """Join the parts of ``s`` into one on their own wavelengths (rule in the module doc).

    Parameters
    ----------
    s : Spectrum
        A spectrum whose ``segments`` each increase in wavelength (what the readers give).

    Returns
    -------
    Spectrum
        One part (``segments`` None), wavelengths in Angstrom, ``ivar`` where every part has
        one, ``mask`` True where no part had a good pixel.

    Examples
    --------
    >>> from vocloud.io.spectrum import Spectrum
    >>> w = np.array([1.0, 2.0, 3.0, 2.0, 3.0, 4.0])
    >>> s = Spectrum(w * u.AA, np.array([1.0, 1.0, 1.0, 3.0, 3.0, 3.0]),
    ...              ivar=np.array([1.0, 1.0, 1.0, 3.0, 3.0, 3.0]), segments=((0, 3), (3, 6)))
    >>> j = join_parts(s)
    >>> j.wavelength_aa, j.flux, j.ivar
    (array([1., 2., 3., 4.]), array([1. , 2.5, 2.5, 3. ]), array([1., 4., 4., 3.]))
    """
    from vocloud.io.spectrum import Spectrum

    wl = s.wavelength_aa
    flux = np.asarray(s.flux, dtype=np.float64)
    good = s.good()
    ivar = None if s.ivar is None else np.asarray(s.ivar, dtype=np.float64)
    segs = sorted(s.segments or ((0, wl.shape[0]),), key=lambda ab: wl[ab[0]])
    acc = None
    for a, b in segs:
        part = (wl[a:b], flux[a:b], None if ivar is None else ivar[a:b], good[a:b])
        acc = part if acc is None else _join_two(acc, part)
    assert acc is not None
    w, f, iv, g = acc
    return Spectrum(
        u.Quantity(w, u.AA, copy=False),
        f,
        ivar=iv,
        mask=~g,
        meta=s.meta,
        layout=s.layout,
        source=s.source,
        medium=s.medium,
    )

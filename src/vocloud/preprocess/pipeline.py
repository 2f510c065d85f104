"""Preprocess a block of spectra into rows of the feature store.

Stages: (rest frame) -> continuum over the whole spectrum -> cutout -> (degrade) -> resample ->
rescale. Everything but the per-spectrum unpacking (a few us each) is vectorised over the block.

Spectra are processed in buckets of similar length (shortest >= 0.85 x longest, one bucket per
length for spline continua): shorter rows are padded to the bucket's length (weight 0, wavelengths
continuing the grid), so a block of an archive with ~100 distinct lengths costs a few vectorised
passes instead of one per length. Cutouts never reach into the padding, and every later stage
works row by row in float64, so only the continuum fit sees it: the padding, and the other rows
of the block, change its arithmetic (float32 products, padded lengths, slab sizes), not its
result, which :mod:`vocloud.preprocess.continuum` makes independent of them to ~1e-12 relative
(ideal grids chosen per row, float64 residuals and corrections). A spectrum's row -- features,
weight, snr, failure reason -- is therefore the same in any block, in practice bit for bit
(tests/unit/test_preprocess_blocks.py); what remains is float64 rounding, which can move a
float32 feature by one ulp where it lies on a rounding boundary, or a clipping decision where a
pixel's residual lies within ~1e-7 of the rms of the threshold.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import astropy.units as u
import numpy as np

from vocloud.preprocess.arms import choose_parts, join_parts
from vocloud.preprocess.continuum import fit_continuum
from vocloud.preprocess.cutout import (
    coverage_errors,
    cutout_bounds,
    extend_wavelengths,
    gather_cutout,
)
from vocloud.preprocess.frame import FrameError, barycentric_velocity
from vocloud.preprocess.medium import convert_medium, spectrum_medium
from vocloud.preprocess.params import PreprocessParams
from vocloud.preprocess.resample import fill_bad, resample
from vocloud.preprocess.scale import CONSTANT_FLUX, rescale, scale_slope
from vocloud.preprocess.variance import grid_variance, to_weight
from vocloud.preprocess.velocity import degradation_sigma, gaussian_degrade, to_rest_frame

if TYPE_CHECKING:
    from vocloud.io.spectrum import Spectrum

__all__ = ["BlockResult", "preprocess_block"]

#: ``rv`` keywords that hold a redshift, not a velocity (LAMOST, SDSS, DESI ``Z``)
REDSHIFT_KEYS = frozenset({"Z", "REDSHIFT", "Z_VI", "ZSOURCE"})

_TRUNCATE = 4.0  # Gaussian degradation kernel half-width in sigma
_BUCKET_RATIO = 0.85  # shortest / longest spectrum (in pixel steps) of a length bucket


def _buckets(by_len: dict[int, list[int]], ratio: float) -> list[np.ndarray]:
    """Rows grouped into buckets of similar length: ``(n_min - 1) >= ratio * (n_max - 1)``.

    The shortest spectrum of a bucket then fills at least ``2 * ratio - 1`` of the continuum fit
    coordinate ``[-1, 1]`` (0.7 for the default 0.85), which keeps the padded fit well conditioned.
    ``ratio`` 1 gives one bucket per length.
    """
    out: list[np.ndarray] = []
    cur: list[int] = []
    n0 = 0
    for n in sorted(by_len):
        if cur and (n0 - 1) < ratio * (n - 1):
            out.append(np.sort(np.asarray(cur)))
            cur = []
        if not cur:
            n0 = n
        cur.extend(by_len[n])
    if cur:
        out.append(np.sort(np.asarray(cur)))
    return out


@dataclass
class BlockResult:
    """Preprocessed block.

    Attributes
    ----------
    features : numpy.ndarray
        ``B x m`` float32 on the experiment grid; NaN rows for failed spectra.
    error : list of (str or None)
        ``None`` for a spectrum that went through, else the reason it failed.
    snr : numpy.ndarray
        ``B`` float32 median ``flux * sqrt(ivar)`` over good cutout pixels (NaN without ivar).
    frame : list of str
        The rest frame of each spectrum's wavelengths and what was applied (``""`` for spectra
        that were not read), see :mod:`vocloud.preprocess.frame`.
    weight : numpy.ndarray or None
        ``B x m`` float32 inverse variance of each feature value (in the units of ``features``:
        the spectrum's ivar divided through the continuum, carried through degradation,
        resampling and scaling, :mod:`vocloud.preprocess.variance`); 0 where a bad pixel was
        interpolated over; NaN rows for failed spectra and spectra without ivar; ``None`` when
        no spectrum of the block has ivar.
    """

    features: np.ndarray
    error: list[str | None]
    snr: np.ndarray
    frame: list[str] | None = None
    weight: np.ndarray | None = None

    @property
    def ok(self) -> np.ndarray:
        """Boolean per spectrum, True where it went through."""
        return np.array([e is None for e in self.error], dtype=bool)


class _Fail(Exception):
    """Bad data in one spectrum: the message is the failure reason."""


@dataclass
class _Item:
    wl: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray | None
    good: np.ndarray
    rv: float
    rs: float
    frame: str = ""


def _meta_number(meta: dict[str, Any], key: str, what: str) -> float:
    if key not in meta or meta[key] is None or meta[key] == "":
        raise _Fail(f"{what} keyword {key} missing")
    try:
        v = float(meta[key])
    except (TypeError, ValueError):
        raise _Fail(f"{what} keyword {key} is not a number: {meta[key]!r}") from None
    if not math.isfinite(v):
        raise _Fail(f"{what} keyword {key} is not finite")
    return v


def _parts(s: Spectrum, medium: str, vb: float, rv: float, params: PreprocessParams) -> Spectrum:
    """The part(s) of a spectrum in parts that the cutout needs, joined when more than one
    (:mod:`vocloud.preprocess.arms`); chosen on each part's end wavelengths moved to the grid's
    medium and frame, so only the parts used are read (an echelle file's other orders never)."""
    bounds = s.segment_bounds()
    target = params.grid_params.medium
    if medium != target:
        bounds = convert_medium(bounds, medium, target)
    if vb:
        bounds = bounds * (1.0 + vb / 299792.458)
    if rv:
        bounds = to_rest_frame(bounds, rv)
    g, c = params.grid_params, params.cutout
    counts = [b - a for a, b in s.segments or ()]
    idx = choose_parts(bounds, counts, min(c.lo, g.start), max(c.hi, g.stop))
    part = s.take(idx)
    return join_parts(part) if len(idx) > 1 else part


def _rv(s: Spectrum, params: PreprocessParams, listed: Any) -> float:
    """The velocity (km/s) to the object's rest frame: a number, a spectra list column or a
    header keyword (redshift keywords and columns times c)."""
    rv = 0.0
    if isinstance(params.rv, str) and params.rv.startswith("COLUMN:"):
        name = params.rv[7:]
        try:
            rv = float(listed)
        except (TypeError, ValueError):
            rv = math.nan
        if not math.isfinite(rv):
            raise _Fail(f"rv: no {name} in the spectra list for this spectrum ({listed!r})")
        if name in REDSHIFT_KEYS:
            rv *= 299792.458
        if abs(rv) >= 299792.458:
            raise _Fail(f"rv column {name} = {rv} km/s is not below c")
    elif isinstance(params.rv, str):
        rv = _meta_number(s.meta, params.rv, "rv")
        if params.rv in REDSHIFT_KEYS:  # a redshift: lambda / (1 + z) exactly
            rv *= 299792.458
        if abs(rv) >= 299792.458:
            raise _Fail(f"rv keyword {params.rv} = {rv} km/s is not below c")
    elif params.rv is not None:
        rv = float(params.rv)
    return rv


def _prepare(s: Spectrum, params: PreprocessParams, listed: Any = None) -> _Item:
    # one physical wavelength scale: the grid's medium and the frame, before the cutout
    medium = spectrum_medium(getattr(s, "medium", None), params.spectra_medium)[0]
    frame = "as read"
    vb = 0.0
    if params.frame == "barycentric":
        try:
            vb, frame = barycentric_velocity(s.meta, s.layout)
        except FrameError as exc:
            raise _Fail(str(exc)) from None
    rv = _rv(s, params, listed)
    segments = getattr(s, "segments", None)
    if segments and len(segments) >= 2:
        try:
            s = _parts(s, medium, vb, rv, params)
        except (IndexError, ValueError) as exc:  # segments that do not fit the arrays
            raise _Fail(f"bad segments {segments[:3]}...: {type(exc).__name__}: {exc}") from None
    wl = s.wavelength_aa
    flux = np.asarray(s.flux)
    n = wl.shape[0] if wl.ndim == 1 else -1
    if wl.ndim != 1 or flux.shape != wl.shape:
        raise _Fail(f"flux shape {flux.shape} does not match wavelength shape {wl.shape}")
    if flux.dtype.kind not in "fc":
        flux = flux.astype(np.float64)
    elif flux.dtype.kind == "c":
        raise _Fail("complex flux")
    ivar = None if s.ivar is None else np.asarray(s.ivar)
    for name, a in (("ivar", ivar), ("mask", s.mask)):
        if a is not None and np.shape(a) != (n,):
            raise _Fail(f"{name} shape {np.shape(a)} does not match wavelength shape {wl.shape}")
    if medium != params.grid_params.medium:
        wl = convert_medium(wl, medium, params.grid_params.medium)
    if vb:
        wl = wl * (1.0 + vb / 299792.458)
    good = s.good()
    if n < 4:
        raise _Fail(f"too few pixels ({n})")
    rs = math.inf
    if params.resolution is not None:
        src = params.resolution.source
        rs = _meta_number(s.meta, src, "resolution") if isinstance(src, str) else float(src)
        if rs <= 0:
            raise _Fail(f"resolution {rs} is not positive")
    if rv:
        what = params.rv if isinstance(params.rv, str) else "parameter"
        what = f"spectra list column {what[7:]}" if what.startswith("COLUMN:") else what
        frame = f"{frame}; to the star's rest frame: rv {rv:+.3f} km/s ({what})"
    return _Item(wl, flux, ivar, good, rv, rs, frame)


@dataclass
class _Cut:
    """Cutouts of the surviving rows of one length group."""

    rows: np.ndarray
    wl: np.ndarray
    norm: np.ndarray
    raw: np.ndarray
    ivar: np.ndarray | None
    good: np.ndarray
    valid: np.ndarray
    sigma: np.ndarray
    var: np.ndarray | None = None  # variance of ``norm`` (inf where ivar is 0)


def _sort_rows(
    wl: np.ndarray,
    arrays: list[np.ndarray | None],
    error: list,
    rows: np.ndarray,
    lens: np.ndarray | None = None,
):
    """Sort each row by wavelength in place; fail rows with non-finite or repeated wavelengths.

    With ``lens`` the rows are padded (see :func:`_stack`): only the first ``lens[i]`` pixels of
    row ``i`` are data, the padding continues its grid and is rebuilt after a sort.
    """
    b, n = wl.shape
    step = max(1, (1 << 16) // max(n, 1))  # row slabs: the comparisons stay in cache
    inc = np.concatenate(
        [(wl[s : s + step, 1:] > wl[s : s + step, :-1]).all(axis=1) for s in range(0, b, step)]
    )
    inc &= np.isfinite(wl[:, 0]) & np.isfinite(wl[:, -1])
    if inc.all():
        return inc
    keep = inc.copy()
    if lens is None:
        dec = ~inc & (wl[:, 1:] < wl[:, :-1]).all(axis=1)
        dec &= np.isfinite(wl[:, 0]) & np.isfinite(wl[:, -1])
        if dec.any():
            wl[dec] = wl[dec, ::-1]
            for a in arrays:
                if a is not None:
                    a[dec] = a[dec, ::-1]
            keep |= dec
    for i in np.flatnonzero(~keep):
        m = n if lens is None else int(lens[i])
        if not np.isfinite(wl[i, :m]).all():
            error[rows[i]] = "non-finite wavelengths"
            continue
        o = np.argsort(wl[i, :m], kind="stable")
        wl[i, :m] = wl[i, o]
        for a in arrays:
            if a is not None:
                a[i, :m] = a[i, o]
        if (np.diff(wl[i, :m]) > 0).all():
            keep[i] = True
            if m < n:
                wl[i : i + 1] = _extend_grid(wl[i : i + 1], lens[i : i + 1])
        else:
            error[rows[i]] = "repeated wavelengths"
    return keep


def _extend_grid(wl: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Overwrite the pixels past each row's length with a continuation of its grid.

    A row continues linearly or geometrically (whichever matches its middle pixel better, so
    linear and log-lambda grids stay linear and log-lambda), with the mean step (ratio) over the
    whole row: float32 rounding of the wavelengths does not leak into the extension.
    """
    n = wl.shape[1]
    short = np.flatnonzero(lens < n)
    if short.size == 0:
        return wl
    m = lens[short].astype(np.intp)
    c0 = int(m.min())  # only columns from here on hold padding
    first, last = wl[short, 0], wl[short, m - 1]
    mid_i = (m - 1) // 2
    mid = wl[short, mid_i]
    step = (last - first) / (m - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        lnr = np.log(last / first) / (m - 1)
        geo = np.abs(first * np.exp(lnr * mid_i) - mid) < np.abs(first + step * mid_i - mid)
    k = np.arange(c0, n)[None, :] - (m - 1)[:, None]
    pad = k > 0
    kk = np.maximum(k, 0).astype(np.float64)
    ext = last[:, None] + step[:, None] * kk
    g = np.flatnonzero(geo)
    if g.size:
        with np.errstate(invalid="ignore", over="ignore"):
            ext[g] = last[g, None] * np.exp(lnr[g, None] * kk[g])
    wl[short, c0:] = np.where(pad, ext, wl[short, c0:])
    return wl


def _stack(its: list[_Item]):
    """Rows of a bucket as ``B x n_max`` arrays: (wl, flux, good, ivar, lens or None).

    Shorter rows are padded: ``good`` False, flux 0, ivar NaN, wavelengths continuing the grid
    (:func:`_extend_grid`). Rows stored in descending order are reversed first.
    """
    lens = np.array([it.wl.shape[0] for it in its])
    n = int(lens.max())
    has_ivar = any(it.ivar is not None for it in its)
    if (lens == n).all():
        wl = np.stack([it.wl for it in its])
        flux = np.stack([it.flux for it in its])
        good = np.stack([it.good for it in its])
        ivar = None
        if has_ivar:
            ivar = np.full(wl.shape, np.nan, dtype=np.float32)
            for j, it in enumerate(its):
                if it.ivar is not None:
                    ivar[j] = it.ivar
        return wl, flux, good, ivar, None
    b = len(its)
    wl = np.empty((b, n), dtype=np.float64)
    flux = np.zeros((b, n), dtype=np.result_type(*(it.flux.dtype for it in its)))
    good = np.zeros((b, n), dtype=bool)
    ivar = np.full((b, n), np.nan, dtype=np.float32) if has_ivar else None
    for j, it in enumerate(its):
        m = lens[j]
        rev = it.wl[0] > it.wl[-1]
        sl = slice(None, None, -1) if rev else slice(None)
        wl[j, :m] = it.wl[sl]
        flux[j, :m] = it.flux[sl]
        good[j, :m] = it.good[sl]
        if it.ivar is not None:
            ivar[j, :m] = it.ivar[sl]
    return _extend_grid(wl, lens), flux, good, ivar, lens


def _fail_rows(error: list, rows: np.ndarray, errs: Sequence[str | None]) -> np.ndarray:
    """Record reasons; returns the boolean of rows still ok."""
    ok = np.ones(len(errs), bool)
    for j, e in enumerate(errs):
        if e is not None:
            error[rows[j]] = e
            ok[j] = False
    return ok


def _group(
    rows: np.ndarray, items: dict[int, _Item], params: PreprocessParams, error: list, pad: float
) -> _Cut | None:
    its = [items[i] for i in rows]
    wl, flux, good, ivar, lens = _stack(its)
    rv = np.array([it.rv for it in its])
    if rv.any():
        wl = to_rest_frame(wl, rv)
    keep = _sort_rows(wl, [flux, good, ivar], error, rows, lens)
    grid_lo, grid_hi = params.grid_params.start, params.grid_params.stop
    keep[keep] = _fail_rows(
        error, rows[keep], coverage_errors(wl[keep], good[keep], grid_lo, grid_hi)
    )
    sel = np.flatnonzero(keep)
    if sel.size == 0:
        return None
    if sel.size < wl.shape[0]:
        wl, flux, good = wl[sel], flux[sel], good[sel]
        ivar = None if ivar is None else ivar[sel]
        rows = rows[sel]
        lens = None if lens is None else lens[sel]
        rs = np.array([items[i].rs for i in rows])
    else:
        rs = np.array([it.rs for it in its])
    cp = params.continuum
    fit = fit_continuum(wl, flux, good, cp) if cp is not None else None
    c = params.cutout
    start, stop = cutout_bounds(wl, c.lo - pad, c.hi + pad)
    if lens is not None:
        stop = np.minimum(stop, lens)  # never into the padding
    (wlc, fc, gc, ivc), valid = gather_cutout([wl, flux, good, ivar], start, stop)
    fc = fc.astype(np.float64)
    cont = None
    if fit is not None:
        ok = _fail_rows(error, rows, fit.error)
        # at the cutout's pixels: a row fitted on an ideal grid is evaluated on it
        cols = np.arange(wlc.shape[1])
        pix = start[:, None] + np.minimum(cols[None, :], np.maximum(stop - start - 1, 0)[:, None])
        cont = fit.evaluate(wlc, pixels=pix)
        with np.errstate(invalid="ignore"):
            bad_cont = ok & ~((np.isfinite(cont) & (cont > 0)) | ~valid).all(axis=1)
        for j in np.flatnonzero(bad_cont):
            error[rows[j]] = "continuum <= 0 or not finite in the cutout"
        ok &= ~bad_cont
        with np.errstate(invalid="ignore", divide="ignore"):
            norm = fc / cont
    else:
        ok = np.ones(rows.size, bool)
        norm = fc.copy()
    if params.resolution is not None:
        sigma = degradation_sigma(c.center, params.resolution.target, rs)
    else:
        sigma = np.zeros(rows.size)
    var = None
    if ivc is not None:  # the variance of flux / continuum (the continuum taken as exact)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            c2 = 1.0 if cont is None else cont * cont
            var = np.where(ivc > 0, 1.0 / (ivc * c2), np.where(np.isnan(ivc), np.nan, np.inf))
    if not ok.all():
        rows, wlc, norm, fc, gc, valid, sigma = (
            a[ok] for a in (rows, wlc, norm, fc, gc, valid, sigma)
        )
        ivc = None if ivc is None else ivc[ok]
        var = None if var is None else var[ok]
    if rows.size == 0:
        return None
    return _Cut(rows, wlc, norm, fc, ivc, gc, valid, sigma, var)


def _pad_cols(a: np.ndarray, width: int, fill: Any = None) -> np.ndarray:
    if a.shape[1] == width:
        return a
    extra = np.repeat(a[:, -1:], width - a.shape[1], axis=1) if fill is None else None
    if extra is None:
        extra = np.full((a.shape[0], width - a.shape[1]), fill, dtype=a.dtype)
    return np.concatenate([a, extra], axis=1)


def preprocess_block(
    spectra: Sequence[Spectrum | BaseException],
    params: PreprocessParams,
    rv: Sequence[Any] | None = None,
    *,
    weights: bool = False,
) -> BlockResult:
    """Preprocess a block of spectra (mixed layouts and grids) into features on the grid.

    Parameters
    ----------
    spectra : sequence of Spectrum or BaseException
        The block; an exception in place of a spectrum (it could not be read) gives a failed row
        whose reason is its message.
    params : PreprocessParams
        The preprocessing parameters.
    rv : sequence, optional
        Per spectrum, the value of the spectra list column that ``params.rv = "column:<name>"``
        names (km/s, or a redshift for a column named ``z``/``redshift``).
    weights : bool, default False
        Also compute :attr:`BlockResult.weight`, the inverse variance of every feature value
        (about 180 us per spectrum more, docs/performance.md).

    Returns
    -------
    BlockResult
        ``features`` (B x m float32, NaN rows for failures), ``error`` and ``snr``.

    Examples
    --------
    >>> import astropy.units as u
    >>> from vocloud.io.spectrum import Spectrum
    >>> wl = np.linspace(6300, 6800, 1000)
    >>> flux = 100 * (1 + np.exp(-0.5 * ((wl - 6562.8) / 3) ** 2))
    >>> res = preprocess_block([Spectrum(wl * u.AA, flux), ValueError("truncated FITS")],
    ...                        PreprocessParams())
    >>> res.features.shape, res.error
    ((2, 1161), [None, 'truncated FITS'])
    >>> float(res.features[0].min()), float(res.features[0].max())
    (-1.0, 1.0)
    """
    b = len(spectra)
    grid = params.grid()
    error: list[str | None] = [None] * b
    features = np.full((b, grid.size), np.nan, dtype=np.float32)
    snr = np.full(b, np.nan, dtype=np.float32)
    items: dict[int, _Item] = {}
    frame = [""] * b
    by_len: dict[int, list[int]] = {}
    for i, s in enumerate(spectra):
        if isinstance(s, BaseException):
            error[i] = str(s) or type(s).__name__
            continue
        try:
            it = _prepare(s, params, None if rv is None else rv[i])
        except _Fail as exc:
            error[i] = str(exc)
            continue
        except (ValueError, TypeError, AttributeError, u.UnitsError) as exc:
            error[i] = f"cannot preprocess: {type(exc).__name__}: {exc}"
            continue
        items[i] = it
        frame[i] = it.frame
        by_len.setdefault(it.wl.shape[0], []).append(i)
    pad = 0.0
    if params.resolution is not None and items:
        rs = np.array([it.rs for it in items.values()])
        sig = degradation_sigma(params.cutout.center, params.resolution.target, rs)
        pad = _TRUNCATE * float(np.nanmax(sig, initial=0.0))
    # splines: the knots follow each spectrum's own range, so no padding (one bucket per length)
    spline = params.continuum is not None and params.continuum.method == "spline"
    cuts = [
        cut
        for rows in _buckets(by_len, 1.0 if spline else _BUCKET_RATIO)
        if (cut := _group(rows, items, params, error, pad)) is not None
    ]
    if not cuts:
        return BlockResult(features, error, snr, frame)
    has_var = weights and any(cut.var is not None for cut in cuts)
    width = max(cut.wl.shape[1] for cut in cuts)
    rows = np.concatenate([cut.rows for cut in cuts])
    wl = np.concatenate([_pad_cols(cut.wl, width) for cut in cuts])
    norm = np.concatenate([_pad_cols(cut.norm, width) for cut in cuts])
    raw = np.concatenate([_pad_cols(cut.raw, width) for cut in cuts])
    good = np.concatenate([_pad_cols(cut.good, width, False) for cut in cuts])
    valid = np.concatenate([_pad_cols(cut.valid, width, False) for cut in cuts])
    sigma = np.concatenate([cut.sigma for cut in cuts])
    ivar = None
    if any(cut.ivar is not None for cut in cuts):
        ivar = np.concatenate(
            [
                _pad_cols(cut.ivar, width)
                if cut.ivar is not None
                else np.full((cut.rows.size, width), np.nan, np.float32)
                for cut in cuts
            ]
        )
    var = None
    if has_var:
        var = np.concatenate(
            [
                _pad_cols(cut.var, width)
                if cut.var is not None
                else np.full((cut.rows.size, width), np.nan)
                for cut in cuts
            ]
        )
    c = params.cutout
    incut = valid & (wl >= c.lo) & (wl <= c.hi)
    ok_pix = good & valid & np.isfinite(norm)
    n_in = np.maximum(incut.sum(axis=1), 1)
    bad_frac = (incut & ~ok_pix).sum(axis=1) / n_in
    ok = bad_frac <= params.max_bad_fraction
    for j in np.flatnonzero(~ok):
        error[rows[j]] = (
            f"too many bad pixels in the cutout ({100 * bad_frac[j]:.0f}% > "
            f"{100 * params.max_bad_fraction:g}%)"
        )
    if ivar is not None:
        with np.errstate(invalid="ignore"):
            s = np.where(ok_pix & incut & (ivar > 0), raw * np.sqrt(ivar), np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            snr[rows] = np.nanmedian(s, axis=1)
    wl = extend_wavelengths(wl, valid)
    fill = np.flatnonzero((valid & ~ok_pix).any(axis=1))  # elsewhere fill_bad changes nothing
    if fill.size:
        norm[fill] = fill_bad(wl[fill], norm[fill], ok_pix[fill])
    if var is not None:  # bad pixels (filled above) carried apart: weight 0 where they count
        no_ivar = np.isnan(var).all(axis=1)
        bad = (~ok_pix | ~(var < np.inf)).astype(np.float64)
        var = np.where(bad > 0, 0.0, var)
    sig0 = np.where(np.isfinite(sigma), sigma, 0.0)
    if params.resolution is not None:
        norm = gaussian_degrade(wl, norm, sig0, valid)
    feats = resample(wl, norm, grid, params.resample)
    scaled, ok_scale = rescale(feats, params.scale)
    weight = None
    if var is not None:
        sg = sig0 if params.resolution is not None else None
        vg, bg = grid_variance(wl, [var, bad], grid, params.resample, sg, valid)
        wgt = to_weight(vg, bg, scale_slope(feats, params.scale))
        wgt[no_ivar] = np.nan  # spectra without ivar
        weight = np.full((b, grid.size), np.nan, dtype=np.float32)
    finite = np.isfinite(feats).all(axis=1)
    for j in np.flatnonzero(ok & ~(finite & ok_scale)):
        error[rows[j]] = CONSTANT_FLUX if finite[j] else "non-finite values after resampling"
    ok &= finite & ok_scale
    features[rows[ok]] = scaled[ok]
    if weight is not None:
        weight[rows[ok]] = wgt[ok]
    return BlockResult(features, error, snr, frame, weight)

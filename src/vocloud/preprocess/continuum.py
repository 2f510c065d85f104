"""Continuum normalisation: iterative sigma-clipped least squares, vectorised over a block.

The fit coordinate is the wavelength: ``x`` maps each row's wavelength range linearly onto
[-1, 1]. A row whose ``x`` is within 1e-5 at every pixel of an *ideal* grid's (linear, or
geometric with the row's own step ``ln(hi / lo) / (n - 1)`` rounded to 20 significant bits:
every linear grid, log-lambda grids, the float32 rounding of LAMOST/SDSS wavelengths included)
is fitted on that ideal grid's ``x``, and rows of one ideal grid share its design matrix: their
normal matrices for a whole slab of rows come from one GEMM ``W @ (A_i A_j)``. The ideal grid is
chosen from the row alone, never from the other rows of the block, and the continuum is
evaluated on it at the row's pixels (:meth:`ContinuumFit.evaluate` with ``pixels``): a function
of the pixel that neither the padding nor the rounding of the wavelengths moves. The other rows
are fitted on their own ``x`` with per-spectrum design matrices, still batched (batched matmul).

Padded rows: :func:`vocloud.preprocess.preprocess_block` pads the spectra of a block of similar
lengths to a common length (weight 0 in the padding, wavelengths continuing each grid linearly or
geometrically). The padding extends the range mapped onto [-1, 1], so a row's data occupy
``[-1, x_end]``; a polynomial of degree d in an affine map of ``x`` spans the same functions,
so its least-squares fit, and the continuum, do not change (only the conditioning: the pipeline
keeps ``x_end >= 0.7``). Linear grids of different lengths then share ``x``, and so do log-lambda
grids of the same step. Splines are not padded (their knots follow each row's range).

Float32 fits (the default) form only the normal matrices in float32; coefficients are float64 and
corrected from float64 residuals (see :func:`_clip_fit`): they end ~1e-12 from the float64
least-squares solution, and the clipping decisions see residuals exact to their own float32
rounding, whatever the padded length, the slab's size or the BLAS kernel. The flux is scaled
by a power of 2 (exact). So a spectrum's continuum does not depend on the block it is fitted
in (tests/unit/test_preprocess_blocks.py: bit-identical across blockings).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.interpolate import BSpline

from vocloud.preprocess.params import ContinuumParams

__all__ = ["ContinuumFit", "basis", "fit_continuum", "normalise_continuum", "normalised_x"]

_SLAB_ELEMENTS = 1 << 17  # rows per slab ~ this / n pixels: keeps the B x n work in cache
_X_TOL = 1e-5  # a row whose normalised x is within this of an ideal grid's is fitted on it
_MIN_SHARED = 8  # rows of an ideal grid fitted with one shared design matrix, at least


def normalised_x(wavelength: np.ndarray) -> np.ndarray:
    """Map each row of (sorted) wavelengths linearly onto [-1, 1] over its own range.

    Examples
    --------
    >>> normalised_x(np.array([[10.0, 15.0, 20.0]]))
    array([[-1.,  0.,  1.]])
    """
    w = np.asarray(wavelength, dtype=np.float64)
    lo, hi = w[..., :1], w[..., -1:]
    return np.clip((w - lo) * (2.0 / (hi - lo)) - 1.0, -1.0, 1.0)


def _spline_knots(n_interior: int) -> np.ndarray:
    inner = np.linspace(-1.0, 1.0, n_interior + 2)[1:-1]
    return np.concatenate([np.full(4, -1.0), inner, np.full(4, 1.0)])


def n_params(cp: ContinuumParams, knots: int | None = None) -> int:
    """Number of basis functions of the fit."""
    if cp.method == "spline":
        return int(cp.knots if knots is None else knots) + 4
    return cp.degree + 1


def basis(x: np.ndarray, method: str, degree: int = 5, knots: int = 0) -> np.ndarray:
    """Design matrix ``x.shape + (d,)`` at normalised abscissae ``x`` in [-1, 1].

    ``chebyshev`` and ``polynomial`` both use Chebyshev polynomials (the same function space, so
    the same least-squares fit, better conditioned); ``spline`` a cubic B-spline with ``knots``
    uniform interior knots.

    Examples
    --------
    >>> basis(np.array([-1.0, 0.0, 1.0]), "chebyshev", degree=2)
    array([[ 1., -1.,  1.],
           [ 1.,  0., -1.],
           [ 1.,  1.,  1.]])
    >>> basis(np.linspace(-1, 1, 5), "spline", knots=1).sum(axis=-1)
    array([1., 1., 1., 1., 1.])
    """
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    if method in ("chebyshev", "polynomial"):
        return np.polynomial.chebyshev.chebvander(x, degree)
    if method == "spline":
        t = _spline_knots(int(knots))
        m = BSpline.design_matrix(x.ravel(), t, 3).toarray()
        return m.reshape((*x.shape, int(knots) + 4))
    raise ValueError(f"unknown continuum method {method!r}")


@dataclass
class ContinuumFit:
    """Result of :func:`fit_continuum` for a block of B spectra.

    Attributes
    ----------
    coef : numpy.ndarray
        ``B x d_max`` float64 coefficients in flux units (NaN for failed fits).
    knots : numpy.ndarray
        ``B`` int, number of interior spline knots per spectrum (0 for polynomials).
    lo, hi : numpy.ndarray
        Wavelength range of each spectrum (defines its x in [-1, 1]).
    error : list of (str or None)
        Failure reason per spectrum.
    method, degree : str, int
    grid : numpy.ndarray
        ``B`` float: the ideal grid each row was fitted on (0 linear, else the geometric step
        ``ln(lambda_{k+1} / lambda_k)``; NaN: its own wavelengths), see :func:`fit_continuum`.
    n : int
        The fitted rows' length (pixels).
    """

    coef: np.ndarray
    knots: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    error: list[str | None]
    method: str
    degree: int
    grid: np.ndarray | None = None
    n: int = 0

    def evaluate(
        self,
        wavelength: np.ndarray,
        rows: np.ndarray | None = None,
        *,
        pixels: np.ndarray | None = None,
    ) -> np.ndarray:
        """The continuum at ``wavelength`` (``b x k``, rows of the block given by ``rows``).

        ``pixels`` (``b x k`` column indices of the fitted rows at those wavelengths) evaluates
        a row fitted on an ideal grid's x (``grid`` not NaN) at that grid's x, as it was fitted:
        the continuum is then a function of the pixel that no padding or rounding of the
        wavelengths moves. Without ``pixels`` every row maps its wavelengths onto x.
        """
        rows = np.arange(self.coef.shape[0]) if rows is None else np.asarray(rows)
        w = np.asarray(wavelength, dtype=np.float64)
        lo, hi = self.lo[rows, None], self.hi[rows, None]
        x = (w - lo) * (2.0 / (hi - lo)) - 1.0
        if pixels is not None and self.grid is not None:
            pix = np.broadcast_to(np.asarray(pixels), x.shape)
            g = self.grid[rows]
            for key in np.unique(g[~np.isnan(g)]):
                sel = np.flatnonzero(g == key)
                x[sel] = _ideal_x(self.n, float(key))[pix[sel]]
        out = np.empty(w.shape, dtype=np.float64)
        kn = self.knots[rows]
        for k in np.unique(kn):
            sel = np.flatnonzero(kn == k)
            d = self.degree + 1 if self.method != "spline" else int(k) + 4
            a = basis(x[sel], self.method, self.degree, int(k))
            out[sel] = np.einsum("bkd,bd->bk", a, self.coef[rows[sel], :d])
        return out


@lru_cache(maxsize=64)
def _triu(d: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(d)


def _solve(
    n_tri: np.ndarray, rhs: np.ndarray, d: int, usable: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Batched solve of symmetric d x d systems given as upper triangles; (coef, ok).

    Rows not ``usable`` (too few pixels) are not solved.
    """
    b = n_tri.shape[0]
    iu0, iu1 = _triu(d)
    nm = np.empty((b, d, d), dtype=np.float64)
    nm[:, iu0, iu1] = n_tri
    nm[:, iu1, iu0] = n_tri
    rhs = rhs.astype(np.float64)
    ok = usable & np.isfinite(nm).all(axis=(1, 2)) & np.isfinite(rhs).all(axis=1)
    nm[~ok] = np.eye(d)
    try:
        coef = np.linalg.solve(nm, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        coef = np.full((b, d), np.nan)
        for i in np.flatnonzero(ok):
            try:
                coef[i] = np.linalg.solve(nm[i], rhs[i])
            except np.linalg.LinAlgError:
                ok[i] = False
    ok &= np.isfinite(coef).all(axis=1)
    coef[~ok] = np.nan
    return coef, ok


def _clip_fit(
    y: np.ndarray,
    keep0: np.ndarray,
    a: np.ndarray,
    lower: float,
    upper: float,
    iterations: int,
    dtype: type,
) -> tuple[np.ndarray, np.ndarray]:
    """Sigma-clipped fit of one slab of rows. ``a``: shared ``n x d`` or per-row ``b x n x d`` basis.

    ``y`` (b x n, ``dtype``) is zero where ``keep0`` is False. Returns (coef b x d, ok b).
    Only rows whose mask changed in the last round are fitted again: by the fourth round about
    half of the LAMOST-like rows have converged, and refitting just the others saves ~20 % of the
    fit (1,000 spectra, degree 5, 5 rounds).

    Each round after the first solves for the *correction* of the coefficients from the residuals
    of the previous round (``c' = c + N'^-1 A^T W' r``, the same least-squares solution). In
    float32 the coefficients are kept in float64 and the residuals computed from them in float64
    after the first fit, which gets one more correction from them (float64 right-hand side);
    later rounds update them by their (small) corrections in float32, and the final
    coefficients get one more float64 correction. The products' float32 errors are then
    relative to the residuals and corrections, not to the flux: the coefficients end ~1e-12
    from the float64 solution, and the clipping decisions see residuals within ~1e-7 of the
    rms of exact ones. That is what makes a spectrum's continuum independent of its block: the
    rounding of a float32 product depends on the padded length and on the BLAS kernel that the
    slab's size picks.
    """
    shared = a.ndim == 2
    b, d = y.shape[0], a.shape[-1]
    iu0, iu1 = _triu(d)
    a64 = np.asarray(a, dtype=np.float64)
    af = a64.astype(dtype, copy=False)
    aa = af[..., iu0] * af[..., iu1]
    exact = np.dtype(dtype) != np.float64
    keep = keep0.copy()
    nkeep = np.count_nonzero(keep, axis=1)
    ok_rows = nkeep >= d
    coef = np.zeros((b, d))
    ok = np.zeros(b, dtype=bool)
    n_all = np.zeros((b, iu0.size))  # each row's normal matrix of its current mask
    ra = y  # residuals of the current coefficients (none yet) of the active rows
    active = np.arange(b)

    def normal(w, rows):
        if shared:
            return w @ aa
        return np.matmul(w[:, None, :], aa if rows.size == b else aa[rows])[:, 0, :]

    def rhs_of(wr, rows):
        if shared:
            return wr @ af
        return np.matmul(wr[:, None, :], af if rows.size == b else af[rows])[:, 0, :]

    def residuals(rows):
        """``y - A coef`` of ``rows`` in float64."""
        c = coef[rows]
        if shared:
            m = c @ a64.T
        else:
            m = np.matmul(a64 if rows.size == b else a64[rows], c[:, :, None])[:, :, 0]
        return np.subtract(y if rows.size == b else y[rows], m, out=m)

    def correct(rows, w, r, n_tri):
        """One more correction of ``coef[rows]`` from float64 residuals ``r`` (mask ``w``)."""
        r *= w
        if shared:
            rhs = r @ a64
        else:
            rhs = np.matmul(r[:, None, :], a64 if rows.size == b else a64[rows])[:, 0, :]
        c2, o2 = _solve(n_tri, rhs, d, np.ones(rows.size, bool))
        coef[rows[o2]] += c2[o2]

    for it in range(iterations + 1):
        full = active.size == b
        ka = keep if full else keep[active]
        w = ka.astype(dtype)
        n_tri = normal(w, active)
        n_all[active] = n_tri
        c, o = _solve(n_tri, rhs_of(w * ra, active), d, ok_rows[active])
        ok[active] = o
        c[~o] = 0.0
        coef[active] += c
        if it == 0 and exact:  # the whole fit came from float32 products of the flux
            correct(active[o], w[o], residuals(active[o]), n_tri[o])
        if it == iterations:
            break
        if it == 0 and exact:  # later residuals are updated by corrections (small) in float32
            r = residuals(active).astype(dtype)
        else:
            c = c.astype(dtype)
            m = (
                c @ af.T
                if shared
                else np.matmul(af if full else af[active], c[:, :, None])[:, :, 0]
            )
            r = np.subtract(ra, m, out=m)
        r2 = r * r
        na = nkeep[active]
        rms = np.sqrt(np.einsum("ij,ij->i", w, r2) / np.maximum(na, 1)).astype(dtype)
        if lower == upper:
            new = r2 <= ((upper * rms) ** 2)[:, None]
        else:
            new = r <= (upper * rms)[:, None]
            new &= r >= (-lower * rms)[:, None]
        new &= keep0 if full else keep0[active]
        changed = (new != ka).any(axis=1) & o
        nnew = np.count_nonzero(new, axis=1)
        changed &= nnew >= d  # never clip a fit into degeneracy: keep the previous mask
        if not changed.any():
            break
        rows = active[changed]
        keep[rows] = new[changed]
        nkeep[rows] = nnew[changed]
        ra = r[changed]
        active = rows
    ok &= ok_rows
    if exact:  # the last correction, refined as the first
        rows = np.flatnonzero(ok)
        if rows.size:
            correct(rows, keep[rows].astype(dtype), residuals(rows), n_all[rows])
    coef[~ok] = np.nan
    return coef, ok


def _quantise(s: np.ndarray, bits: int = 20) -> np.ndarray:
    """``s`` rounded to ``bits`` significant bits: a key that only the row's own value sets."""
    mant, ex = np.frexp(s)
    return np.ldexp(np.round(mant * (1 << bits)), ex - bits)


def _ideal_x(n: int, s: float) -> np.ndarray:
    """Normalised x of an ideal grid of ``n`` pixels: linear (``s`` 0) or geometric with
    ``ln(lambda_{k+1} / lambda_k) = s``."""
    if s == 0.0:
        return np.linspace(-1.0, 1.0, n)
    k = np.arange(n, dtype=np.float64)
    return np.clip(2.0 * np.expm1(k * s) / np.expm1((n - 1) * s) - 1.0, -1.0, 1.0)


def _x_groups(wl: np.ndarray) -> tuple[list[tuple[np.ndarray, float, np.ndarray]], np.ndarray]:
    """Rows that may share an ideal grid's design matrix, and the others.

    Each row gets a key from its own wavelengths only: linear (x at its middle pixel within
    ``_X_TOL`` of a linear grid's) or geometric with its step ``ln(hi / lo) / (n - 1)`` rounded to
    20 significant bits. Returns ``([(rows, key, x_ideal), ...], rows without a key)``; whether a
    row's x is within ``_X_TOL`` of its key's grid at every pixel is verified during the fit.
    The reference grid therefore never depends on which other rows are in the block.
    """
    b, n = wl.shape
    if b == 0:
        return [], np.zeros(0, np.intp)
    c = n // 2
    lo, mid, hi = wl[:, 0], wl[:, c], wl[:, -1]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        probe = (mid - lo) * (2.0 / (hi - lo)) - 1.0
        lin = np.abs(probe - (2.0 * c / (n - 1) - 1.0)) <= _X_TOL
        s = _quantise(np.log(hi / lo) / (n - 1))
        geo = ~lin & np.isfinite(s) & (s > 0)
        geo[geo] &= (
            np.abs(probe[geo] - (2.0 * np.expm1(c * s[geo]) / np.expm1((n - 1) * s[geo]) - 1.0))
            <= _X_TOL
        )
    key = np.where(lin, 0.0, np.where(geo, s, np.nan))
    groups = []
    has = ~np.isnan(key)
    for k in np.unique(key[has]):
        groups.append((np.flatnonzero(key == k), float(k), _ideal_x(n, float(k))))
    return groups, np.flatnonzero(~has)


def fit_continuum(
    wavelength: np.ndarray,
    flux: np.ndarray,
    good: np.ndarray | None,
    params: ContinuumParams,
    *,
    dtype: type = np.float32,
) -> ContinuumFit:
    """Fit the continuum of a block of same-length (or padded) spectra (rows sorted by wavelength).

    Parameters
    ----------
    wavelength, flux : numpy.ndarray
        ``B x n`` (or ``n``) arrays; wavelengths in Angstrom, strictly increasing along each row.
    good : numpy.ndarray or None
        ``B x n`` bool, False for pixels left out (NaN, masked, padding); non-finite flux is always
        left out.
    params : ContinuumParams
        Method, degree/knots, sigma clip, iterations, windows.
    dtype : numpy dtype
        float32 (default: float32 normal matrices, float64 corrections; ~1.2x faster, the
        continuum within ~1e-12 of float64's) or float64.

    Returns
    -------
    ContinuumFit
        Coefficients (use :meth:`ContinuumFit.evaluate`) and a failure reason per spectrum.

    Examples
    --------
    >>> wl = np.linspace(6000, 7000, 500)[None, :]
    >>> flux = 2 + (wl - 6000) / 1000
    >>> fit = fit_continuum(wl, flux, None, ContinuumParams(degree=2))
    >>> bool(np.allclose(fit.evaluate(wl), flux, rtol=1e-5)), fit.error
    (True, [None])
    """
    wl = np.atleast_2d(np.asarray(wavelength, dtype=np.float64))
    fl = np.atleast_2d(np.asarray(flux))
    gd = None if good is None else np.atleast_2d(good)
    b, n = wl.shape
    lo, hi = wl[:, 0].copy(), wl[:, -1].copy()
    if params.method == "spline":
        if params.knot_spacing is not None:
            kn = np.maximum(np.round((hi - lo) / params.knot_spacing).astype(np.int64) - 1, 0)
        else:
            kn = np.full(b, int(params.knots or 0), dtype=np.int64)
    else:
        kn = np.zeros(b, dtype=np.int64)
    dmax = n_params(params, int(kn.max()) if b else 0)
    coef = np.full((b, dmax), np.nan)
    error: list[str | None] = [None] * b
    ok_all = np.zeros(b, dtype=bool)
    nkeep_all = np.zeros(b, dtype=np.int64)
    lower, upper = params.sigma
    step = max(1, _SLAB_ELEMENTS // max(n, 1))

    grid = np.full(b, np.nan)
    ideal: dict[int, tuple[float, np.ndarray]] = {}

    def run(rows: np.ndarray, xref: np.ndarray | None, k: int, key: float = np.nan) -> list[int]:
        """Fit ``rows`` slab by slab (all work on a slab stays in cache).

        With ``xref`` the rows share its design matrix; rows whose own x deviate from it by more
        than ``_X_TOL`` are not fitted but returned (for the per-row path, on their own x).
        """
        a = None if xref is None else basis(xref, params.method, params.degree, k)
        rejected: list[int] = []
        for s in range(0, rows.size, step):
            r = rows[s : s + step]
            x = normalised_x(wl[r])
            if a is not None:
                same = (np.abs(x - xref) <= _X_TOL).all(axis=1)
                if not same.all():
                    rejected.extend(r[~same].tolist())
                    r, x = r[same], x[same]
                    if r.size == 0:
                        continue
                grid[r] = key
            elif ideal:  # rows of small groups: their ideal grid's x where it holds
                for j, i in enumerate(r.tolist()):
                    if i in ideal and (np.abs(x[j] - ideal[i][1]) <= _X_TOL).all():
                        grid[i], x[j] = ideal[i]
            f = fl[r]
            k0 = np.isfinite(f)
            if gd is not None:
                k0 &= gd[r]
            if params.windows:
                w = wl[r]
                for lo_w, hi_w in params.windows:
                    k0 &= (w < lo_w) | (w > hi_w)
            y = np.where(k0, f, 0.0)
            nk = np.count_nonzero(k0, axis=1)
            nkeep_all[r] = nk
            scale = np.abs(y).sum(axis=1) / np.maximum(nk, 1)
            scale[~(np.isfinite(scale) & (scale > 0))] = 1.0
            # a power of 2: dividing by it is exact, whatever the row's padding did to the sum
            scale = np.exp2(np.clip(np.round(np.log2(scale)), -1000, 1000))
            y = (y * (1.0 / scale)[:, None]).astype(dtype)
            ar = a if a is not None else basis(x, params.method, params.degree, k)
            d = ar.shape[-1]
            c, ok = _clip_fit(y, k0, ar, lower, upper, params.iterations, dtype)
            coef[r, :d] = c * scale[:, None]
            ok_all[r] = ok
        return rejected

    for k in np.unique(kn):
        rows_k = np.flatnonzero(kn == k)
        groups, rest = _x_groups(wl[rows_k])
        single: list[int] = rows_k[rest].tolist()
        ideal.clear()
        for g, key, xref in groups:
            if g.size >= _MIN_SHARED:
                single.extend(run(rows_k[g], xref, int(k), key))
            else:  # a design matrix for a few rows costs more than per-row ones
                ideal.update((int(i), (key, xref)) for i in rows_k[g])
                single.extend(rows_k[g].tolist())
        if single:
            run(np.sort(np.asarray(single, dtype=np.intp)), None, int(k))
    d_row = kn + 4 if params.method == "spline" else np.full(b, params.degree + 1)
    for i in np.flatnonzero(~ok_all):
        if nkeep_all[i] < d_row[i]:
            error[i] = (
                f"continuum fit failed: {nkeep_all[i]} usable pixels for {d_row[i]} parameters"
            )
        else:
            error[i] = "continuum fit failed: singular least-squares system"
        coef[i] = np.nan
    return ContinuumFit(coef, kn, lo, hi, error, params.method, params.degree, grid, n)


def normalise_continuum(
    wavelength: np.ndarray,
    flux: np.ndarray,
    good: np.ndarray | None,
    params: ContinuumParams,
    *,
    dtype: type = np.float32,
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Flux divided by its fitted continuum over whole same-length spectra.

    Returns ``(normalised, continuum, error)``; rows whose fit failed, or whose continuum is not
    finite and positive everywhere, are NaN with a reason.

    Examples
    --------
    >>> wl = np.linspace(6000, 7000, 500)
    >>> norm, cont, err = normalise_continuum(wl, 3.0 + 0 * wl, None, ContinuumParams(degree=1))
    >>> float(abs(norm - 1).max()) < 1e-5, err
    (True, [None])
    """
    wl = np.atleast_2d(np.asarray(wavelength, dtype=np.float64))
    fl = np.atleast_2d(np.asarray(flux, dtype=np.float64))
    fit = fit_continuum(wl, fl, good, params, dtype=dtype)
    cont = fit.evaluate(wl, pixels=np.arange(wl.shape[1]))
    err = list(fit.error)
    bad = ~(np.isfinite(cont) & (cont > 0)).all(axis=1)
    for i in np.flatnonzero(bad):
        err[i] = err[i] or "continuum <= 0 or not finite"
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = fl / cont
    norm[bad] = np.nan
    return norm, cont, err

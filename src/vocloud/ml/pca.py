"""Out-of-core, distributed principal component analysis of a feature store.

:class:`PCA` is a scikit-learn style estimator whose ``fit`` makes **one pass** over a
row-chunked array (numpy, dask or an xarray DataArray read lazily from the Zarr feature store):
each row chunk yields its row count, column means and centred Gram matrix ``(X - m)^T (X - m)``
in float64; the per-chunk statistics are merged in a tree (Chan et al. pairwise update, so memory
stays bounded by one chunk plus a few ``p x p`` matrices) and the covariance matrix is
diagonalised with :func:`numpy.linalg.eigh`. This is exact (it is scikit-learn's
``svd_solver="covariance_eigh"`` done out of core) and much faster than a tall-skinny QR.

For very many features (``p`` above ~20,000, where a ``p x p`` float64 matrix no longer fits a
worker comfortably) ``solver="tsqr"`` computes the SVD of the centred data with dask's own
:func:`dask.array.linalg.svd` (a tall-and-skinny QR) instead.

Rows holding any NaN (failed spectra) are left out of the fit and come out of ``transform`` as
NaN rows. Computation runs on the current dask scheduler: a ``distributed.Client`` if one is
active, the threaded scheduler otherwise; numpy input is processed in-process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from vocloud.ml.reduction import tree_reduce
from vocloud.ml.validation import check_array

__all__ = ["PCA"]

Solver = Literal["gram", "tsqr"]
ArrayLike = Any  # numpy.ndarray | dask.array.Array | xarray.DataArray

#: Fan-in of the tree that merges per-chunk statistics.
_SPLIT_EVERY = 8
#: Rows of a block converted to float64 at a time.
_SLICE_ROWS = 2048
#: Target size (float64 bytes) of the row blocks a numpy input is cut into.
_NUMPY_BLOCK_BYTES = 64 * 2**20

_Stats = tuple[int, np.ndarray, np.ndarray]  # (n, mean, M2): M2 is p x p (gram) or p (diagonal)


def _block_stats(x: np.ndarray, full: bool = True, exact: bool = False) -> _Stats:
    """Row count, mean and centred second moment of the all-finite rows of one block.

    The block is walked in slices of :data:`_SLICE_ROWS` rows so the float64 working copy stays
    small whatever the chunk size (a 10,000 x 1,000 float32 chunk needs ~20 MB on top of itself).
    """
    x = np.asarray(x)
    p = x.shape[1]
    slices = [slice(i, i + _SLICE_ROWS) for i in range(0, x.shape[0], _SLICE_ROWS)]
    valid = [np.isfinite(x[s]).all(axis=1) for s in slices]
    n = int(sum(v.sum() for v in valid))
    m2 = np.zeros((p, p) if full else p)
    if n == 0:
        return 0, np.zeros(p), m2
    total = np.zeros(p)
    for s, v in zip(slices, valid):
        total += (x[s] if v.all() else x[s][v]).sum(axis=0, dtype=np.float64)
    mean = total / n
    # float32 input: centred slices multiplied in float32, summed in float64: as exact as a
    # float64 fit at about half its time (docs/performance.md, PCA). ``exact``
    # (precision="float64") multiplies in float64 whatever the input.
    work = np.float32 if (x.dtype == np.float32 and not exact) else np.float64
    mean_w = mean.astype(work)
    for s, v in zip(slices, valid):
        xs = (x[s] if v.all() else x[s][v]).astype(work)  # always a fresh copy
        xs -= mean_w
        # ``xs.T @ xs`` on one buffer is dispatched to BLAS syrk: half the flops of a gemm.
        m2 += xs.T @ xs if full else np.einsum("ij,ij->j", xs, xs)
    return n, mean, m2


def _combine(parts: Sequence[_Stats]) -> _Stats:
    """Merge the statistics of several blocks (Chan, Golub & LeVeque's parallel update)."""
    parts = [s for s in parts if s[0] > 0] or [parts[0]]
    if len(parts) == 1:
        return parts[0]
    n = sum(s[0] for s in parts)
    mean = sum(s[0] * s[1] for s in parts) / n
    m2 = sum(s[2] for s in parts).copy()
    full = m2.ndim == 2
    for ni, mi, _ in parts:
        d = mi - mean
        m2 += ni * (np.outer(d, d) if full else d * d)
    return n, mean, m2


def _center_zero(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``x - mean`` in float64 with the rows holding NaN set to 0 (they then add nothing)."""
    xc = np.asarray(x, dtype=np.float64) - mean
    xc[~np.isfinite(xc).all(axis=1)] = 0.0
    return xc


def _project(x: np.ndarray, mean: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """``(x - mean) @ proj`` in the float dtype of ``proj``; rows with NaN give NaN rows."""
    x = np.asarray(x, dtype=proj.dtype)
    return (x - mean) @ proj


def _reconstruct(y: np.ndarray, back: np.ndarray, mean: np.ndarray) -> np.ndarray:
    return np.asarray(y, dtype=back.dtype) @ back + mean


def _float_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


def _numpy_blocks(x: np.ndarray) -> list[np.ndarray]:
    rows = max(1, _NUMPY_BLOCK_BYTES // (8 * max(1, x.shape[1])))
    return [x[i : i + rows] for i in range(0, max(1, x.shape[0]), rows)]


def _moments(x: np.ndarray | da.Array, full: bool, exact: bool = False) -> _Stats:
    """One pass over ``x``: (n valid rows, mean, M2) merged in a tree of bounded fan-in."""
    if isinstance(x, da.Array):
        blocks = x.to_delayed(optimize_graph=True).ravel().tolist()
        stats = [dask.delayed(_block_stats, pure=True)(b, full, exact) for b in blocks]
        (result,) = dask.compute(
            tree_reduce(stats, dask.delayed(_combine, pure=True), _SPLIT_EVERY)
        )
        return result
    return tree_reduce(
        [_block_stats(b, full, exact) for b in _numpy_blocks(x)], _combine, _SPLIT_EVERY
    )


def _svd_flip_rows(vt: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of each row positive (scikit-learn's ``svd_flip``)."""
    idx = np.argmax(np.abs(vt), axis=1)
    signs = np.sign(vt[np.arange(vt.shape[0]), idx])
    signs[signs == 0] = 1.0
    return vt * signs[:, None]


class PCA(TransformerMixin, BaseEstimator):
    """Principal component analysis of a row-chunked (possibly larger than memory) array.

    Parameters
    ----------
    n_components : int or None, default=20
        Number of components to keep, ``1 <= n_components <= min(n_samples, n_features)``
        (``n_samples`` counts the rows without NaN). ``None`` keeps them all.
    whiten : bool, default=False
        Scale the projections by ``1 / sqrt(explained_variance_)`` so each has unit variance.
    solver : {"gram", "tsqr"}, default="gram"
        ``"gram"``: one pass of per-chunk float64 Gram matrices, then ``eigh`` of the ``p x p``
        covariance matrix (exact; fastest while ``p`` is below ~20,000). ``"tsqr"``: a pass for
        the mean, then dask's tall-and-skinny SVD of the centred data (exact; memory
        ``O(chunk rows x p)`` instead of ``O(p^2)``, for very many features).
    precision : {"auto", "float64"}, default="auto"
        ``"auto"``: float32 input is centred and multiplied in float32 slices of 2,048 rows whose
        products are summed in float64 (explained-variance ratio within ~1e-9 of a float64 fit,
        1.3x the time of scikit-learn's float32 ``covariance_eigh``); ``"float64"``: every
        product in float64 (bit-for-bit independent of the chunking up to rounding, ~2x slower).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Per-feature mean of the rows used in the fit.
    components_ : ndarray of shape (n_components, n_features)
        Principal axes, by decreasing explained variance; the largest-magnitude entry of each
        is positive (scikit-learn's sign convention, so components agree with it exactly).
    explained_variance_ : ndarray of shape (n_components,)
        Variance along each component (eigenvalues of the covariance matrix, ``ddof=1``).
    explained_variance_ratio_ : ndarray of shape (n_components,)
        Fraction of the total variance explained by each component.
    singular_values_ : ndarray of shape (n_components,)
        Singular values of the centred data, ``sqrt(explained_variance_ * (n_samples_ - 1))``.
    noise_variance_ : float
        Mean of the discarded eigenvalues (probabilistic PCA noise), 0 if none is discarded.
    n_components_ : int
        Number of components kept.
    n_samples_ : int
        Number of rows used in the fit (rows holding NaN are excluded).
    n_features_in_ : int
        Number of features (columns) seen in the fit.

    Notes
    -----
    ``noise_variance_`` follows scikit-learn: with ``solver="gram"`` it is the mean of the
    ``n_features - n_components`` discarded eigenvalues (as ``svd_solver="covariance_eigh"``),
    with ``solver="tsqr"`` the discarded variance over ``min(n_samples, n_features) -
    n_components`` (as ``svd_solver="full"``); they differ only when ``n_samples < n_features``.

    All fitted attributes are float64 whatever the input dtype; ``transform`` returns float32
    for float32 input and float64 otherwise. A numpy input gives numpy output, a dask (or
    dask-backed xarray) input a lazy dask array with the same row chunks.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from vocloud.ml import PCA
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 3)) @ rng.normal(size=(3, 8)) + 0.01 * rng.normal(size=(1000, 8))
    >>> X[5] = np.nan  # a failed spectrum
    >>> pca = PCA(n_components=3).fit(da.from_array(X, chunks=(250, 8)))
    >>> pca.n_samples_, pca.components_.shape
    (999, (3, 8))
    >>> bool(pca.explained_variance_ratio_.sum() > 0.999)
    True
    >>> Y = pca.transform(X)
    >>> Y.shape, bool(np.isnan(Y[5]).all())
    ((1000, 3), True)
    >>> bool(np.allclose(pca.inverse_transform(Y[:4]), X[:4], atol=0.05))
    True
    """

    def __init__(
        self,
        n_components: int | None = 20,
        whiten: bool = False,
        solver: Solver = "gram",
        precision: Literal["auto", "float64"] = "auto",
    ) -> None:
        self.n_components = n_components
        self.whiten = whiten
        self.solver = solver
        self.precision = precision

    # ------------------------------------------------------------------ fit
    def _check_params(self) -> None:
        if self.precision not in ("auto", "float64"):
            raise ValueError(f"precision must be 'auto' or 'float64', got {self.precision!r}")
        if self.solver not in ("gram", "tsqr"):
            raise ValueError(f"solver must be 'gram' or 'tsqr', got {self.solver!r}")
        if not isinstance(self.whiten, bool | np.bool_):
            raise ValueError(f"whiten must be a bool, got {self.whiten!r}")
        k = self.n_components
        if k is not None and (
            isinstance(k, bool | np.bool_) or not isinstance(k, int | np.integer) or k < 1
        ):
            raise ValueError(f"n_components must be a positive int or None, got {k!r}")

    def _n_components(self, n: int, p: int) -> int:
        if n < 2:
            raise ValueError(
                f"PCA needs at least 2 rows without NaN, got {n} (rows holding NaN are excluded)"
            )
        k = min(n, p) if self.n_components is None else int(self.n_components)
        if k > min(n, p):
            raise ValueError(
                f"n_components={k} must be <= min(n_samples, n_features)={min(n, p)} "
                f"(n_samples={n} rows without NaN, n_features={p})"
            )
        return k

    def fit(self, X: ArrayLike, y: Any = None) -> PCA:
        """Fit the model in one pass over ``X``.

        Parameters
        ----------
        X : numpy.ndarray, dask.array.Array or xarray.DataArray of shape (n_samples, n_features)
            Data, one row per spectrum. Rows holding any NaN are ignored. A dask array may have
            any number of row chunks; its columns are rechunked into one chunk if needed.
        y : ignored

        Returns
        -------
        self : PCA
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from vocloud.ml import PCA
        >>> X = np.random.default_rng(1).normal(size=(200, 5))
        >>> PCA(n_components=2).fit(X).components_.shape
        (2, 5)
        """
        self._check_params()
        x = check_array(X)
        p = x.shape[1]
        k = self.n_components
        if k is not None and k > min(x.shape):
            # fail before the pass over the data (the exact bound, on rows without NaN, is after)
            raise ValueError(
                f"n_components={k} must be <= min(n_samples, n_features)={min(x.shape)} "
                f"(X has shape {x.shape})"
            )
        if self.solver == "gram":
            n, mean, m2 = _moments(x, full=True, exact=self.precision == "float64")
            k = self._n_components(n, p)
            cov = m2 / (n - 1)
            evals, evecs = np.linalg.eigh(cov)
            evals = evals[::-1].copy()
            evals[evals < 0.0] = 0.0
            vt = evecs[:, ::-1].T
            total_var = float(evals.sum())
            noise = float(evals[k:].mean()) if k < min(n, p) else 0.0
        else:
            n, mean, var_sum = _moments(x, full=False, exact=self.precision == "float64")
            k = self._n_components(n, p)
            total_var = float(var_sum.sum() / (n - 1))
            xc = _as_dask(x).map_blocks(_center_zero, mean, dtype=np.float64)
            _, s, vt_lazy = da.linalg.svd(xc)
            s, vt = dask.compute(s, vt_lazy)
            evals = s**2 / (n - 1)
            rest = min(n, p) - k
            noise = max(total_var - float(evals[:k].sum()), 0.0) / rest if rest > 0 else 0.0
        vt = _svd_flip_rows(np.ascontiguousarray(vt[:k], dtype=np.float64))
        ev = np.ascontiguousarray(evals[:k], dtype=np.float64)
        self.mean_ = np.asarray(mean, dtype=np.float64)
        self.components_ = vt
        self.explained_variance_ = ev
        self.explained_variance_ratio_ = ev / total_var if total_var > 0 else np.zeros_like(ev)
        self.singular_values_ = np.sqrt(ev * (n - 1))
        self.noise_variance_ = noise
        self.n_components_ = k
        self.n_samples_ = int(n)
        self.n_features_in_ = int(p)
        return self

    # ------------------------------------------------------------ transform
    def _scale(self) -> np.ndarray:
        if not self.whiten:
            return np.ones_like(self.explained_variance_)
        scale = np.sqrt(self.explained_variance_)
        return np.maximum(scale, np.finfo(scale.dtype).eps)

    def transform(self, X: ArrayLike) -> np.ndarray | da.Array:
        """Project ``X`` on the principal components.

        Parameters
        ----------
        X : numpy.ndarray, dask.array.Array or xarray.DataArray of shape (n_samples, n_features)

        Returns
        -------
        Y : numpy.ndarray or dask.array.Array of shape (n_samples, n_components)
            ``(X - mean_) @ components_.T`` (divided by ``sqrt(explained_variance_)`` when
            whitening); lazy, chunked like ``X``'s rows, for dask input; NaN rows for rows of
            ``X`` holding NaN.

        Examples
        --------
        >>> import numpy as np
        >>> import dask.array as da
        >>> from vocloud.ml import PCA
        >>> X = np.random.default_rng(2).normal(size=(300, 6)).astype("float32")
        >>> pca = PCA(n_components=2).fit(X)
        >>> Y = pca.transform(da.from_array(X, chunks=(100, 6)))
        >>> Y.chunks, Y.dtype
        (((100, 100, 100), (2,)), dtype('float32'))
        >>> bool(np.allclose(Y.compute(), pca.transform(X), atol=1e-5))
        True
        """
        check_is_fitted(self, "components_")
        x = check_array(X)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {x.shape[1]} features, but PCA was fitted with {self.n_features_in_}"
            )
        dt = _float_dtype(x.dtype)
        proj = (self.components_.T / self._scale()).astype(dt)
        mean = self.mean_.astype(dt)
        if isinstance(x, da.Array):
            return x.map_blocks(
                _project, mean, proj, dtype=dt, chunks=(x.chunks[0], (self.n_components_,))
            )
        return _project(x, mean, proj)

    def fit_transform(self, X: ArrayLike, y: Any = None) -> np.ndarray | da.Array:
        """Fit, then project ``X`` (lazily for dask input: the fit pass runs, the projection
        is a second, lazy pass).

        Parameters
        ----------
        X : numpy.ndarray, dask.array.Array or xarray.DataArray of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        Y : numpy.ndarray or dask.array.Array of shape (n_samples, n_components)
        """
        return self.fit(X).transform(X)

    def inverse_transform(self, X: ArrayLike) -> np.ndarray | da.Array:
        """Map projections back to feature space: ``X @ components_ + mean_`` (undoing the
        whitening if any).

        Parameters
        ----------
        X : numpy.ndarray, dask.array.Array or xarray.DataArray of shape (n_samples, n_components)

        Returns
        -------
        X_original : numpy.ndarray or dask.array.Array of shape (n_samples, n_features)

        Examples
        --------
        >>> import numpy as np
        >>> from vocloud.ml import PCA
        >>> X = np.random.default_rng(3).normal(size=(50, 4))
        >>> pca = PCA(n_components=None, whiten=True).fit(X)
        >>> bool(np.allclose(pca.inverse_transform(pca.transform(X)), X))
        True
        """
        check_is_fitted(self, "components_")
        y = check_array(X)
        if y.shape[1] != self.n_components_:
            raise ValueError(f"X has {y.shape[1]} columns, but PCA has {self.n_components_}")
        dt = _float_dtype(y.dtype)
        back = (self.components_ * self._scale()[:, None]).astype(dt)
        mean = self.mean_.astype(dt)
        if isinstance(y, da.Array):
            return y.map_blocks(
                _reconstruct, back, mean, dtype=dt, chunks=(y.chunks[0], (self.n_features_in_,))
            )
        return _reconstruct(y, back, mean)


def _as_dask(x: np.ndarray | da.Array) -> da.Array:
    if isinstance(x, da.Array):
        return x
    rows = max(1, _NUMPY_BLOCK_BYTES // (8 * max(1, x.shape[1])))
    return da.from_array(x, chunks=(rows, -1))

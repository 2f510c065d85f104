"""Distributed batch self-organizing map (scikit-learn style) for numpy, dask and xarray inputs.

The map is trained with the batch SOM of Kohonen (*Essentials of the Self-Organizing Map*, 2013), the
algorithm of minisom's ``train_batch_offline`` with a learning rate of one. Each epoch is one pass over
the rows, chunk by chunk:

1. best-matching units (BMUs) of a chunk from one float32 matrix product, ``||w||^2 - 2 x.w``;
2. per-BMU sums ``S`` (neurons x features, float64) and counts ``c`` of the chunk;
3. the ``(S, c)`` of all chunks are summed (a loop for numpy input; one task per chunk and a tree
   reduction for dask input, so memory is bounded by a chunk, never by the number of rows);
4. ``codebook = (H @ S) / (H @ c)`` with ``H`` the neurons x neurons neighbourhood matrix at this
   epoch's ``sigma``; neurons with a zero denominator keep their weights.

Rows holding any NaN (failed spectra in the feature store) are ignored by ``fit`` and get ``-1`` /
NaN from the per-row methods.

Examples
--------
>>> import numpy as np
>>> from vocloud.ml.som import SOM
>>> X = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
>>> som = SOM(shape=(6, 5), epochs=5, random_state=0).fit(X)
>>> som.codebook_.shape
(6, 5, 8)
>>> som.predict(X[:3]).shape
(3,)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, NamedTuple

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from vocloud.ml.reduction import tree_reduce
from vocloud.ml.validation import check_array, is_dask

__all__ = ["SOM"]

_HEX_DY = math.sqrt(3.0) / 2.0

Topology = Literal["rectangular", "hexagonal"]
Neighborhood = Literal["gaussian", "bubble"]
Decay = Literal["exponential", "linear", "asymptotic"]


# --------------------------------------------------------------------------------------------------
# map geometry
# --------------------------------------------------------------------------------------------------
def grid_coordinates(shape: tuple[int, int], topology: Topology = "rectangular") -> np.ndarray:
    """Planar coordinates ``(x, y)`` of the neurons, flat index ``r * n_cols + c``.

    Rectangular: ``(c, r)``. Hexagonal: an offset grid, odd rows shifted right by 0.5 and rows
    ``sqrt(3)/2`` apart, so that the six adjacent neurons are exactly 1 away.

    Examples
    --------
    >>> grid_coordinates((2, 2), "hexagonal").round(3).tolist()
    [[0.0, 0.0], [1.0, 0.0], [0.5, 0.866], [1.5, 0.866]]
    """
    rows, cols = shape
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    x = c.astype(np.float64).ravel()
    y = r.astype(np.float64).ravel()
    if topology == "hexagonal":
        x = x + 0.5 * (r.ravel() % 2)
        y = y * _HEX_DY
    elif topology != "rectangular":
        raise ValueError(f"topology must be 'rectangular' or 'hexagonal', not {topology!r}")
    return np.column_stack([x, y])


def _adjacent(
    b1: np.ndarray, b2: np.ndarray, coords: np.ndarray, shape: tuple[int, int], topology: str
) -> np.ndarray:
    """Whether neurons ``b1[i]`` and ``b2[i]`` are map neighbours (8 rectangular, 6 hexagonal)."""
    if topology == "rectangular":
        r1, c1 = np.divmod(b1, shape[1])
        r2, c2 = np.divmod(b2, shape[1])
        return np.maximum(np.abs(r1 - r2), np.abs(c1 - c2)) <= 1
    d = coords[b1] - coords[b2]
    return np.einsum("ij,ij->i", d, d) < 1.0 + 1e-6


def _adjacency_matrix(shape: tuple[int, int], topology: str) -> np.ndarray:
    k = shape[0] * shape[1]
    coords = grid_coordinates(shape, topology)  # type: ignore[arg-type]
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    adj = _adjacent(i.ravel(), j.ravel(), coords, shape, topology).reshape(k, k)
    np.fill_diagonal(adj, False)
    return adj


def neighborhood_matrix(
    shape: tuple[int, int],
    sigma: float,
    topology: Topology = "rectangular",
    kind: Neighborhood = "gaussian",
) -> np.ndarray:
    """Neurons x neurons neighbourhood weights ``H`` at spread ``sigma``.

    ``gaussian``: ``exp(-d^2 / (2 sigma^2))`` with ``d`` the planar distance of
    :func:`grid_coordinates` (this equals minisom's separable Gaussian on both topologies).
    ``bubble``: 1 inside, 0 outside; on a rectangular map the square ``|dr| < sigma and |dc| < sigma``
    (minisom's bubble), on a hexagonal map the hexagon ``d < sigma`` (minisom uses the square of grid
    indices there too, which ignores the hexagonal geometry).

    Examples
    --------
    >>> neighborhood_matrix((1, 3), 1.0, kind="bubble").tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    coords = grid_coordinates(shape, topology)
    diff = coords[:, None, :] - coords[None, :, :]
    if kind == "gaussian":
        d2 = np.einsum("ijk,ijk->ij", diff, diff)
        return np.exp(-d2 / (2.0 * sigma * sigma))
    if kind == "bubble":
        if topology == "rectangular":
            return (np.abs(diff).max(axis=2) < sigma).astype(np.float64)
        return (np.sqrt(np.einsum("ijk,ijk->ij", diff, diff)) < sigma).astype(np.float64)
    raise ValueError(f"neighborhood must be 'gaussian' or 'bubble', not {kind!r}")


def sigma_schedule(sigma_start: float, sigma_end: float, epochs: int, decay: Decay) -> np.ndarray:
    """Neighbourhood spread of each epoch.

    ``exponential``: ``s0 (s1/s0)^(t/(T-1))``; ``linear``: ``s0 + (s1 - s0) t/(T-1)``;
    ``asymptotic``: ``s0 / (1 + 2t/T)`` (minisom's default ``asymptotic_decay``; ``sigma_end`` unused).

    Examples
    --------
    >>> sigma_schedule(4.0, 1.0, 3, "exponential").tolist()
    [4.0, 2.0, 1.0]
    """
    t = np.arange(epochs, dtype=np.float64)
    frac = t / (epochs - 1) if epochs > 1 else np.zeros(epochs)
    if decay == "exponential":
        return sigma_start * (sigma_end / sigma_start) ** frac
    if decay == "linear":
        return sigma_start + (sigma_end - sigma_start) * frac
    if decay == "asymptotic":
        return sigma_start / (1.0 + t / (epochs / 2.0))
    raise ValueError(f"decay must be 'exponential', 'linear' or 'asymptotic', not {decay!r}")


# --------------------------------------------------------------------------------------------------
# per-chunk kernels (module level: they are shipped to dask workers)
# --------------------------------------------------------------------------------------------------
class _Partial(NamedTuple):
    """Additive statistics of a chunk: everything an epoch needs, summed over chunks."""

    sums: np.ndarray | None  # (K, F) float64 per-BMU sums of x
    counts: np.ndarray  # (K,) hits
    dist_sums: np.ndarray  # (K,) sum of distances to the BMU per BMU
    qe_sum: float
    te_count: int
    n: int


def _add(a: _Partial, b: _Partial) -> _Partial:
    sums = None if a.sums is None or b.sums is None else a.sums + b.sums
    return _Partial(
        sums,
        a.counts + b.counts,
        a.dist_sums + b.dist_sums,
        a.qe_sum + b.qe_sum,
        a.te_count + b.te_count,
        a.n + b.n,
    )


def _fold(add: Callable[[Any, Any], Any], parts: list[Any]) -> Any:
    return functools.reduce(add, parts)


def _valid_rows(x: np.ndarray) -> np.ndarray:
    return ~np.isnan(x).any(axis=1)


def _bmus(
    x: np.ndarray, w: np.ndarray, w2: np.ndarray, second: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """First (and second) BMU of every row of float32 ``x`` (no NaN) from one matrix product.

    Also returns ``||w_bmu||^2 - 2 x.w_bmu`` (add ``||x||^2`` for the squared distance).
    """
    d = x @ (w * np.float32(-2.0)).T
    d += w2
    b1 = np.argmin(d, axis=1)
    b2 = None
    if second and w.shape[0] > 1:
        rows = np.arange(len(x))
        dmin = d[rows, b1].copy()
        d[rows, b1] = np.inf
        b2 = np.argmin(d, axis=1)
        return b1, b2, dmin
    return b1, b2, d[np.arange(len(x)), b1]


def _chunk_stats(
    x: np.ndarray,
    w: np.ndarray,
    w2: np.ndarray,
    coords: np.ndarray,
    shape: tuple[int, int],
    topology: str,
    with_sums: bool,
    exact: bool = True,
) -> _Partial:
    """Additive statistics of a chunk. ``exact=False`` takes the BMU distances from the matrix
    product (float32 cancellation, ~1e-5 relative) instead of from ``x - w_bmu`` (used while training)."""
    k, f = w.shape
    x = np.asarray(x, dtype=np.float32)
    ok = _valid_rows(x)
    if not ok.all():
        x = x[ok]
    n = len(x)
    if n == 0:
        return _Partial(
            np.zeros((k, f)) if with_sums else None, np.zeros(k), np.zeros(k), 0.0, 0, 0
        )
    b1, b2, dmin = _bmus(x, w, w2, second=True)
    if exact:
        diff = x - w[b1]
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff, dtype=np.float64))
    else:
        x2 = np.einsum("ij,ij->i", x, x, dtype=np.float64)
        dist = np.sqrt(np.maximum(dmin + x2, 0.0))
    counts = np.bincount(b1, minlength=k).astype(np.float64)
    dist_sums = np.bincount(b1, weights=dist, minlength=k)
    te = 0 if b2 is None else int((~_adjacent(b1, b2, coords, shape, topology)).sum())
    sums = None
    if with_sums:
        onehot = sp.csr_matrix((np.ones(n, dtype=np.float32), (b1, np.arange(n))), shape=(k, n))
        sums = np.asarray(onehot @ x, dtype=np.float64)  # float32 within a chunk, float64 across
    return _Partial(sums, counts, dist_sums, float(dist.sum()), te, n)


def _chunk_bmu(x: np.ndarray, w: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """Flat BMU (``-1`` for NaN rows) of each row of a chunk."""
    x = np.asarray(x, dtype=np.float32)
    ok = _valid_rows(x)
    out = np.full(len(x), -1, dtype=np.int64)
    if ok.any():
        out[ok] = _bmus(x[ok], w, w2, second=False)[0]
    return out


def _chunk_bmu_distance(x: np.ndarray, w: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """(BMU, distance to it) of each row; ``(-1, nan)`` for NaN rows. Shape (n, 2), float64."""
    x = np.asarray(x, dtype=np.float32)
    ok = _valid_rows(x)
    out = np.full((len(x), 2), np.nan)
    out[:, 0] = -1
    if ok.any():
        xo = x[ok]
        b = _bmus(xo, w, w2, second=False)[0]
        diff = xo - w[b]
        out[ok, 0] = b
        out[ok, 1] = np.sqrt(np.einsum("ij,ij->i", diff, diff, dtype=np.float64))
    return out


def _chunk_transform(x: np.ndarray, w: np.ndarray, w2: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    d = x @ (w * np.float32(-2.0)).T
    d += w2
    d += np.einsum("ij,ij->i", x, x)[:, None]
    np.maximum(d, 0.0, out=d)
    return np.sqrt(d)


def _chunk_gram(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    x = np.asarray(x, dtype=np.float64)
    x = x[_valid_rows(x)]
    return x.T @ x, x.sum(axis=0), len(x)


def _add_gram(a: tuple[np.ndarray, np.ndarray, int], b: tuple[np.ndarray, np.ndarray, int]) -> Any:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


# --------------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------------
def _numpy_chunks(X: np.ndarray, chunk_size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(X), chunk_size):
        yield X[start : start + chunk_size]


# --------------------------------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------------------------------
class SOM(TransformerMixin, BaseEstimator):
    """Batch self-organizing map trained chunk by chunk, on numpy or (distributed) dask arrays.

    Parameters
    ----------
    shape : (int, int)
        Map rows and columns. Neuron ``(r, c)`` has flat index ``r * shape[1] + c``.
    topology : {"rectangular", "hexagonal"}
        Hexagonal maps are offset grids (odd rows shifted by half a neuron, rows ``sqrt(3)/2`` apart).
    neighborhood : {"gaussian", "bubble"}
        Neighbourhood function, see :func:`neighborhood_matrix`.
    epochs : int
        Passes over the data; the codebook is updated once per pass.
    sigma_start : float, optional
        Neighbourhood spread of the first epoch; default ``max(shape) / 2``.
    sigma_end : float
        Spread of the last epoch (unused by ``decay="asymptotic"``). 1.0 keeps the topology (a
        lower value lowers the quantisation error and raises the topographic error: below 1 the
        last epochs approach k-means).
    decay : {"exponential", "linear", "asymptotic"}
        Schedule of ``sigma`` over the epochs, see :func:`sigma_schedule`. The batch SOM has no
        learning rate: each epoch sets the codebook to the neighbourhood-weighted means.
    init : {"pca", "random"} or array of shape (rows, cols, features)
        ``"pca"``: a regular grid on the plane of the two first principal components, centred on the
        mean and spanning +-1 standard deviation along each (minisom's ``pca_weights_init`` spans
        +-1 in units of the unit eigenvectors instead). ``"random"``: distinct rows drawn from the data.
        An array: these initial weights.
    random_state : int, optional
        Seed of the random init; the same seed gives the same map (PCA init is deterministic).
    chunk_size : int
        Rows per chunk for numpy input (dask input keeps its own row chunks).

    Attributes
    ----------
    codebook_ : ndarray of shape (rows, cols, n_features_in_)
        Neuron weights (float64).
    n_features_in_ : int
    sigma_ : ndarray of shape (epochs,)
        Spread used at each epoch.
    quantization_error_, topographic_error_ : ndarray of shape (epochs,)
        Errors on the training rows of the map after each epoch's update. Entry ``t`` comes free with
        the BMU pass of epoch ``t + 1`` (distances from the float32 matrix product, ~1e-5 relative);
        the last entry from one extra exact pass, so it equals ``quantization_error(X_train)``.
    hits_ : ndarray of shape (rows, cols)
        Training rows per neuron with the final map.
    neuron_distance_ : ndarray of shape (rows, cols)
        Mean distance of each neuron's training rows to it (NaN for empty neurons); used by
        :meth:`outlier_score`.
    n_samples_seen_ : int
        Valid (non-NaN) training rows.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> X = np.random.default_rng(1).normal(size=(1000, 5)).astype(np.float32)
    >>> X[3] = np.nan
    >>> som = SOM(shape=(4, 4), topology="hexagonal", epochs=4, random_state=0).fit(X)
    >>> int(som.predict(X)[3])
    -1
    >>> lazy = SOM(shape=(4, 4), topology="hexagonal", epochs=4, random_state=0).fit(
    ...     da.from_array(X, chunks=(250, 5)))
    >>> bool(np.allclose(lazy.codebook_, som.codebook_))
    True
    >>> som.hit_map(X).sum()
    np.int64(999)
    """

    def __init__(
        self,
        shape: tuple[int, int] = (20, 20),
        topology: Topology = "rectangular",
        neighborhood: Neighborhood = "gaussian",
        epochs: int = 20,
        sigma_start: float | None = None,
        sigma_end: float = 1.0,
        decay: Decay = "exponential",
        init: Literal["pca", "random"] | np.ndarray = "pca",
        random_state: int | None = None,
        chunk_size: int = 10_000,
    ) -> None:
        self.shape = shape
        self.topology = topology
        self.neighborhood = neighborhood
        self.epochs = epochs
        self.sigma_start = sigma_start
        self.sigma_end = sigma_end
        self.decay = decay
        self.init = init
        self.random_state = random_state
        self.chunk_size = chunk_size

    # ---------------------------------------------------------------- chunked plumbing
    @property
    def _grid(self) -> tuple[int, int]:
        return int(self.shape[0]), int(self.shape[1])

    def _reduce(
        self, X: Any, fn: Callable[..., Any], add: Callable[[Any, Any], Any], *args: Any
    ) -> Any:
        """``sum(fn(chunk, *args))`` over row chunks: a loop (numpy) or tasks + tree reduction (dask)."""
        if is_dask(X):
            blocks = list(X.to_delayed().ravel())
            dargs = [dask.delayed(a) if isinstance(a, np.ndarray) else a for a in args]
            parts = [dask.delayed(fn, pure=True)(b, *dargs) for b in blocks]
            # pairwise: the order of the sums, hence the last bits, as before
            fold = dask.delayed(functools.partial(_fold, add), pure=True)
            return dask.compute(tree_reduce(parts, fold, split_every=2))[0]
        total = None
        for chunk in _numpy_chunks(X, self.chunk_size):
            part = fn(chunk, *args)
            total = part if total is None else add(total, part)
        return total

    def _map_rows(
        self, X: Any, fn: Callable[..., np.ndarray], out_cols: int | None, dtype: Any
    ) -> Any:
        """Row-wise ``fn(chunk, w, w2)``: a lazy dask array for dask input, else a numpy array."""
        w, w2 = self._w32()
        if is_dask(X):
            if out_cols is None:
                return X.map_blocks(fn, w, w2, drop_axis=1, dtype=dtype)
            return X.map_blocks(fn, w, w2, chunks=(X.chunks[0], (out_cols,)), dtype=dtype)
        parts = [fn(c, w, w2) for c in _numpy_chunks(X, self.chunk_size)]
        if not parts:
            return np.empty((0,) if out_cols is None else (0, out_cols), dtype=dtype)
        return np.concatenate(parts)

    def _w32(self) -> tuple[np.ndarray, np.ndarray]:
        w = np.ascontiguousarray(self.codebook_.reshape(-1, self.n_features_in_), dtype=np.float32)
        return w, np.einsum("ij,ij->i", w, w)

    def _check_X(self, X: Any) -> Any:
        check_is_fitted(self, "codebook_")
        X = check_array(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, the map was fitted on {self.n_features_in_}"
            )
        return X

    def _stats(self, X: Any, with_sums: bool, exact: bool = True) -> _Partial:
        w, w2 = self._w32()
        coords = grid_coordinates(self._grid, self.topology)
        return self._reduce(
            X, _chunk_stats, _add, w, w2, coords, self._grid, self.topology, with_sums, exact
        )

    # ---------------------------------------------------------------- initialisation
    def _initial_codebook(self, X: Any) -> np.ndarray:
        rows, cols = self._grid
        f = X.shape[1]
        if isinstance(self.init, str) and self.init == "pca":
            gram, s, n = self._reduce(X, _chunk_gram, _add_gram)
            if n < 2:
                raise ValueError("PCA init needs at least 2 valid rows")
            mean = s / n
            cov = (gram - n * np.outer(mean, mean)) / (n - 1)
            vals, vecs = np.linalg.eigh(cov)
            order = np.argsort(vals)[::-1][:2]
            pcs = vecs[:, order] * np.sqrt(np.maximum(vals[order], 0.0))
            for j in range(pcs.shape[1]):  # deterministic sign
                if pcs[np.argmax(np.abs(pcs[:, j])), j] < 0:
                    pcs[:, j] *= -1
            if pcs.shape[1] < 2:
                pcs = np.column_stack([pcs, np.zeros(f)])
            a = np.linspace(-1, 1, rows) if rows > 1 else np.zeros(1)
            b = np.linspace(-1, 1, cols) if cols > 1 else np.zeros(1)
            return mean + a[:, None, None] * pcs[:, 0] + b[None, :, None] * pcs[:, 1]
        if isinstance(self.init, str) and self.init == "random":
            rng = np.random.default_rng(self.random_state)
            n_all = X.shape[0]
            k = rows * cols
            take = min(n_all, 2 * k + 16)
            idx = np.sort(rng.choice(n_all, size=take, replace=False))
            cand = X[idx]
            cand = np.asarray(cand.compute() if is_dask(cand) else cand, dtype=np.float64)
            cand = cand[_valid_rows(cand)]
            if len(cand) == 0:
                raise ValueError("no valid (non-NaN) rows to draw the random init from")
            cand = cand[rng.permutation(len(cand))]
            if len(cand) < k:
                cand = cand[rng.integers(0, len(cand), size=k)]
            return cand[:k].reshape(rows, cols, f).copy()
        init = np.asarray(self.init, dtype=np.float64)
        if init.shape != (rows, cols, f):
            raise ValueError(f"init array must have shape {(rows, cols, f)}, got {init.shape}")
        return init.copy()

    # ---------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any = None) -> SOM:
        """Train the map.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            numpy array, dask array (row-chunked; one task per chunk and epoch) or xarray DataArray
            (or a feature-store Dataset: its ``features`` are used). Rows with a NaN are ignored.
        y : ignored

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(300, 4))
        >>> som = SOM(shape=(3, 3), epochs=3, init="random", random_state=5).fit(X)
        >>> som.quantization_error_.shape, som.sigma_.round(2).tolist()
        ((3,), [1.5, 1.22, 1.0])
        """
        X = check_array(X)
        rows, cols = self._grid
        if rows < 1 or cols < 1:
            raise ValueError(f"shape must be positive, got {self.shape}")
        if self.epochs < 1:
            raise ValueError("epochs must be >= 1")
        self.n_features_in_ = int(X.shape[1])
        s0 = float(self.sigma_start) if self.sigma_start is not None else max(rows, cols) / 2.0
        self.sigma_ = sigma_schedule(s0, float(self.sigma_end), int(self.epochs), self.decay)
        self.codebook_ = self._initial_codebook(X)
        k = rows * cols
        qe = np.empty(self.epochs)
        te = np.empty(self.epochs)
        for t, sigma in enumerate(self.sigma_):
            part = self._stats(X, with_sums=True, exact=False)
            if part.n == 0:
                raise ValueError("X has no valid (non-NaN) rows")
            if t > 0:  # this pass measured the map updated by the previous epoch
                qe[t - 1] = part.qe_sum / part.n
                te[t - 1] = part.te_count / part.n
            h = neighborhood_matrix(self._grid, float(sigma), self.topology, self.neighborhood)
            num = h @ part.sums
            den = h @ part.counts
            upd = den > 0
            w = self.codebook_.reshape(k, -1)
            w[upd] = num[upd] / den[upd, None]
        final = self._stats(X, with_sums=False)
        qe[-1] = final.qe_sum / final.n
        te[-1] = final.te_count / final.n
        self.quantization_error_ = qe
        self.topographic_error_ = te
        self.n_samples_seen_ = int(final.n)
        self.hits_ = final.counts.astype(np.int64).reshape(rows, cols)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.neuron_distance_ = (final.dist_sums / final.counts).reshape(rows, cols)
        return self

    # ---------------------------------------------------------------- per-row results
    def predict(self, X: Any) -> Any:
        """Flat index of the best-matching neuron of each row (``-1`` for rows with a NaN).

        Lazy (a dask array) for dask input.

        Examples
        --------
        >>> import numpy as np
        >>> som = SOM(shape=(1, 2), init=np.array([[[0.0], [10.0]]]), epochs=1, sigma_end=0.1,
        ...           sigma_start=0.1)
        >>> som.fit(np.array([[0.0], [10.0]])).predict(np.array([[1.0], [9.0], [np.nan]])).tolist()
        [0, 1, -1]
        """
        return self._map_rows(self._check_X(X), _chunk_bmu, None, np.int64)

    def bmu_coordinates(self, X: Any) -> tuple[Any, Any]:
        """Map ``(row, col)`` of the best-matching neuron of each row (``(-1, -1)`` for NaN rows).

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(50, 3))
        >>> r, c = SOM(shape=(3, 4), epochs=2).fit(X).bmu_coordinates(X)
        >>> bool((r < 3).all() and (c < 4).all())
        True
        """
        b = self.predict(X)
        cols = self._grid[1]
        valid = b >= 0
        r = (b // cols) * valid + (-1) * ~valid
        c = (b % cols) * valid + (-1) * ~valid
        return r, c

    def transform(self, X: Any) -> Any:
        """Euclidean distance of each row to every neuron, shape (n_samples, rows * cols).

        Flat neuron order (``r * cols + c``); NaN rows give NaN. For dask input a lazy dask array
        with the row chunks of ``X`` (never materialised here).

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(20, 3))
        >>> SOM(shape=(2, 3), epochs=2).fit(X).transform(X).shape
        (20, 6)
        """
        X = self._check_X(X)
        return self._map_rows(X, _chunk_transform, self._grid[0] * self._grid[1], np.float32)

    def quantization_error(self, X: Any) -> float:
        """Mean distance of the (non-NaN) rows to their best-matching neuron, computed in chunks.

        Examples
        --------
        >>> import numpy as np
        >>> som = SOM(shape=(1, 2), init=np.array([[[0.0], [10.0]]]), epochs=1, sigma_start=0.1)
        >>> som.fit(np.array([[0.0], [10.0]])).quantization_error(np.array([[1.0], [7.0]]))
        2.0
        """
        p = self._stats(self._check_X(X), with_sums=False)
        return float(p.qe_sum / p.n) if p.n else float("nan")

    def topographic_error(self, X: Any) -> float:
        """Fraction of rows whose first and second BMUs are not map neighbours, computed in chunks.

        Neighbours: the 8 surrounding neurons on a rectangular map (as minisom), the 6 adjacent ones
        on a hexagonal map.

        Examples
        --------
        >>> import numpy as np
        >>> som = SOM(shape=(1, 3), init=np.array([[[0.0], [5.0], [1.0]]]), epochs=1, sigma_start=0.1)
        >>> som.fit(np.array([[0.0], [1.0], [5.0]])).topographic_error(np.array([[0.4], [3.5]]))
        0.5
        """
        p = self._stats(self._check_X(X), with_sums=False)
        return float(p.te_count / p.n) if p.n else float("nan")

    def hit_map(self, X: Any) -> np.ndarray:
        """Number of rows whose BMU is each neuron, shape (rows, cols); NaN rows are not counted.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(40, 3))
        >>> h = SOM(shape=(2, 3), epochs=2).fit(X).hit_map(X)
        >>> h.shape, int(h.sum())
        ((2, 3), 40)
        """
        p = self._stats(self._check_X(X), with_sums=False)
        return p.counts.astype(np.int64).reshape(self._grid)

    def neuron_members(self, X: Any) -> dict[int, np.ndarray]:
        """Row indices of ``X`` mapped to each neuron: ``{flat neuron index: sorted row indices}``.

        Only neurons with at least one row appear. The BMUs are computed in chunks; the result holds
        one integer per row.

        Examples
        --------
        >>> import numpy as np
        >>> som = SOM(shape=(1, 2), init=np.array([[[0.0], [10.0]]]), epochs=1, sigma_start=0.1)
        >>> m = som.fit(np.array([[0.0], [10.0]])).neuron_members(np.array([[9.0], [1.0], [8.0]]))
        >>> {k: v.tolist() for k, v in m.items()}
        {0: [1], 1: [0, 2]}
        """
        b = self.predict(X)
        b = np.asarray(b.compute() if is_dask(b) else b)
        order = np.argsort(b, kind="stable")
        sb = b[order]
        keys, starts = np.unique(sb, return_index=True)
        bounds = np.append(starts[1:], len(sb))
        return {int(k): order[s:e] for k, s, e in zip(keys, starts, bounds, strict=True) if k >= 0}

    def outlier_score(self, X: Any, method: Literal["distance", "relative"] = "distance") -> Any:
        """Outlier score per row (NaN for rows with a NaN); higher is more anomalous.

        ``"distance"`` (default): the Euclidean distance to the best-matching neuron (the row's
        quantisation error). ``"relative"``: that distance divided by the mean distance of the
        neuron's training rows (``neuron_distance_``; the median over neurons for neurons without
        training rows). On the synthetic LAMOST-like spectra the plain distance finds the injected
        outliers best: a small group of similar outliers may capture neurons of its own, and the
        relative score then divides their large distances by an equally large neuron scale.

        Lazy (a dask array) for dask input.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(200, 3))
        >>> X[7] = 30.0
        >>> s = SOM(shape=(3, 3), epochs=5, random_state=0).fit(X).outlier_score(X)
        >>> int(np.argmax(s))
        7
        """
        out = self._map_rows(self._check_X(X), _chunk_bmu_distance, 2, np.float64)
        dist = out[:, 1]
        if method == "distance":
            return dist
        if method != "relative":
            raise ValueError(f"method must be 'distance' or 'relative', not {method!r}")
        scale = self.neuron_distance_.ravel().copy()
        fallback = np.nanmedian(scale) if np.isfinite(scale).any() else 1.0
        scale[~np.isfinite(scale) | (scale <= 0)] = fallback if fallback > 0 else 1.0
        scale_ext = np.append(scale, np.nan)  # index -1 (NaN rows) -> NaN
        b = out[:, 0]
        if is_dask(out):
            idx = da.where(b < 0, len(scale), b).astype(np.int64)
            return dist / da.from_array(scale_ext)[idx]
        idx = np.where(b < 0, len(scale), b).astype(np.int64)
        return dist / scale_ext[idx]

    # ---------------------------------------------------------------- map views
    def umatrix(self) -> np.ndarray:
        """Mean distance of each neuron's weights to those of its map neighbours, shape (rows, cols).

        Neighbours as in :meth:`topographic_error` (8 rectangular, 6 hexagonal). Not normalised
        (minisom's ``distance_map`` divides by the maximum).

        Examples
        --------
        >>> import numpy as np
        >>> som = SOM(shape=(1, 3), init=np.array([[[0.0], [1.0], [3.0]]]), epochs=1, sigma_start=0.1)
        >>> som.fit(np.array([[0.0], [1.0], [3.0]])).umatrix().tolist()
        [[1.0, 1.5, 2.0]]
        """
        check_is_fitted(self, "codebook_")
        w = self.codebook_.reshape(-1, self.n_features_in_)
        adj = _adjacency_matrix(self._grid, self.topology)
        sq = np.einsum("ij,ij->i", w, w)
        d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (w @ w.T), 0.0))
        with np.errstate(invalid="ignore"):
            u = (d * adj).sum(axis=1) / adj.sum(axis=1)
        return u.reshape(self._grid)

    def component_planes(self) -> np.ndarray:
        """The codebook as one map per feature: a (features, rows, cols) view of ``codebook_``.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(30, 4))
        >>> SOM(shape=(2, 3), epochs=1).fit(X).component_planes().shape
        (4, 2, 3)
        """
        check_is_fitted(self, "codebook_")
        return self.codebook_.transpose(2, 0, 1)

    def neuron_spectra(self, X: Any, neuron: int | Sequence[int]) -> Any:
        """Rows of ``X`` (e.g. spectra of the feature store) mapped to a neuron (flat index or (r, c)).

        Examples
        --------
        >>> import numpy as np
        >>> som = SOM(shape=(1, 2), init=np.array([[[0.0], [10.0]]]), epochs=1, sigma_start=0.1)
        >>> som.fit(np.array([[0.0], [10.0]])).neuron_spectra(np.array([[9.0], [1.0]]), (0, 1)).tolist()
        [[9.0]]
        """
        if not isinstance(neuron, int | np.integer):
            neuron = int(neuron[0]) * self._grid[1] + int(neuron[1])
        idx = self.neuron_members(X).get(int(neuron), np.empty(0, dtype=np.int64))
        return check_array(X)[idx]

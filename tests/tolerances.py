"""How the tests compare float results (see "Tolerances" in DEVELOPERS.md).

float32 sums and matrix products follow the SIMD order that the arrays' alignment, the BLAS
build and its threads choose: other processes, chunkings or machines agree to float32 precision
(~1e-6 relative), not bit for bit. A best-matching unit (an argmin over such distances) is
compared only where the best neuron is clearly ahead of the second.
"""

from __future__ import annotations

import numpy as np

#: float32 results of other processes, threads or chunkings; values of order 1 (atol for ~0).
FLOAT32 = {"rtol": 1e-6, "atol": 1e-6}

#: relative gap between the two nearest neurons below which float32 rounding may swap them
BMU_MARGIN = 1e-4


def bmu_margin(X: np.ndarray, codebook: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 BMU of every row of ``X`` (``-1`` for rows with NaN) and the relative gap
    ``(d2 - d1) / d1`` between its nearest and second-nearest neuron (``inf`` for NaN rows)."""
    w = np.asarray(codebook, np.float64).reshape(-1, codebook.shape[-1])
    x = np.asarray(X, np.float64)
    ok = ~np.isnan(x).any(axis=1)
    bmu = np.full(len(x), -1)
    gap = np.full(len(x), np.inf)
    d = np.sqrt(((x[ok, None, :] - w[None]) ** 2).sum(axis=2))
    order = np.argsort(d, axis=1)
    rows = np.arange(len(d))
    d1, d2 = d[rows, order[:, 0]], d[rows, order[:, 1]]
    bmu[ok] = order[:, 0]
    gap[ok] = (d2 - d1) / np.maximum(d1, 1e-300)
    return bmu, gap


def assert_bmus_agree(
    X: np.ndarray, codebook: np.ndarray, got: np.ndarray, want: np.ndarray, *, min_clear=0.99
) -> None:
    """``got`` and ``want`` (flat BMUs, ``-1`` for NaN rows) are equal wherever the float64
    BMU of ``codebook`` is clearly ahead (gap > :data:`BMU_MARGIN`), and both equal it there;
    elsewhere (near-ties, where rounding decides) each is one of the nearly nearest neurons.
    At least ``min_clear`` of the rows must be clear, or the check would prove little."""
    bmu, gap = bmu_margin(X, codebook)
    got, want = np.asarray(got), np.asarray(want)
    np.testing.assert_array_equal(got == -1, bmu == -1)
    np.testing.assert_array_equal(want == -1, bmu == -1)
    clear = gap > BMU_MARGIN
    assert clear.mean() >= min_clear, f"only {clear.mean():.3f} of the rows have a clear BMU"
    np.testing.assert_array_equal(got[clear], bmu[clear])
    np.testing.assert_array_equal(want[clear], bmu[clear])
    w = np.asarray(codebook, np.float64).reshape(-1, codebook.shape[-1])
    for r in np.flatnonzero(~clear):
        d = np.linalg.norm(np.asarray(X[r], np.float64) - w, axis=1)
        for b in (got[r], want[r]):
            assert d[b] <= d.min() * (1 + BMU_MARGIN), (r, b, d.min())

"""vocloud.ml.PCA on a real 2-worker LocalCluster, reading a Zarr v3 store lazily."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from distributed import get_task_stream
from sklearn.decomposition import PCA as SkPCA

from vocloud.ml import PCA

pytestmark = pytest.mark.cluster

K = 5


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A 6,000 x 60 float32 store in 1,000-row chunks with a few NaN rows (failed spectra)."""
    rng = np.random.default_rng(7)
    n, p, rank = 6_000, 60, 8
    x = 1.0 + 0.1 * (rng.normal(size=(n, rank)) * np.geomspace(1, 0.05, rank)) @ rng.normal(
        size=(rank, p)
    )
    x = (x + 0.002 * rng.normal(size=(n, p))).astype(np.float32)
    x[[3, 1_500, 4_999]] = np.nan
    path = tmp_path_factory.mktemp("pca") / "features.zarr"
    da.from_array(x, chunks=(1_000, p)).to_zarr(str(path), zarr_format=3)
    return path, x


@pytest.mark.parametrize("solver", ["gram", "tsqr"])
def test_fit_from_zarr_on_cluster(client, store, solver):
    path, x = store
    lazy = da.from_zarr(str(path))
    assert lazy.chunks[0] == (1_000,) * 6
    keep = np.isfinite(x).all(axis=1)
    ref = SkPCA(n_components=K, svd_solver="covariance_eigh").fit(x[keep].astype(np.float64))

    with get_task_stream(client) as ts:
        ours = PCA(n_components=K, solver=solver).fit(lazy)
    # the pass over the store ran on the cluster's workers
    assert any("_block_stats" in str(t["key"]) for t in ts.data)

    assert ours.n_samples_ == int(keep.sum()) == 5_997
    np.testing.assert_allclose(
        ours.explained_variance_ratio_, ref.explained_variance_ratio_, atol=1e-4
    )
    dots = np.abs(np.sum(ours.components_ * ref.components_, axis=1))
    assert np.all(dots > 1 - 1e-6), dots
    np.testing.assert_allclose(ours.components_, ref.components_, atol=1e-5)

    y = ours.transform(lazy)
    assert isinstance(y, da.Array)
    y = client.compute(y).result()
    assert np.isnan(y[~keep]).all()
    np.testing.assert_allclose(y[keep], ref.transform(x[keep].astype(np.float64)), atol=1e-4)

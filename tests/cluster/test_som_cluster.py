"""SOM training on a 2-worker LocalCluster from a Zarr-backed dask array equals the numpy fit."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from tolerances import BMU_MARGIN, FLOAT32, assert_bmus_agree, bmu_margin

from vocloud.ml.som import SOM

pytestmark = pytest.mark.cluster


def _data(n: int = 4000, f: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(6, f))
    X = (centres[rng.integers(0, 6, n)] + rng.normal(size=(n, f))).astype(np.float32)
    X[[10, 1500, 3999]] = np.nan  # failed spectra
    return X


@pytest.mark.parametrize("init", ["pca", "random"])
def test_zarr_dask_fit_on_cluster_equals_numpy(client, tmp_path, init: str) -> None:
    X = _data()
    path = str(tmp_path / "features.zarr")
    da.from_array(X, chunks=(500, -1)).to_zarr(path)
    lazy = da.from_zarr(path)
    assert lazy.numblocks == (8, 1)
    kw = dict(shape=(6, 7), topology="hexagonal", epochs=6, init=init, random_state=4)
    ref = SOM(**kw, chunk_size=500).fit(X)  # type: ignore[arg-type]
    dist = SOM(**kw).fit(lazy)  # type: ignore[arg-type]
    # float32 products whose SIMD summation order follows the arrays' alignment (Zarr-read chunks
    # vs numpy views): equal to float32 precision, not bit for bit
    np.testing.assert_allclose(dist.codebook_, ref.codebook_, **FLOAT32)
    np.testing.assert_allclose(dist.quantization_error_, ref.quantization_error_, rtol=1e-6)
    # counts of BMUs: equal but for rows whose two nearest neurons are nearly tied, which
    # rounding may swap (a row moves one hit; a row's topographic error is 0 or 1 of n)
    assert_bmus_agree(X, ref.codebook_, dist.predict(lazy).compute(), ref.predict(X))
    n_tied = int((bmu_margin(X, ref.codebook_)[1] <= BMU_MARGIN).sum())
    assert np.abs(dist.hits_ - ref.hits_).sum() <= 2 * n_tied
    n = int((~np.isnan(X).any(axis=1)).sum())
    np.testing.assert_allclose(dist.topographic_error_, ref.topographic_error_, atol=2 / n)
    assert dist.topographic_error(lazy) == pytest.approx(ref.topographic_error(X), abs=2 / n)

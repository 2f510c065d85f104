"""vocloud.ml.PCA against scikit-learn on in-memory data (threaded dask scheduler)."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from sklearn.decomposition import PCA as SkPCA

from vocloud.ml import PCA

K = 6


@pytest.fixture(autouse=True)
def _threaded():
    with dask.config.set(scheduler="threads"):
        yield


def _data(n: int = 2_000, p: int = 40, rank: int = 8, seed: int = 0) -> np.ndarray:
    """Low-rank 'spectra' (continuum ~1 + a few components) plus noise, float32."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, rank)) * np.geomspace(1.0, 0.05, rank)
    basis = rng.normal(size=(rank, p))
    x = 1.0 + 0.1 * scores @ basis + 0.002 * rng.normal(size=(n, p))
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return _data()


@pytest.fixture(scope="module")
def sk(data) -> SkPCA:
    return SkPCA(n_components=K, svd_solver="covariance_eigh").fit(data.astype(np.float64))


def _assert_matches(ours: PCA, ref: SkPCA, x: np.ndarray) -> None:
    np.testing.assert_allclose(
        ours.explained_variance_ratio_, ref.explained_variance_ratio_, atol=1e-4
    )
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-6, atol=1e-7)
    dots = np.abs(np.sum(ours.components_ * ref.components_, axis=1))
    assert np.all(dots > 1 - 1e-6), dots
    y, y_ref = np.asarray(ours.transform(x)), ref.transform(x.astype(np.float64))
    signs = np.sign(np.sum(ours.components_ * ref.components_, axis=1))
    scale = np.abs(y_ref).max()
    np.testing.assert_allclose(y * signs, y_ref, atol=1e-4 * scale)


def test_matches_sklearn_numpy(data, sk):
    ours = PCA(n_components=K).fit(data)
    _assert_matches(ours, sk, data)
    # Same sign convention as scikit-learn: the components agree exactly, not only up to sign.
    np.testing.assert_allclose(ours.components_, sk.components_, atol=1e-5)
    np.testing.assert_allclose(ours.singular_values_, sk.singular_values_, rtol=1e-4)
    assert ours.noise_variance_ == pytest.approx(sk.noise_variance_, rel=1e-3)
    assert ours.n_samples_ == data.shape[0] and ours.n_features_in_ == data.shape[1]
    assert ours.n_components_ == K and ours.components_.shape == (K, data.shape[1])


def test_matches_sklearn_full_solver(data):
    ref = SkPCA(n_components=K, svd_solver="full").fit(data.astype(np.float64))
    _assert_matches(PCA(n_components=K).fit(data), ref, data)


@pytest.mark.parametrize("rows", [2_000, 500, 333, 64, 7])
@pytest.mark.parametrize("solver", ["gram", "tsqr"])
def test_dask_row_chunks(data, sk, rows, solver):
    ours = PCA(n_components=K, solver=solver, precision="float64").fit(
        da.from_array(data, chunks=(rows, -1))
    )
    _assert_matches(ours, sk, data)
    ref = PCA(n_components=K, precision="float64").fit(data)
    np.testing.assert_allclose(ours.components_, ref.components_, atol=1e-7)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-9)


def test_dask_column_chunks_are_rechunked(data, sk):
    x = da.from_array(data, chunks=(500, 15))
    ours = PCA(n_components=K).fit(x)
    _assert_matches(ours, sk, data)
    y = ours.transform(x)
    assert y.chunks == ((500,) * 4, (K,))


def test_transform_dask_lazy_and_equal(data):
    pca = PCA(n_components=K).fit(data)
    x = da.from_array(data, chunks=(300, -1))
    y = pca.transform(x)
    assert isinstance(y, da.Array) and y.dtype == np.float32
    assert y.chunks[0] == x.chunks[0]
    np.testing.assert_allclose(y.compute(), pca.transform(data), rtol=1e-5, atol=1e-6)
    y2 = PCA(n_components=K).fit_transform(x)
    assert isinstance(y2, da.Array)
    np.testing.assert_allclose(y2.compute(), pca.transform(data), rtol=1e-5, atol=1e-6)
    assert isinstance(pca.transform(data.astype(np.float64)), np.ndarray)
    assert pca.transform(data.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("solver", ["gram", "tsqr"])
def test_nan_rows_excluded_and_propagated(data, sk, solver):
    bad = np.array([0, 17, 18, 999, 1999])
    x = np.concatenate([data, data[:5]])  # 5 extra rows, then spoil them and a few real ones
    x[-5:] = np.nan
    x_dirty = x.copy()
    x_dirty[bad, 3] = np.nan
    keep = np.isfinite(x_dirty).all(axis=1)
    ref = SkPCA(n_components=K, svd_solver="covariance_eigh").fit(x_dirty[keep].astype(np.float64))
    for xin in (x_dirty, da.from_array(x_dirty, chunks=(400, -1))):
        ours = PCA(n_components=K, solver=solver).fit(xin)
        assert ours.n_samples_ == int(keep.sum()) == data.shape[0] + 5 - 5 - len(bad)
        _assert_matches(ours, ref, x_dirty[keep])
        y = np.asarray(ours.transform(xin))
        assert np.isnan(y[~keep]).all()
        assert np.isfinite(y[keep]).all()


def test_all_nan_chunk(data, sk):
    x = np.concatenate([np.full((300, data.shape[1]), np.nan, np.float32), data])
    ours = PCA(n_components=K).fit(da.from_array(x, chunks=(300, -1)))
    _assert_matches(ours, sk, data)


def test_whiten(data):
    ref = SkPCA(n_components=K, whiten=True, svd_solver="covariance_eigh").fit(
        data.astype(np.float64)
    )
    ours = PCA(n_components=K, whiten=True).fit(da.from_array(data, chunks=(500, -1)))
    y = ours.transform(data.astype(np.float64))
    np.testing.assert_allclose(y.var(axis=0, ddof=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.abs(y), np.abs(ref.transform(data.astype(np.float64))), atol=1e-4)
    back = ours.inverse_transform(y)
    np.testing.assert_allclose(
        back, ref.inverse_transform(ref.transform(data.astype(np.float64))), atol=1e-5
    )


@pytest.mark.parametrize("whiten", [False, True])
def test_inverse_transform_round_trip(whiten):
    x = _data(n=500, p=12, rank=12, seed=3).astype(np.float64)
    pca = PCA(n_components=None, whiten=whiten).fit(x)
    assert pca.n_components_ == 12
    np.testing.assert_allclose(pca.inverse_transform(pca.transform(x)), x, rtol=1e-9, atol=1e-9)
    assert pca.noise_variance_ == 0.0
    xd = da.from_array(x, chunks=(100, -1))
    back = pca.inverse_transform(pca.transform(xd))
    assert isinstance(back, da.Array)
    np.testing.assert_allclose(back.compute(), x, rtol=1e-9, atol=1e-9)


def test_xarray_input(data, sk):
    arr = xr.DataArray(
        da.from_array(data, chunks=(500, -1)),
        dims=("spectrum", "wavelength"),
        coords={"wavelength": np.linspace(6400.0, 6700.0, data.shape[1])},
    )
    ours = PCA(n_components=K, precision="float64").fit(arr)
    _assert_matches(ours, sk, data)
    y = ours.transform(arr)
    assert isinstance(y, da.Array)
    np.testing.assert_allclose(y.compute(), ours.transform(data), rtol=1e-5, atol=1e-6)
    ours_np = PCA(n_components=K, precision="float64").fit(
        xr.DataArray(data, dims=("spectrum", "wavelength"))
    )
    np.testing.assert_allclose(ours_np.components_, ours.components_, atol=1e-7)


def test_wide_data_fewer_rows_than_features():
    x = _data(n=30, p=50, rank=5, seed=4).astype(np.float64)
    ref = SkPCA(n_components=5, svd_solver="full").fit(x)
    for solver in ("gram", "tsqr"):
        ours = PCA(n_components=5, solver=solver).fit(da.from_array(x, chunks=(8, -1)))
        _assert_matches(ours, ref, x)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_components": 0}, "positive int"),
        ({"n_components": -3}, "positive int"),
        ({"n_components": 2.5}, "positive int"),
        ({"n_components": True}, "positive int"),
        ({"n_components": 41}, r"min\(n_samples, n_features\)=40"),
        ({"solver": "randomized"}, "solver"),
        ({"whiten": "yes"}, "whiten"),
    ],
)
def test_parameter_validation(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        PCA(**kwargs).fit(data)


def test_input_validation(data):
    with pytest.raises(ValueError, match="2-D"):
        PCA(2).fit(data[0])
    with pytest.raises(ValueError, match="at least 2 rows"):
        PCA(2).fit(np.full((10, 4), np.nan))
    few = data[:5].copy()
    few[:3] = np.nan  # 2 usable rows: at most 2 components
    with pytest.raises(ValueError, match=r"n_samples=2 rows without NaN"):
        PCA(3).fit(few)
    pca = PCA(2).fit(data)
    with pytest.raises(ValueError, match="features"):
        pca.transform(data[:, :10])
    with pytest.raises(ValueError, match="columns"):
        pca.inverse_transform(np.zeros((3, 5)))


def test_not_fitted_and_sklearn_api(data):
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        PCA().transform(data)
    pca = PCA(n_components=3, whiten=True, solver="tsqr")
    assert pca.get_params() == {
        "n_components": 3,
        "whiten": True,
        "solver": "tsqr",
        "precision": "auto",
    }
    assert clone(pca).get_params() == pca.get_params()


@pytest.mark.parametrize("rows", [2_000, 333, 7])
def test_float32_products_stay_close_to_float64(data, rows):
    """precision="auto" (float32 products summed in float64) against the float64 fit."""
    ref = PCA(n_components=K, precision="float64").fit(data)
    ours = PCA(n_components=K).fit(da.from_array(data, chunks=(rows, -1)))
    np.testing.assert_allclose(
        ours.explained_variance_ratio_, ref.explained_variance_ratio_, atol=1e-6
    )
    dots = np.abs(np.sum(ours.components_ * ref.components_, axis=1))
    assert dots.min() > 1 - 1e-6
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-7)


def test_precision_is_checked():
    with pytest.raises(ValueError, match="precision"):
        PCA(precision="half").fit(np.ones((4, 3), np.float32))

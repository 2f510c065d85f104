"""The input check and the tree reduction the estimators share (vocloud.ml.validation, .reduction)."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

from vocloud.ml import PCA, SOM, SpectraForest
from vocloud.ml.reduction import tree_reduce
from vocloud.ml.validation import check_array

RNG = np.random.default_rng(3)
X = RNG.normal(size=(40, 6)).astype(np.float32)
Y = np.where(X[:, 0] > 0, "a", "b")


def _fits() -> list:
    return [
        lambda v: PCA(n_components=2).fit(v),
        lambda v: SOM(shape=(2, 2), epochs=1, random_state=0).fit(v),
        lambda v: SpectraForest(n_estimators=5, cv_folds=2, n_jobs=1, random_state=0).fit(v, Y),
    ]


@pytest.mark.parametrize("fit", _fits(), ids=["pca", "som", "forest"])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (X[:, 0], r"X must be 2-D \(spectra x features\), got shape \(40,\)"),
        (X.astype(str), "X must hold real numbers, got dtype <U"),
        (xr.Dataset({"flux": (("spectrum", "wavelength"), X)}), "without a 'features' variable"),
    ],
    ids=["1-D", "strings", "dataset-without-features"],
)
def test_every_estimator_rejects_bad_input_alike(fit, bad, message) -> None:
    with pytest.raises(ValueError, match=message):
        fit(bad)


def test_check_array_unwraps_xarray_rows_first() -> None:
    arr = xr.DataArray(X, dims=("spectrum", "wavelength"))
    np.testing.assert_array_equal(check_array(arr), X)
    np.testing.assert_array_equal(check_array(arr.transpose()), X)  # wavelength first
    np.testing.assert_array_equal(check_array(xr.Dataset({"features": arr})), X)
    lazy = check_array(xr.DataArray(da.from_array(X, chunks=(10, 2)), dims=arr.dims))
    assert isinstance(lazy, da.Array) and lazy.chunks == ((10,) * 4, (6,))
    np.testing.assert_array_equal(lazy.compute(), X)


def test_estimators_take_the_feature_store_dataset() -> None:
    ds = xr.Dataset({"features": (("spectrum", "wavelength"), X)})
    np.testing.assert_allclose(
        PCA(n_components=2).fit(ds).components_, PCA(n_components=2).fit(X).components_
    )


def test_tree_reduce_on_values_and_delayed_agree() -> None:
    parts = [np.full(3, float(i)) for i in range(11)]
    for k in (2, 3, 8):
        lazy = tree_reduce([dask.delayed(p) for p in parts], dask.delayed(sum), split_every=k)
        np.testing.assert_array_equal(lazy.compute(), tree_reduce(parts, sum, split_every=k))
        np.testing.assert_array_equal(lazy.compute(), np.full(3, 55.0))
    assert tree_reduce([7], sum) == 7
    with pytest.raises(ValueError, match="split_every"):
        tree_reduce(parts, sum, split_every=1)
    with pytest.raises(ValueError, match="nothing to reduce"):
        tree_reduce([], sum)

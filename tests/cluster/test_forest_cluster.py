"""SpectraForest on a real 2-worker LocalCluster: prediction over a Zarr store, joblib training."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
import xarray as xr
from distributed import get_task_stream

from vocloud.ml.forest import SpectraForest

pytestmark = pytest.mark.cluster


def toy(n: int, m: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    classes = np.array(["absorption", "emission", "shell"])
    y = classes[rng.integers(0, 3, n)]
    X = rng.normal(0, 0.3, (n, m)).astype(np.float32)
    for k, c in enumerate(classes):
        X[y == c, 3 + 10 * k] += 2.0
    return X, y


def test_predict_zarr_store_on_cluster(client, tmp_path):
    X, y = toy(3000)
    X[[5, 1500, 2999]] = np.nan  # failed spectra
    ds = xr.Dataset(
        {"features": (("spectrum", "wavelength"), X)},
        coords={
            "id": ("spectrum", np.array([f"s{i}" for i in range(len(X))], dtype="U8")),
            "wavelength": ("wavelength", 6500 + np.arange(X.shape[1]), {"units": "Angstrom"}),
        },
    ).chunk({"spectrum": 1000, "wavelength": -1})
    ds.to_zarr(tmp_path / "store.zarr", mode="w", consolidated=False)
    store = xr.open_zarr(tmp_path / "store.zarr", consolidated=False)
    labelled = np.arange(0, 3000, 10)
    labelled = labelled[~np.isnan(X[labelled]).any(axis=1)]
    f = SpectraForest(n_estimators=30, cv_folds=3, n_jobs=1, random_state=0, chunk_size=2000)
    f.fit(store["features"][labelled], y[labelled])
    lazy_p = f.predict_proba(store["features"])
    lazy_y = f.predict(store["features"])
    assert lazy_p.chunks[0] == (2000, 1000)  # 1,000-row store chunks merged to >= chunk_size
    p, lab = client.compute([lazy_p, lazy_y], sync=True)
    np.testing.assert_allclose(p, f.predict_proba(X))
    np.testing.assert_array_equal(lab, f.predict(X))
    assert lab[5] == "" and np.isnan(p[1500]).all()
    assert (lab[~np.isnan(X).any(axis=1)] == y[~np.isnan(X).any(axis=1)]).mean() > 0.95


def test_training_under_joblib_dask_backend(client):
    X, y = toy(300)
    with get_task_stream(client) as ts, joblib.parallel_backend("dask"):
        f = SpectraForest(n_estimators=20, cv_folds=3, n_jobs=-1, random_state=0).fit(X, y)
    assert len(ts.data) > 0  # the trees were built by the cluster's workers
    assert len(f.estimator_.estimators_) == 20
    assert f.confusion_matrix_.to_numpy().sum() == 300
    assert f.cv_accuracy_ > 0.9
    local = SpectraForest(n_estimators=20, cv_folds=3, n_jobs=1, random_state=0).fit(X, y)
    np.testing.assert_allclose(f.predict_proba(X), local.predict_proba(X))

"""SpectraForest and label loading: unit tests and a science check on synthetic LAMOST spectra."""

from __future__ import annotations

import json
import warnings

import astropy.units as u
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from astropy.table import Table

from vocloud.ml import forest as forest_mod
from vocloud.ml.forest import SpectraForest
from vocloud.ml.labels import align_labels, load_labels

CLASSES = np.array(["absorption", "emission", "shell"])


# -- labels ---------------------------------------------------------------------------------
def test_labels_from_csv(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("id,label,extra\n a ,shell,1\nb,emission,2\nb,emission,3\nc,,4\n")
    s = load_labels(p)
    assert s.to_dict() == {"a": "shell", "b": "emission"}
    assert s.index.name == "id" and s.name == "label"


def test_labels_from_csv_other_columns(tmp_path):
    p = tmp_path / "eye.csv"
    p.write_text("obsid,cls\n101,shell\n102,absorption\n")
    s = load_labels(p, id_column="obsid", label_column="cls")
    assert s.to_dict() == {"101": "shell", "102": "absorption"}


def test_labels_from_votable(tmp_path):
    p = tmp_path / "labels.vot"
    Table({"id": ["s1", "s2"], "label": ["shell", "double-peak"], "snr": [3.0, 4.0]}).write(
        p, format="votable"
    )
    assert load_labels(p).to_dict() == {"s1": "shell", "s2": "double-peak"}
    q = tmp_path / "labels_noext"  # detected from its content
    q.write_bytes(p.read_bytes())
    assert load_labels(q).to_dict() == {"s1": "shell", "s2": "double-peak"}


def test_labels_from_frames_and_mappings():
    df = pd.DataFrame({"label": ["x", "y"]}, index=pd.Index(["s1", "s2"], name="id"))
    assert load_labels(df).to_dict() == {"s1": "x", "s2": "y"}
    assert load_labels(pd.Series({"s1": "x"})).to_dict() == {"s1": "x"}
    assert load_labels({1: "x", 2: "y"}).to_dict() == {"1": "x", "2": "y"}
    assert load_labels(Table({"id": ["s1"], "label": ["x"]})).to_dict() == {"s1": "x"}


def test_labels_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        load_labels(tmp_path / "nope.csv")
    p = tmp_path / "bad.csv"
    p.write_text("obsid,label\n1,x\n")
    with pytest.raises(KeyError, match=r"bad\.csv.*id column 'id'.*obsid"):
        load_labels(p)
    with pytest.raises(KeyError, match=r"label column 'class'"):
        load_labels(p, id_column="obsid", label_column="class")
    p.write_text("id,label\ns1,shell\ns2,x\ns1,absorption\ns2,x\ns3,a\ns3,b\n")
    with pytest.raises(
        ValueError, match=r"2 ids have conflicting labels: 's1': absorption, shell; 's3'"
    ):
        load_labels(p)
    with pytest.raises(TypeError):
        load_labels(42)


def test_align_labels():
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    rows, y = align_labels(ids, load_labels({"d": "x", "b": "y"}))
    assert rows.tolist() == [1, 3] and y.tolist() == ["y", "x"]
    with pytest.warns(UserWarning, match="1 of 2 labelled ids are not in the store"):
        align_labels(ids, {"a": "x", "zz": "y"})
    with pytest.raises(ValueError, match="none of the 1 labelled ids"):
        align_labels(ids, {"zz": "y"})


# -- the estimator on toy data ----------------------------------------------------------------
def toy(n: int = 240, m: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes, each a bump at its own feature, plus noise."""
    rng = np.random.default_rng(seed)
    y = CLASSES[rng.integers(0, 3, n)]
    X = rng.normal(0, 0.3, (n, m)).astype(np.float32)
    for k, c in enumerate(CLASSES):
        X[y == c, 5 + 10 * k] += 2.0
    return X, y


@pytest.fixture(scope="module")
def fitted() -> tuple[SpectraForest, np.ndarray, np.ndarray]:
    X, y = toy()
    return SpectraForest(n_estimators=40, cv_folds=4, n_jobs=1, random_state=0).fit(X, y), X, y


def test_fit_metrics(fitted):
    f, X, y = fitted
    assert f.classes_.tolist() == CLASSES.tolist()
    assert f.n_features_in_ == X.shape[1] and f.n_samples_ == len(y)
    assert 0.9 <= f.oob_score_ <= 1 and 0.9 <= f.cv_accuracy_ <= 1
    cm = f.confusion_matrix_
    assert cm.index.name == "true" and cm.columns.name == "predicted"
    assert cm.to_numpy().sum() == len(y)
    assert (cm.sum(axis=1).to_numpy() == [np.sum(y == c) for c in CLASSES]).all()
    assert np.trace(cm.to_numpy()) / len(y) == pytest.approx(f.cv_accuracy_)
    assert set(f.f1_per_class_) == set(CLASSES)
    assert all(0 <= v <= 1 for v in f.f1_per_class_.values())
    assert f.feature_importances_.sum() == pytest.approx(1.0)
    m = json.loads(json.dumps(f.metrics()))
    for key in (
        "oob_score",
        "cv_accuracy",
        "f1_per_class",
        "confusion_matrix",
        "classes",
        "feature_importances",
        "cv_folds",
        "n_samples",
        "params",
    ):
        assert key in m
    assert m["confusion_matrix"]["matrix"] == cm.to_numpy().tolist()
    assert m["params"]["n_estimators"] == 40
    assert (f.predict(X) == y).mean() > 0.99


def test_fit_from_dask_and_xarray_gives_same_forest(fitted):
    f, X, y = fitted
    Xd = xr.DataArray(da.from_array(X, chunks=(50, -1)), dims=("spectrum", "wavelength"))
    g = SpectraForest(n_estimators=40, cv_folds=4, n_jobs=1, random_state=0).fit(Xd, y)
    np.testing.assert_array_equal(g.predict_proba(X), f.predict_proba(X))


def test_folds_reduced_with_warning():
    X, y = toy(60)
    y = y.copy()
    y[:3] = "rare"
    y[3:] = np.where(y[3:] == "rare", "shell", y[3:])
    with pytest.warns(UserWarning, match="only 3 labelled spectra.*3 folds instead of 5"):
        f = SpectraForest(n_estimators=10, n_jobs=1, random_state=0).fit(X, y)
    assert f.cv_folds_ == 3 and f.confusion_matrix_.to_numpy().sum() == 60
    y[0] = "single"
    with pytest.warns(UserWarning, match="cross validation skipped"):
        f = SpectraForest(n_estimators=10, n_jobs=1, random_state=0).fit(X, y)
    assert f.cv_accuracy_ is None and json.dumps(f.metrics())


def test_fit_errors(fitted):
    X, y = toy(30)
    with pytest.raises(ValueError, match="at least 2 classes"):
        SpectraForest(n_estimators=5).fit(X, np.full(30, "a"))
    with pytest.raises(ValueError, match="1-D with 30 labels"):
        SpectraForest(n_estimators=5).fit(X, y[:10])
    with pytest.raises(ValueError, match="trained on 30"):
        fitted[0].predict(X[:, :5])


@pytest.mark.parametrize("path", ["dask-ml", "map-blocks", "dask-ml-broken"])
def test_dask_predict_equals_numpy(fitted, path, monkeypatch):
    f, X, _ = fitted
    assert forest_mod.USE_DASK_ML  # the default path is dask-ml's ParallelPostFit
    if path == "map-blocks":
        monkeypatch.setattr(forest_mod, "USE_DASK_ML", False)
    calls = []
    real = forest_mod._dask_ml_blockwise
    monkeypatch.setattr(forest_mod, "_dask_ml_blockwise", lambda *a: calls.append(a[2]) or real(*a))
    if path == "dask-ml-broken":

        def broken(*args, **kwargs):
            raise ImportError("no dask_ml")

        monkeypatch.setattr(forest_mod, "_dask_ml_blockwise", broken)
    g = SpectraForest(**{**f.get_params(), "chunk_size": 60})
    g.__dict__.update({k: v for k, v in vars(f).items() if k.endswith("_")})
    Xd = da.from_array(X, chunks=(35, 10))  # feature axis split: rechunked
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        lab, proba = g.predict(Xd), g.predict_proba(Xd)
    fell_back = [x for x in w if "falling back" in str(x.message)]
    assert bool(fell_back) == (path == "dask-ml-broken")
    if path == "dask-ml":  # the probe and the real mapping, for predict and predict_proba
        assert calls == ["predict", "predict", "predict_proba", "predict_proba"]
    assert isinstance(lab, da.Array) and isinstance(proba, da.Array)
    # row chunks of 35 merged (whole chunks) to >= chunk_size rows
    assert lab.chunks == ((70, 70, 70, 30),) and proba.chunks == ((70, 70, 70, 30), (3,))
    np.testing.assert_array_equal(lab.compute(), f.predict(X))
    np.testing.assert_allclose(proba.compute(), f.predict_proba(X))


def test_model_is_one_graph_key_without_dask_ml(fitted, monkeypatch):
    """On the map_blocks path (the fallback when dask-ml breaks) the fitted model is one key of
    the graph, not pickled into every task (dask-ml's ParallelPostFit pickles it per task)."""
    import pickle

    monkeypatch.setattr(forest_mod, "USE_DASK_ML", False)
    f, X, _ = fitted
    g = SpectraForest(**{**f.get_params(), "chunk_size": 10})
    g.__dict__.update({k: v for k, v in vars(f).items() if k.endswith("_")})
    proba = g.predict_proba(da.from_array(X, chunks=(10, -1)))
    assert proba.numblocks[0] == 24
    graph = dict(proba.__dask_graph__())
    model_size = len(pickle.dumps(f.estimator_))
    sizes = sorted(len(pickle.dumps(t)) for t in graph.values())
    assert sizes[-1] > model_size / 2  # the model's own key
    assert sizes[-2] < model_size / 10  # every task refers to it


def test_fortran_copy():
    X = np.arange(3000, dtype=np.float64).reshape(600, 5)
    X[[3, 599]] = np.nan
    X[10, 2] = np.nan
    XF, bad = forest_mod._fortran(X)
    assert XF.flags.f_contiguous and XF.dtype == np.float32
    assert np.flatnonzero(bad).tolist() == [3, 10, 599]
    assert (XF[bad] == 0).all() and np.array_equal(XF[~bad], X[~bad].astype(np.float32))


def test_xarray_predict(fitted):
    f, X, _ = fitted
    ds = xr.Dataset(
        {"features": (("spectrum", "wavelength"), da.from_array(X, chunks=(100, -1)))},
        coords={"wavelength": np.arange(X.shape[1]) + 6500.0},
    )
    out = f.predict(ds["features"])
    assert isinstance(out, da.Array)
    np.testing.assert_array_equal(out.compute(), f.predict(X))
    # numpy-backed DataArray: numpy out
    assert isinstance(f.predict(ds["features"].compute()), np.ndarray)


def test_nan_rows(fitted):
    f, X, y = fitted
    Xn = X[:50].copy()
    Xn[[3, 17, 49]] = np.nan
    lab = f.predict(Xn)
    proba = f.predict_proba(Xn)
    assert lab.tolist()[3] == "" and lab[17] == "" and lab[49] == ""
    assert (
        np.isnan(proba[[3, 17, 49]]).all() and not np.isnan(np.delete(proba, [3, 17, 49], 0)).any()
    )
    ok = np.ones(50, bool)
    ok[[3, 17, 49]] = False
    np.testing.assert_array_equal(lab[ok], f.predict(X[:50][ok]))
    lazy = f.predict(da.from_array(Xn, chunks=(10, -1))).compute()
    np.testing.assert_array_equal(lazy, lab)
    all_nan = da.full((20, X.shape[1]), np.nan, dtype=np.float32, chunks=(10, -1))
    assert np.isnan(f.predict_proba(all_nan).compute()).all()
    # labelled NaN rows are dropped when training
    yn = y[:50]
    with pytest.warns(UserWarning, match="3 labelled rows contain NaN"):
        g = SpectraForest(n_estimators=5, cv_folds=2, n_jobs=1, random_state=0).fit(Xn, yn)
    assert g.n_samples_ == 47


def test_numpy_chunked_predict(fitted):
    f, X, _ = fitted
    g = SpectraForest(**{**f.get_params(), "chunk_size": 7})
    g.__dict__.update({k: v for k, v in f.__dict__.items() if k.endswith("_")})
    np.testing.assert_array_equal(g.predict_proba(X), f.predict_proba(X))


def test_integer_classes_missing_is_none():
    X, y = toy(90)
    yi = np.searchsorted(CLASSES, y)
    f = SpectraForest(n_estimators=10, cv_folds=3, n_jobs=1, random_state=0).fit(X, yi)
    X[0] = np.nan
    out = f.predict(X[:5])
    assert out[0] is None and out.dtype == object and set(out[1:]) <= {0, 1, 2}


def test_importance_spectrum(fitted):
    f, X, _ = fitted
    wl = xr.DataArray(
        np.linspace(6500, 6600, X.shape[1]), dims="wavelength", attrs={"units": "Angstrom"}
    )
    imp = f.importance_spectrum(wl)
    assert imp.dims == ("wavelength",) and imp.name == "importance"
    np.testing.assert_array_equal(imp["wavelength"].values, wl.values)
    assert imp["wavelength"].attrs["units"] == "Angstrom" and "units" in imp.attrs
    # the informative features are the three bumps
    assert set(np.argsort(imp.values)[-3:]) == {5, 15, 25}
    q = f.importance_spectrum(np.linspace(650, 660, X.shape[1]) * u.nm)
    assert q["wavelength"].attrs["units"] == "nm"
    with pytest.raises(ValueError, match="30 features"):
        f.importance_spectrum(np.arange(3.0))


# -- science check ----------------------------------------------------------------------------
def test_science_lamost_classes():
    """~10 % of the ok, non-outlier spectra labelled by eye; held-out accuracy >= 0.9."""
    from vocloud.datasets import synthesize
    from vocloud.io import Spectrum
    from vocloud.preprocess import PreprocessParams, preprocess_block

    spectra = synthesize(2000, layout="lamost-dr7", seed=7)
    res = preprocess_block(
        [
            Spectrum(s.wavelength * u.AA, s.flux, ivar=s.ivar, mask=s.mask, meta=s.meta)
            for s in spectra
        ],
        PreprocessParams(),
    )
    X = res.features
    assert X.shape == (2000, 1161)
    cls = np.array([s.cls for s in spectra])
    ok = np.array([e is None for e in res.error]) & (cls != "outlier")
    assert np.isnan(X[~np.array([e is None for e in res.error])]).all()
    rng = np.random.default_rng(0)
    usable = np.flatnonzero(ok)
    rng.shuffle(usable)
    train, test = usable[:200], usable[200:1000]
    f = SpectraForest(n_estimators=100, n_jobs=2, random_state=0).fit(X[train], cls[train])
    acc = float((f.predict(X[test]) == cls[test]).mean())
    assert acc >= 0.9, (acc, f.metrics()["confusion_matrix"])
    assert f.cv_accuracy_ >= 0.8
    # prediction over the whole block (failed rows included) through dask equals numpy
    lazy = f.predict(da.from_array(X, chunks=(500, -1))).compute()
    np.testing.assert_array_equal(lazy, f.predict(X))
    assert (lazy[~np.array([e is None for e in res.error])] == "").all()


def test_step_reads_whole_zarr_chunks_per_task(tmp_path):
    """The random-forest step reads the feature store in tasks of several Zarr chunks."""
    from types import SimpleNamespace

    from vocloud.steps.methods import _rows_per_task
    from vocloud.store import ChunkData, FeatureStore, open_store

    n, m = 45, 4
    st = FeatureStore.create(
        tmp_path / "f.zarr.partial",
        ids=[f"s{i}" for i in range(n)],
        paths=[f"s{i}" for i in range(n)],
        grid=np.arange(m, dtype=float),
        chunk_size=10,
    )
    feats = np.arange(n * m, dtype="f4").reshape(n, m)
    for i in range(st.n_chunks):
        a, b = st.chunk_bounds(i)
        st.write_chunk(st.path, i, a, ChunkData(feats[a:b], {"status": np.ones(b - a, "i1")}))
    path = st.finish(tmp_path / "f.zarr", {}).path
    ds = open_store(path)
    assert ds.features.chunks[0] == (10, 10, 10, 10, 5)
    ctx = SimpleNamespace(features_store=path)
    X = _rows_per_task(ds.features, ctx, 15)
    assert X.chunks[0] == (20, 20, 5) and X.numblocks[1] == 1
    # one task per block: the Zarr read is not split into per-chunk tasks and merges
    assert len(dict(X.__dask_graph__())) <= X.numblocks[0] + 1
    np.testing.assert_array_equal(X.compute(), feats)
    other = ds.features.rename("pca_score")  # not the store's features: used as it is
    assert _rows_per_task(other, ctx, 15).chunks[0] == (10, 10, 10, 10, 5)

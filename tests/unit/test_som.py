"""Unit tests of vocloud.ml.som.SOM: minisom agreement, determinism, chunking, map statistics, science."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from tiers import require
from tolerances import BMU_MARGIN, FLOAT32, assert_bmus_agree, bmu_margin

from vocloud.ml.som import SOM, grid_coordinates, neighborhood_matrix

#: minisom is the reference implementation (test extra), not a vocloud dependency
MINISOM_WHY = "the reference SOM of these tests (in the test extra)"


def _blobs(n: int = 300, f: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(5, f))
    return (
        (centres[rng.integers(0, 5, n)] + rng.normal(size=(n, f)))
        .astype(np.float32)
        .astype(np.float64)
    )


def _hex_bubble(ms: object):
    """A hexagon bubble on minisom's own (hexagonal) neuron coordinates."""

    def bubble(c: tuple[int, int], sigma: float) -> np.ndarray:
        xx, yy = ms._xx.T, ms._yy.T  # type: ignore[attr-defined]
        return (np.hypot(xx - xx[c], yy - yy[c]) < sigma).astype(float)

    return bubble


@pytest.mark.filterwarnings("ignore:sigma should be an integer")
@pytest.mark.parametrize("topology", ["rectangular", "hexagonal"])
@pytest.mark.parametrize("neighborhood", ["gaussian", "bubble"])
def test_matches_minisom_train_batch_offline(topology: str, neighborhood: str) -> None:
    minisom = require("minisom", MINISOM_WHY)
    rows, cols, epochs = 5, 4, 6  # odd rows: minisom's hex offset lands on our odd rows (see below)
    sigma0 = 2.0 if neighborhood == "gaussian" else 2.5
    X = _blobs()
    init = np.random.default_rng(3).normal(size=(rows, cols, X.shape[1]))
    # minisom neuron (i, j) sits at x = i (shifted half a step on alternate j), y = j*sqrt(3)/2:
    # our neuron (r, c) is their (i=c, j=r), so their map is our map transposed.
    ms = minisom.MiniSom(
        cols,
        rows,
        X.shape[1],
        sigma=sigma0,
        learning_rate=1.0,
        decay_function=lambda lr, t, T: 1.0,  # batch SOM: the codebook becomes the weighted means
        sigma_decay_function="asymptotic_decay",
        neighborhood_function=neighborhood,
        topology=topology,
        random_seed=0,
    )
    if topology == "hexagonal" and neighborhood == "bubble":
        ms.neighborhood = _hex_bubble(ms)  # minisom's bubble ignores the hexagonal geometry
    ms._weights = init.transpose(1, 0, 2).copy()
    ms.train_batch_offline(X, epochs)

    som = SOM(
        shape=(rows, cols),
        topology=topology,  # type: ignore[arg-type]
        neighborhood=neighborhood,  # type: ignore[arg-type]
        epochs=epochs,
        sigma_start=sigma0,
        decay="asymptotic",
        init=init,
        chunk_size=64,
    ).fit(X)
    np.testing.assert_allclose(
        som.codebook_, ms.get_weights().transpose(1, 0, 2), atol=1e-5, rtol=1e-5
    )
    qe_ms = ms.quantization_error(X)
    assert som.quantization_error_[-1] == pytest.approx(qe_ms, rel=1e-5)
    assert som.quantization_error(X) == pytest.approx(qe_ms, rel=1e-5)
    if neighborhood == "gaussian":
        # a fraction of rows: float32 (ours) and float64 (minisom) distances may order a near-tie
        # of second-nearest neurons differently, one row in 300 moving it by 1/300
        assert som.topographic_error(X) == pytest.approx(ms.topographic_error(X), abs=1.5 / len(X))


def test_hex_coordinates_match_minisom() -> None:
    minisom = require("minisom", MINISOM_WHY)
    ms = minisom.MiniSom(4, 5, 2, topology="hexagonal")
    theirs = np.stack([ms._xx.T, ms._yy.T], axis=-1).transpose(1, 0, 2).reshape(-1, 2)
    ours = grid_coordinates((5, 4), "hexagonal")
    d_theirs = np.linalg.norm(theirs[:, None] - theirs[None], axis=-1)
    d_ours = np.linalg.norm(ours[:, None] - ours[None], axis=-1)
    np.testing.assert_allclose(d_ours, d_theirs, atol=1e-12)
    # six neighbours at distance 1 for an inner neuron
    assert np.isclose(d_ours[6], 1.0).sum() == 6


def test_neighborhood_matrix() -> None:
    h = neighborhood_matrix((3, 3), 1.5, "rectangular", "bubble")
    assert h[4].sum() == 9
    g = neighborhood_matrix((3, 3), 1.0, "hexagonal", "gaussian")
    np.testing.assert_allclose(g, g.T)
    assert np.allclose(np.diag(g), 1.0)


@pytest.mark.parametrize("init", ["pca", "random"])
def test_seed_determinism(init: str) -> None:
    X = _blobs(400)
    a = SOM(shape=(4, 5), epochs=4, init=init, random_state=7).fit(X)  # type: ignore[arg-type]
    b = SOM(shape=(4, 5), epochs=4, init=init, random_state=7).fit(X)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.codebook_, b.codebook_)
    if init == "random":
        c = SOM(shape=(4, 5), epochs=4, init="random", random_state=8).fit(X)
        assert not np.allclose(a.codebook_, c.codebook_)


@pytest.mark.parametrize("init", ["pca", "random"])
def test_numpy_and_dask_identical(init: str) -> None:
    X = _blobs(600).astype(np.float32)
    X[[5, 100, 599]] = np.nan
    kw = dict(shape=(4, 4), topology="hexagonal", epochs=5, init=init, random_state=1)
    a = SOM(**kw, chunk_size=150).fit(X)  # type: ignore[arg-type]
    b = SOM(**kw).fit(da.from_array(X, chunks=(150, -1)))  # type: ignore[arg-type]
    # float32 products (alignment decides the SIMD summation order): float32 precision
    np.testing.assert_allclose(a.codebook_, b.codebook_, **FLOAT32)
    np.testing.assert_allclose(a.quantization_error_, b.quantization_error_, rtol=1e-6)
    dX = da.from_array(X, chunks=(100, -1))
    pred = b.predict(dX)
    assert isinstance(pred, da.Array)
    assert_bmus_agree(X, a.codebook_, pred.compute(), a.predict(X))
    t = b.transform(dX)
    assert isinstance(t, da.Array) and t.chunks[0] == dX.chunks[0]
    np.testing.assert_allclose(t.compute(), a.transform(X), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(b.outlier_score(dX).compute(), a.outlier_score(X), rtol=1e-6)
    np.testing.assert_allclose(
        b.outlier_score(dX, method="relative").compute(),
        a.outlier_score(X, method="relative"),
        rtol=1e-6,
    )
    # a row whose two nearest neurons are nearly tied may move one hit
    n_tied = int((bmu_margin(X, a.codebook_)[1] <= BMU_MARGIN).sum())
    assert np.abs(b.hit_map(dX) - a.hit_map(X)).sum() <= 2 * n_tied


def test_xarray_input() -> None:
    X = _blobs(200).astype(np.float32)
    arr = xr.DataArray(X, dims=("spectrum", "wavelength"))
    ds = xr.Dataset({"features": arr.chunk({"spectrum": 50})})
    a = SOM(shape=(3, 3), epochs=3).fit(X)
    for inp in (arr, ds):
        # chunk sums are float32 within a chunk: other chunk boundaries change the last bits only
        np.testing.assert_allclose(
            SOM(shape=(3, 3), epochs=3).fit(inp).codebook_, a.codebook_, rtol=1e-5
        )


def test_nan_rows_ignored() -> None:
    X = _blobs(300)
    Xn = np.vstack([X[:100], np.full((7, X.shape[1]), np.nan), X[100:]])
    Xn[150, 2] = np.nan  # a row with a single NaN is ignored too
    keep = np.ones(len(Xn), bool)
    keep[100:107] = False
    keep[150] = False
    a = SOM(shape=(3, 4), epochs=4, init="random", random_state=2, chunk_size=50).fit(Xn[keep])
    b = SOM(shape=(3, 4), epochs=4, init="pca", chunk_size=50).fit(Xn)
    c = SOM(shape=(3, 4), epochs=4, init="pca", chunk_size=50).fit(Xn[keep])
    np.testing.assert_allclose(b.codebook_, c.codebook_, rtol=1e-5, atol=1e-6)
    assert b.n_samples_seen_ == keep.sum() and a.n_samples_seen_ == keep.sum()
    p = b.predict(Xn)
    assert (p[~keep] == -1).all() and (p[keep] >= 0).all()
    assert np.isnan(b.outlier_score(Xn)[~keep]).all()
    assert b.hit_map(Xn).sum() == keep.sum()
    r, col = b.bmu_coordinates(Xn)
    assert (r[~keep] == -1).all() and (col[~keep] == -1).all()
    np.testing.assert_array_equal(r[keep] * 4 + col[keep], p[keep])


def test_errors_on_toy_map() -> None:
    # 1 x 3 map with weights 0, 5, 1 (neurons 0 and 2 are not adjacent)
    init = np.array([[[0.0], [5.0], [1.0]]])
    som = SOM(shape=(1, 3), epochs=1, sigma_start=0.1, neighborhood="bubble", init=init).fit(
        np.array([[0.0], [5.0], [1.0]])
    )
    np.testing.assert_allclose(som.codebook_, init)
    X = np.array([[0.4], [3.5], [6.0], [np.nan]])
    # BMUs: 0 (2nd 2: not adjacent), 1 (2nd 2: adjacent), 1 (2nd 2: adjacent)
    assert som.predict(X).tolist() == [0, 1, 1, -1]
    assert som.quantization_error(X) == pytest.approx((0.4 + 1.5 + 1.0) / 3)
    assert som.topographic_error(X) == pytest.approx(1 / 3)
    np.testing.assert_allclose(som.transform(X[:1]), [[0.4, 4.6, 0.6]], rtol=1e-6)
    # hexagonal, odd rows shifted right: (0, 0) touches (0, 1) and (1, 0) only; (1, 0) touches (2, 1)
    hx = SOM(
        shape=(3, 2), topology="hexagonal", epochs=1, sigma_start=0.1, init=np.zeros((3, 2, 1))
    )
    hx.fit(np.zeros((2, 1)))
    cases = [
        ((0, 0), (1, 0), 0.0),
        ((0, 0), (0, 1), 0.0),
        ((0, 0), (1, 1), 1.0),
        ((0, 0), (2, 0), 1.0),
    ]
    cases += [
        ((1, 0), (2, 1), 0.0),
        ((1, 0), (0, 1), 0.0),
        ((1, 0), (2, 0), 0.0),
        ((2, 1), (0, 1), 1.0),
    ]
    for first, second, expect in cases:
        hx.codebook_[:] = 100.0
        hx.codebook_[first] = 0.0
        hx.codebook_[second] = 1.0
        assert hx.topographic_error(np.array([[0.2]])) == expect, (first, second)


def test_umatrix_hitmap_members_planes() -> None:
    X = _blobs(500)
    som = SOM(shape=(5, 6), topology="hexagonal", epochs=5, random_state=0, chunk_size=128).fit(X)
    u = som.umatrix()
    assert u.shape == (5, 6) and np.isfinite(u).all() and (u > 0).all()
    h = som.hit_map(X)
    assert h.shape == (5, 6) and h.sum() == len(X)
    np.testing.assert_array_equal(h, som.hits_)
    members = som.neuron_members(X)
    pred = som.predict(X)
    assert sum(len(v) for v in members.values()) == len(X)
    for k, rows in members.items():
        assert (pred[rows] == k).all()
        assert h.ravel()[k] == len(rows)
    k0 = next(iter(members))
    np.testing.assert_array_equal(som.neuron_spectra(X, k0), X[members[k0]])
    planes = som.component_planes()
    assert planes.shape == (X.shape[1], 5, 6)
    assert np.shares_memory(planes, som.codebook_)
    np.testing.assert_array_equal(planes[2], som.codebook_[:, :, 2])
    # rectangular umatrix: corner neuron has 3 neighbours
    rs = SOM(shape=(3, 3), epochs=2).fit(X)
    w = rs.codebook_
    corner = np.mean([np.linalg.norm(w[0, 0] - w[a, b]) for a, b in [(0, 1), (1, 0), (1, 1)]])
    assert rs.umatrix()[0, 0] == pytest.approx(corner)
    assert len(rs.quantization_error_) == 2 and len(rs.topographic_error_) == 2
    assert rs.quantization_error_[-1] == pytest.approx(rs.quantization_error(X))


def test_training_improves_and_sklearn_api() -> None:
    from sklearn.base import clone

    X = _blobs(500)
    som = SOM(shape=(6, 6), epochs=8, random_state=0)
    assert clone(som).get_params()["shape"] == (6, 6)
    d = som.fit_transform(X)
    assert d.shape == (500, 36)
    assert som.quantization_error_[-1] < som.quantization_error_[0]
    np.testing.assert_array_equal(np.argmin(d, axis=1), som.predict(X))
    with pytest.raises(ValueError):
        som.predict(X[:, :3])


@pytest.fixture(scope="module")
def spectra_features() -> tuple[np.ndarray, np.ndarray]:
    import astropy.units as u

    import vocloud.io
    import vocloud.preprocess
    from vocloud.datasets import synthesize

    spectra = synthesize(2500, layout="lamost-dr7", seed=11, outlier_fraction=0.025)
    block = [
        vocloud.io.Spectrum(s.wavelength * u.AA, s.flux, ivar=s.ivar, mask=s.mask, meta=s.meta)
        for s in spectra
    ]
    res = vocloud.preprocess.preprocess_block(block, vocloud.preprocess.PreprocessParams())
    return np.asarray(res.features), np.array([s.cls for s in spectra])


def test_science_purity_and_outliers(spectra_features: tuple[np.ndarray, np.ndarray]) -> None:
    X, cls = spectra_features
    ok = ~np.isnan(X).any(axis=1)
    som = SOM(shape=(12, 12), topology="hexagonal", epochs=15, random_state=0, chunk_size=1000).fit(
        X
    )
    assert som.n_samples_seen_ == ok.sum()
    pred = som.predict(X)
    assert (pred[~ok] == -1).all()
    # purity of neurons over the non-outlier classes, weighted by hits
    normal = ok & (cls != "outlier")
    majority = 0
    for k in np.unique(pred[normal]):
        _, counts = np.unique(cls[normal & (pred == k)], return_counts=True)
        majority += counts.max()
    purity = majority / normal.sum()
    assert purity >= 0.85, purity
    # injected outliers among the top 5 % of the outlier score
    score = som.outlier_score(X)[ok]
    is_out = cls[ok] == "outlier"
    top = score >= np.quantile(score, 0.95)
    recall = (top & is_out).sum() / is_out.sum()
    assert is_out.sum() >= 20
    assert recall >= 0.8, recall

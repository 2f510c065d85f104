"""Per-pixel weight (inverse variance) of the features on the grid, BlockResult.weight, and
the store's ``weight`` variable (``preprocess: {weights: true}``).

Checked against the arithmetic (constant ivar through resampling), against the scatter of the
features over many noise realisations of one spectrum (the weight's claim, measured) and on real
archive files against estimates made here from the files read with astropy."""

from __future__ import annotations

import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
import zarr
from astropy.io import fits

from vocloud.io import Spectrum, read_spectrum
from vocloud.preprocess import PreprocessParams, preprocess_block
from vocloud.run.cachekey import cache_key
from vocloud.store import WEIGHT, FeatureStore, check_store, new_chunk, open_store

DESI = Path(__file__).resolve().parents[1] / "data/real/desi/coadd-5-169-thru20210419.fits"


def _params(**kw):
    d = {
        "cutout": {"center": 6562.8, "half_width": 40},
        "grid": {"start": 6540, "stop": 6585, "step": 0.5},
        "continuum": False,
        "scale": None,
    }
    d.update(kw)
    return PreprocessParams.from_dict(d)


def test_constant_ivar_resampled_exactly():
    wl = np.arange(6500.25, 6630.0, 0.5)  # pixels on x.25 and x.75, edges on whole and half A
    s = Spectrum(wl * u.AA, 1 + 1e-3 * (wl - 6500), ivar=np.full(wl.size, 4.0))
    on = _params(resample="linear", grid={"start": 6540.25, "stop": 6584.75, "step": 0.5})
    np.testing.assert_allclose(preprocess_block([s], on, weights=True).weight[0], 4.0, rtol=1e-6)
    mid = _params(resample="linear")  # grid half-way: (1/4 + 1/4) of the variance
    np.testing.assert_allclose(preprocess_block([s], mid, weights=True).weight[0], 8.0, rtol=1e-6)
    coarse = _params(grid={"start": 6540, "stop": 6585, "step": 1.0})
    fc = preprocess_block(
        [s], coarse, weights=True
    )  # a 1 A bin holds two whole 0.5 A pixels: var / 2
    np.testing.assert_allclose(fc.weight[0], 8.0, rtol=1e-6)
    scaled = _params(grid={"start": 6540, "stop": 6585, "step": 1.0}, scale="minmax-1-1")
    res = preprocess_block(
        [s], scaled, weights=True
    )  # [-1, 1] over a ptp of 0.044: slope 2 / 0.044
    ptp = 1e-3 * (6585 - 6540)
    np.testing.assert_allclose(res.weight[0], 8.0 * (ptp / 2) ** 2, rtol=1e-4)


@pytest.mark.parametrize("resample", ["flux-conserving", "linear"])
def test_weight_matches_the_scatter_of_noisy_copies(resample):
    rng = np.random.default_rng(8)
    wl = np.linspace(6450, 6680, 1500)
    truth = 100 * (1 + 0.5 * np.exp(-0.5 * ((wl - 6562.8) / 2.0) ** 2))
    sigma = np.sqrt(truth)  # photon noise: ivar varies over the line
    n = 600
    spectra = [
        Spectrum(
            wl * u.AA,
            truth + sigma * rng.standard_normal(wl.size),
            ivar=1 / sigma**2,
            meta={"RESPOWER": 20000.0},
        )
        for _ in range(n)
    ]
    params = _params(
        resample=resample,
        resolution={"target": 5000, "source": "RESPOWER"},
        continuum={"method": "polynomial", "degree": 1},
    )
    res = preprocess_block(spectra, params, weights=True)
    assert all(e is None for e in res.error)
    predicted = 1 / res.weight.astype(np.float64).mean(axis=0)
    measured = res.features.astype(np.float64).var(axis=0, ddof=1)
    ratio = measured / predicted
    # 600 copies: each pixel's variance is known to ~6%; the continuum fit's own noise (a
    # degree-1 fit over ~1,500 pixels) adds well under 1%
    assert abs(np.mean(ratio) - 1) < 0.03
    assert np.all(np.abs(ratio - 1) < 0.3)


def test_bad_pixels_weigh_nothing_and_spectra_without_ivar_are_nan():
    wl = np.arange(6500.25, 6630.0, 0.5)
    ivar = np.full(wl.size, 4.0)
    ivar[np.abs(wl - 6560.25) < 0.1] = 0.0  # one bad pixel
    with_ivar = Spectrum(wl * u.AA, np.ones(wl.size) + (wl > 6560), ivar=ivar)
    without = Spectrum(wl * u.AA, np.ones(wl.size) + (wl > 6560))  # no ivar
    res = preprocess_block([with_ivar, without], _params(resample="linear"), weights=True)
    grid = _params().grid()
    assert res.error == [None, None]
    near = np.abs(grid - 6560.25) < 0.5
    assert (res.weight[0, near] == 0).all() and (res.weight[0, ~near] > 0).all()
    assert np.isnan(res.weight[1]).all()
    assert preprocess_block([without], _params(), weights=True).weight is None
    assert preprocess_block([with_ivar], _params()).weight is None  # not asked for


def test_weight_of_real_desi_target_is_its_ivar_on_pixels():
    s = read_spectrum(f"{DESI}#4")  # 0.8 A pixels on whole Angstroms of 0.8
    params = _params(
        cutout={"center": 6500, "half_width": 40},
        grid={"start": 6480, "stop": 6520, "step": 0.8, "medium": "vacuum"},
        resample="linear",
    )
    res = preprocess_block([s], params, weights=True)
    assert res.error == [None]
    wl, iv = s.wavelength_aa, np.asarray(s.ivar, dtype=np.float64)
    idx = np.searchsorted(wl, params.grid() - 1e-6)
    expect = np.where(s.good()[idx], iv[idx], 0.0)
    np.testing.assert_allclose(res.weight[0], expect, rtol=1e-5)


# ------------------------------------------------------------------ real files: an independent estimate
REAL = DESI.parents[1]
SDSS_BAD = sum(1 << b for b in (0, 1, 2, 3, 18, 24))  # docs/layouts.md: the bits that mean bad


def _read_desi_r(row: int):
    """The R arm of one DESI target, read with astropy: wavelength, flux, ivar, bad."""
    with warnings.catch_warnings(), fits.open(DESI) as hdul:
        warnings.simplefilter("ignore")
        wl = hdul["R_WAVELENGTH"].data.astype(np.float64)
        iv = hdul["R_IVAR"].data[row].astype(np.float64)
        bad = hdul["R_MASK"].data[row] != 0
        tid = int(hdul["FIBERMAP"].data["TARGETID"][row])
    return tid, wl, iv, bad | (iv <= 0)


def test_weight_of_real_desi_bins_of_whole_pixels_is_exact():
    """DESI R: 0.8 A pixels centred on 5760 + 0.8 k. Grid points on pixel centres 4 A apart:
    each flux-conserving bin [g - 2, g + 2] holds exactly 5 whole pixels, so (no continuum, no
    scale) a grid value is their mean and its variance (1/25) sum 1/ivar_p: ivar 25 / sum(1/ivar)."""
    tid, wl, iv, bad = _read_desi_r(4)
    params = _params(
        cutout={"center": 6520, "half_width": 60},
        grid={"start": 6480.0, "stop": 6560.0, "step": 4.0, "medium": "vacuum"},
    )
    res = preprocess_block([read_spectrum(f"{DESI}#TARGETID={tid}")], params, weights=True)
    assert res.error == [None]
    expect = []
    for g in params.grid():
        k = int(np.argmin(np.abs(wl - g)))
        assert abs(wl[k] - g) < 1e-6  # on a pixel centre
        sel = slice(k - 2, k + 3)
        expect.append(0.0 if bad[sel].any() else 25.0 / np.sum(1.0 / iv[sel]))
    np.testing.assert_allclose(res.weight[0], expect, rtol=1e-5)
    assert (np.asarray(expect) > 0).mean() > 0.9


def _lamost_image(name):
    with warnings.catch_warnings(), fits.open(REAL / name) as hdul:
        warnings.simplefilter("ignore")
        d = hdul[0].data.astype(np.float64)  # rows: flux, ivar, wavelength, andmask, ormask
        assert hdul[0].header["EXTEN0"].startswith("Flux, Inverse, Wavelength, Andmask")
    return d[2], d[0], d[1], (d[3] != 0) | (d[1] <= 0)


def _sdss_coadd(name):
    with warnings.catch_warnings(), fits.open(REAL / name) as hdul:
        warnings.simplefilter("ignore")
        c = hdul["COADD"].data
        wl = 10 ** c["loglam"].astype(np.float64)
        f, iv = c["flux"].astype(np.float64), c["ivar"].astype(np.float64)
        bad = ((c["and_mask"].astype(np.int64) & SDSS_BAD) != 0) | (iv <= 0)
    return wl, f, iv, bad


@pytest.mark.parametrize(
    "name, read",
    [
        ("lamost/spec-58397-EG014118N254444M01_sp03-031.fits", _lamost_image),
        ("sdss/spec-6717-56397-0534.fits", _sdss_coadd),
        ("sdss/spec-1325-52762-0133.fits", _sdss_coadd),
    ],
)
def test_weight_of_real_spectra_is_the_right_size(name, read):
    """The whole default pipeline (continuum over the whole spectrum, H-alpha cutout,
    flux-conserving resampling, min-max to [-1, 1]) on a grid of 6 A, coarser than the ~1.4 A
    log-lambda pixels, against an estimate made here from the file read with astropy.

    A grid value is about the mean of the ~4 pixels n in its bin, divided by the continuum c and
    multiplied by the scale's slope s = 2 / (max - min). The mean of n pixels of similar ivar has
    variance sum_n(1 / ivar_n) / n**2 ~ 1 / sum_n(ivar_n); dividing by c multiplies the inverse
    variance by c**2, scaling by s divides it by s**2: about ``sum_n(ivar_n c_n**2) / s**2``. The
    estimate
    takes c as a straight line through the flux medians of the cutout's two ends (not vocloud's
    polynomial over the whole spectrum), counts whole pixels by their centres (the resampling
    takes fractions of the two edge pixels: up to ~+-40 % on one bin) and the slope from the
    binned flux; so the agreement is ~10 % in the median, not to float precision."""
    wl, f, iv, bad = read(name)
    step = 6.0
    params = PreprocessParams.from_dict(
        {"grid": {"start": 6420, "stop": 6708, "step": step, "medium": "vacuum"}}
    )
    res = preprocess_block([read_spectrum(REAL / name)], params, weights=True)
    assert res.error == [None]
    lo = (wl > 6413) & (wl < 6480) & ~bad
    hi = (wl > 6650) & (wl < 6713) & ~bad
    x0, x1 = wl[lo].mean(), wl[hi].mean()
    y0, y1 = np.median(f[lo]), np.median(f[hi])
    cont = y0 + (y1 - y0) * (wl - x0) / (x1 - x0)
    grid = params.grid()
    ivar_sum = np.empty(grid.size)
    binned = np.empty(grid.size)
    has_bad = np.empty(grid.size, bool)
    for k, g in enumerate(grid):
        sel = (wl >= g - step / 2) & (wl < g + step / 2)
        ivar_sum[k] = np.sum(iv[sel] * cont[sel] ** 2)
        binned[k] = np.mean(f[sel] / cont[sel])
        has_bad[k] = bad[sel].any()
    slope = 2.0 / np.ptp(binned)
    estimate = ivar_sum / slope**2
    got = res.weight[0].astype(np.float64)
    assert (got[has_bad] == 0).all()  # a bad pixel contributed
    ratio = got[~has_bad] / estimate[~has_bad]
    assert ratio.size > 0.8 * grid.size
    assert 0.8 < np.median(ratio) < 1.25
    assert ratio.min() > 0.6 and ratio.max() < 1.7


# ------------------------------------------------------------------ the option and the store
def test_weights_option_parsed_once_and_in_the_cache_key():
    off, on = PreprocessParams(), PreprocessParams.from_dict({"weights": True})
    assert not off.weights and on.weights
    assert "weights" not in off.to_dict()  # the keys of stores without weights are unchanged
    assert PreprocessParams.from_dict(on.to_dict()) == on
    assert PreprocessParams.from_dict({"weights": None}) == off
    spectra = pd.DataFrame({"id": ["a"], "access_url": ["a.fits"]})
    assert cache_key(spectra, on) != cache_key(spectra, off)
    assert cache_key(spectra, PreprocessParams.from_dict({"weights": False})) == cache_key(
        spectra, off
    )
    with pytest.raises(ValueError, match="weights: expected true or false, got 'yes'"):
        PreprocessParams.from_dict({"weights": "yes"})


def test_store_weight_array_written_checked_and_opened(tmp_path):
    grid = np.array([1.0, 2.0, 3.0])
    kw = {"ids": list("abcde"), "paths": list("abcde"), "grid": grid, "chunk_size": 2}
    plain = FeatureStore.create(tmp_path / "plain.zarr", attrs={"cache_key": "k"}, **kw)
    st = FeatureStore.create(tmp_path / "w.zarr", attrs={"cache_key": "k"}, weights=True, **kw)
    assert st.has_weight and not plain.has_weight
    feats = zarr.open_array(str(st.path / "features"), mode="r")
    w = zarr.open_array(str(st.path / WEIGHT), mode="r")
    assert (w.shape, w.chunks, w.dtype) == (feats.shape, feats.chunks, feats.dtype)
    assert w.compressors == feats.compressors and np.isnan(w.fill_value)
    data = new_chunk(2, 3, weights=True)
    data.features[:] = 1.0
    data.weight[:] = [[4.0, 0.0, 2.5], [np.nan, np.nan, np.nan]]
    data.columns["status"][:] = 1
    FeatureStore.write_chunk(st.path, 0, 0, data)
    part = new_chunk(1, 3, weights=True)
    part.weight[:] = 7.0
    part.columns["status"][:] = 1
    FeatureStore.write_rows(st.path, 2, np.array([4]), part)
    ds = open_store(st.path)
    assert ds[WEIGHT].dims == ("spectrum", "wavelength") and ds[WEIGHT].dtype == np.float32
    got = ds[WEIGHT].values
    np.testing.assert_array_equal(got[0], [4.0, 0.0, 2.5])
    assert np.isnan(got[1:4]).all() and (got[4] == 7.0).all()
    assert WEIGHT not in open_store(plain.path).variables
    # resume: a store that must keep weights and lost (or never had) the array is made anew
    assert check_store(st.path, cache_key="k", n_spectra=5, weights=True) is None
    assert check_store(plain.path, cache_key="k", n_spectra=5) is None
    why = check_store(plain.path, cache_key="k", n_spectra=5, weights=True)
    assert why == "array weight: missing or unreadable (FileNotFoundError)"

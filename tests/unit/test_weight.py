"""Per-pixel weight (inverse variance) of the features on the grid, BlockResult.weight.

Checked against the arithmetic (constant ivar through resampling) and against the scatter of the
features over many noise realisations of one spectrum (the weight's claim, measured)."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest

from vocloud.io import Spectrum, read_spectrum
from vocloud.preprocess import PreprocessParams, preprocess_block

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

"""Tests of vocloud.preprocess: parameters, continuum, cutout, resampling, velocity, scaling."""

from __future__ import annotations

import json

import astropy.units as u
import numpy as np
import pytest
import yaml

from vocloud.io.spectrum import Spectrum
from vocloud.preprocess import (
    CONSTANT_FLUX,
    ContinuumParams,
    PreprocessParams,
    bin_edges,
    coverage_errors,
    fit_continuum,
    gaussian_degrade,
    normalise_continuum,
    preprocess_block,
    resample_flux_conserving,
    resample_linear,
    rescale,
)
from vocloud.preprocess.params import C_KMS

YAML = """
preprocess:
  continuum: {method: chebyshev, degree: 5, sigma: [3.0, 3.0], iterations: 5}
  cutout: {center: 6562.8, half_width: 150, unit: Angstrom}
  grid: {start: 6420, stop: 6710, step: 0.25, unit: Angstrom}
  resample: flux-conserving
  scale: minmax-1-1
"""
HALPHA = 6562.8


def params(**over) -> PreprocessParams:
    d = yaml.safe_load(YAML)["preprocess"]
    d.update(over)
    return PreprocessParams.from_dict(d)


def continuum_true(wl: np.ndarray) -> np.ndarray:
    x = (wl - 6400.0) / 2700.0
    return 100.0 * (1 + 0.3 * x - 0.2 * x**2 + 0.05 * x**3)


def gauss(wl: np.ndarray, center: float, sigma: float, amp: float) -> np.ndarray:
    return amp * np.exp(-0.5 * ((wl - center) / sigma) ** 2)


def lamost_wl(shift: float = 0.0, n: int = 3909) -> np.ndarray:
    return 10 ** (np.log10(3700.0) + shift + 1e-4 * np.arange(n))


def make_block(n_spec=8, noise=0.5, seed=1, amp=2.0, sigma=3.0, shifts=True):
    rng = np.random.default_rng(seed)
    wl = np.stack([lamost_wl(rng.uniform(-2e-4, 2e-4) if shifts else 0.0) for _ in range(n_spec)])
    flux = continuum_true(wl) * (1 + gauss(wl, HALPHA, sigma, amp))
    flux = flux + rng.normal(0, noise, wl.shape)
    return wl, flux


def spectrum(wl, flux, **kw) -> Spectrum:
    return Spectrum(np.asarray(wl) * u.AA, np.asarray(flux), **kw)


# ---------------------------------------------------------------- parameters


def test_yaml_parameters_and_canonical_dict():
    p = PreprocessParams.from_dict(yaml.safe_load(YAML))
    d = p.to_dict()
    json.dumps(d)
    assert d["cutout"] == {"center": 6562.8, "half_width": 150.0, "unit": "Angstrom"}
    assert d["grid"] == {
        "start": 6420.0,
        "stop": 6710.0,
        "step": 0.25,
        "unit": "Angstrom",
        "medium": "air",
    }
    assert d["continuum"]["sigma"] == [3.0, 3.0] and d["max_bad_fraction"] == 0.2
    other = {
        "continuum": {"method": "Chebyshev", "degree": 5.0, "sigma": 3, "iterations": 5},
        "cutout": {"center": 656.28, "half_width": 15, "unit": "nm"},
        "grid": {"start": 6420.0, "stop": 6710, "step": 0.25, "unit": "angstrom"},
        "resample": "flux_conserving",
        "scale": "MINMAX-1-1",
    }
    assert PreprocessParams.from_dict(other).to_dict() == d
    assert PreprocessParams.from_dict(d) == p
    g = p.grid()
    assert g.dtype == np.float64 and g.size == 1161 and g[0] == 6420.0 and g[-1] == 6710.0


def test_half_width_velocity_and_center_in_nm():
    p = PreprocessParams.from_dict(
        {"cutout": {"center": 656.28, "unit": "nm", "half_width": 7000, "half_width_unit": "km/s"}}
    )
    assert p.cutout.center == pytest.approx(HALPHA)
    assert p.cutout.half_width == pytest.approx(HALPHA * 7000 / C_KMS)
    q = PreprocessParams.from_dict({"cutout": {"center": "656.28 nm", "half_width": "7000 km/s"}})
    assert q.to_dict() == p.to_dict()


@pytest.mark.parametrize(
    ("d", "key"),
    [
        ({"colour": 1}, "colour"),
        ({"continuum": {"method": "legendre"}}, "continuum.method"),
        ({"continuum": {"degree": -1}}, "continuum.degree"),
        ({"continuum": {"sigma": [3, 3, 3]}}, "continuum.sigma"),
        ({"continuum": {"knots": 5}}, "continuum.knots"),
        ({"continuum": {"foo": 5}}, "continuum.foo"),
        ({"cutout": {"center": 6562.8, "half_width": 1, "unit": "Hz/s"}}, "cutout.center"),
        ({"grid": {"start": 6000, "stop": 6710}}, "grid"),
        ({"grid": {"step": 0}}, "grid.step"),
        ({"resample": "cubic"}, "resample"),
        ({"scale": "max"}, "scale"),
        ({"max_bad_fraction": 2}, "max_bad_fraction"),
        ({"resolution": {"source": 5000}}, "resolution.target"),
        ({"rv": "fast"}, None),
    ],
)
def test_parameter_validation(d, key):
    if key is None:  # a string rv is a keyword name: accepted
        assert PreprocessParams.from_dict(d).rv == "FAST"
        return
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        PreprocessParams.from_dict(d)


def test_continuum_off_and_spline_params():
    p = PreprocessParams.from_dict({"continuum": None})
    assert p.continuum is None and p.to_dict()["continuum"] is None
    s = PreprocessParams.from_dict({"continuum": {"method": "spline", "knot_spacing": "50 nm"}})
    assert s.continuum.knot_spacing == 500.0 and s.continuum.degree == 3


# ---------------------------------------------------------------- continuum


def test_continuum_recovered_and_line_clipped():
    wl, flux = make_block(n_spec=20, noise=0.5)
    cp = ContinuumParams(degree=5, sigma=(3.0, 3.0), iterations=5)
    norm, cont, err = normalise_continuum(wl, flux, None, cp)
    assert err == [None] * 20
    assert np.abs(cont / continuum_true(wl) - 1).max() < 5e-3
    off = np.abs(wl - HALPHA) > 30
    assert abs(np.median(norm[off]) - 1) < 1e-3
    assert np.std(norm[off] - 1) < 2 * 0.5 / continuum_true(wl).min()
    # without clipping the emission line drags the continuum up
    _, cont0, _ = normalise_continuum(wl, flux, None, ContinuumParams(degree=5, iterations=0))
    assert (
        np.abs(cont0 / continuum_true(wl) - 1).max()
        > 3 * np.abs(cont / continuum_true(wl) - 1).max()
    )


def test_continuum_windows():
    wl, flux = make_block(n_spec=4, noise=0.2, amp=3.0, sigma=8.0)
    bare = ContinuumParams(degree=5, iterations=0)
    win = ContinuumParams(degree=5, iterations=0, windows=((6480.0, 6640.0),))
    e_bare = np.abs(fit_continuum(wl, flux, None, bare).evaluate(wl) / continuum_true(wl) - 1)
    e_win = np.abs(fit_continuum(wl, flux, None, win).evaluate(wl) / continuum_true(wl) - 1)
    assert e_win.max() < 2e-3 < e_bare.max()


@pytest.mark.parametrize("spec", [{"knots": 6}, {"knot_spacing": 900.0}])
def test_spline_continuum(spec):
    wl, flux = make_block(n_spec=6, noise=0.3)
    flux = flux * (1 + 0.05 * np.sin(wl / 400.0))  # not a low-order polynomial
    truth = continuum_true(wl) * (1 + 0.05 * np.sin(wl / 400.0))
    cp = ContinuumParams.from_dict({"method": "spline", **spec})
    fit = fit_continuum(wl, flux, None, cp)
    assert fit.error == [None] * 6
    assert np.abs(fit.evaluate(wl) / truth - 1).max() < 1e-2


def test_grouped_and_per_spectrum_paths_agree_and_float32_accuracy():
    wl, flux = make_block(n_spec=12, noise=0.5)
    cp = ContinuumParams()
    block = fit_continuum(wl, flux, None, cp).evaluate(wl)
    single = np.concatenate(
        [
            fit_continuum(wl[i : i + 1], flux[i : i + 1], None, cp).evaluate(wl[i : i + 1])
            for i in range(12)
        ]
    )
    assert np.abs(block / single - 1).max() < 1e-5
    f64 = fit_continuum(wl, flux, None, cp, dtype=np.float64).evaluate(wl)
    assert np.abs(block / f64 - 1).max() < 1e-4
    # uneven grids (no shared x): the per-row batched path
    rng = np.random.default_rng(5)
    wl2 = np.sort(wl + rng.uniform(-0.3, 0.3, wl.shape), axis=1)
    per_row = fit_continuum(wl2, flux, None, cp).evaluate(wl2)
    one = np.concatenate(
        [
            fit_continuum(wl2[i : i + 1], flux[i : i + 1], None, cp, dtype=np.float64).evaluate(
                wl2[i : i + 1]
            )
            for i in range(12)
        ]
    )
    assert np.abs(per_row / one - 1).max() < 1e-4


def test_continuum_fit_failures():
    wl, flux = make_block(n_spec=3)
    good = np.ones(wl.shape, bool)
    good[1, 3:] = False
    fit = fit_continuum(wl, flux, good, ContinuumParams())
    assert fit.error[0] is None and fit.error[2] is None
    assert "3 usable pixels for 6 parameters" in fit.error[1]
    assert np.isnan(fit.coef[1]).all()


# ---------------------------------------------------------------- cutout, resampling


def test_cutout_off_grid_fails_with_reason():
    wl = np.linspace(4000, 5000, 500)
    s = spectrum(wl, 1 + 0.1 * np.sin(wl))
    res = preprocess_block([s], params())
    assert res.error == ["does not cover the grid 6420-6710 A (spectrum covers 4000-5000 A)"]
    assert np.isnan(res.features).all()
    assert coverage_errors(np.array([[6425.0, 6800.0]]), np.ones((1, 2), bool), 6420, 6710)[0]


def spectres_reference(new_wavs, spec_wavs, spec_fluxes):
    """Tiny SpectRes: overlap-weighted mean of the source bins in each target bin."""
    se, te = bin_edges(spec_wavs), bin_edges(new_wavs)
    out = np.zeros(len(new_wavs))
    for j in range(len(new_wavs)):
        lo, hi = te[j], te[j + 1]
        overlap = np.clip(np.minimum(se[1:], hi) - np.maximum(se[:-1], lo), 0, None)
        out[j] = (overlap * spec_fluxes).sum() / (hi - lo)
    return out


def test_resampling_against_references_and_flux_conservation():
    rng = np.random.default_rng(3)
    src = np.sort(rng.uniform(100.0, 200.0, 300))
    flux = 1 + np.sin(src / 5) + rng.normal(0, 0.1, src.size)
    grid = np.arange(110.0, 190.0 + 0.35, 0.7)
    fc = resample_flux_conserving(src[None], flux[None], grid)[0]
    np.testing.assert_allclose(fc, spectres_reference(grid, src, flux), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        resample_linear(src[None], flux[None], grid)[0], np.interp(grid, src, flux)
    )
    # the integral over a range of whole target bins equals the source's over the same range
    se, te = bin_edges(src), bin_edges(grid)
    lo, hi = te[0], te[-1]
    overlap = np.clip(np.minimum(se[1:], hi) - np.maximum(se[:-1], lo), 0, None)
    assert (fc * np.diff(te)).sum() == pytest.approx((overlap * flux).sum(), rel=1e-12)


def test_nan_mask_handling_and_max_bad_fraction():
    wl, flux = make_block(n_spec=1, noise=0.0, shifts=False)
    wl, flux = wl[0], flux[0]
    clean = preprocess_block([spectrum(wl, flux)], params())
    cut = np.flatnonzero((wl > 6420) & (wl < 6710))
    f10 = flux.copy()
    f10[cut[::10]] = np.nan  # 10 % NaN inside the cutout
    mask30 = np.zeros(wl.size, bool)
    mask30[cut[: int(0.3 * cut.size)]] = True
    res = preprocess_block(
        [
            spectrum(wl, f10),
            spectrum(wl, flux, mask=mask30),
            spectrum(wl, np.full(wl.size, np.nan)),
        ],
        params(),
    )
    assert res.error[0] is None  # NaNs interpolated over: only the sampled line peak changes
    off_line = np.abs(params().grid() - HALPHA) > 10
    np.testing.assert_allclose(res.features[0][off_line], clean.features[0][off_line], atol=0.01)
    np.testing.assert_allclose(res.features[0], clean.features[0], atol=0.1)
    assert res.error[1].startswith("too many bad pixels in the cutout (")
    assert res.error[2] == "no good pixels"
    ok = preprocess_block([spectrum(wl, flux, mask=mask30)], params(max_bad_fraction=0.5))
    assert ok.error == [None]


# ---------------------------------------------------------------- scaling


def test_scale_methods():
    f = np.random.default_rng(0).normal(3, 2, (5, 50))
    out, ok = rescale(f, "minmax-1-1")
    assert ok.all() and np.allclose(out.min(1), -1) and np.allclose(out.max(1), 1)
    out, _ = rescale(f, "minmax-0-1")
    assert np.allclose(out.min(1), 0) and np.allclose(out.max(1), 1)
    out, _ = rescale(f, "zscore")
    assert np.allclose(out.mean(1), 0, atol=1e-6) and np.allclose(out.std(1), 1, atol=1e-6)
    out, _ = rescale(f, "l2")
    assert np.allclose(np.linalg.norm(out, axis=1), 1)
    out, _ = rescale(f, "none")
    assert np.allclose(out, f)
    assert out.dtype == np.float32


def test_constant_flux_fails():
    wl = np.linspace(6300, 6800, 2000)
    res = preprocess_block([spectrum(wl, np.full(wl.size, 5.0))], params())
    assert res.error == [CONSTANT_FLUX]
    assert np.isnan(res.features).all()


# ---------------------------------------------------------------- velocity


def test_rv_shift_moves_the_line():
    wl = np.linspace(6300, 6850, 4000)
    v = 450.0
    flux = 10 * (1 + gauss(wl, HALPHA * (1 + v / C_KMS), 1.5, 2.0))
    grid = params().grid()
    unshifted = preprocess_block([spectrum(wl, flux)], params())
    by_value = preprocess_block([spectrum(wl, flux)], params(rv=v))
    by_key = preprocess_block([spectrum(wl, flux, meta={"VHELIO": v})], params(rv="VHELIO"))
    missing = preprocess_block([spectrum(wl, flux)], params(rv="VHELIO"))

    def centre(f):
        w = np.clip(f - 0, 0, None)
        return (grid * w).sum() / w.sum()

    assert centre(unshifted.features[0]) - HALPHA == pytest.approx(HALPHA * v / C_KMS, abs=0.05)
    assert centre(by_value.features[0]) == pytest.approx(HALPHA, abs=0.05)
    np.testing.assert_allclose(by_key.features, by_value.features)
    assert missing.error == ["rv keyword VHELIO missing"]


def test_degradation_broadens_to_expected_fwhm():
    wl = np.arange(6300.0, 6850.0, 0.05)
    sig0 = 0.2
    flux = 1 + gauss(wl, HALPHA, sig0, 1.0)
    r_t, r_s = 5000.0, 20000.0
    p = params(continuum=None, scale="none", resolution={"target": r_t, "source": "RESPOWER"})
    res = preprocess_block([spectrum(wl, flux, meta={"RESPOWER": r_s})], p)
    assert res.error == [None]
    grid = p.grid()
    prof = res.features[0] - 1
    area = prof.sum() * 0.25
    sig = np.sqrt((prof * (grid - HALPHA) ** 2).sum() * 0.25 / area)
    expected = np.sqrt(sig0**2 + ((HALPHA / r_t) ** 2 - (HALPHA / r_s) ** 2) / 2.3548**2)
    assert 2.3548 * sig == pytest.approx(2.3548 * expected, rel=0.02)
    assert area == pytest.approx(sig0 * np.sqrt(2 * np.pi), rel=1e-3)  # line flux kept
    # R_s <= R_t: left alone
    same = gaussian_degrade(wl[None], flux[None], np.array([0.0]))
    np.testing.assert_array_equal(same[0], flux)


# ---------------------------------------------------------------- the block


def test_preprocess_block_mixed_grids_and_failures():
    rng = np.random.default_rng(7)
    p = params()
    good_spectra = []
    for k in range(6):  # LAMOST-like, own starts, ivar
        wl = lamost_wl(rng.uniform(-2e-4, 2e-4))
        flux = continuum_true(wl) * (1 + gauss(wl, HALPHA, 3.0, 1 + k)) + rng.normal(
            0, 0.5, wl.size
        )
        good_spectra.append(spectrum(wl, flux.astype(np.float32), ivar=np.full(wl.size, 4.0)))
    for k in range(3):  # Ondřejov-like linear grids, descending in the file
        wl = np.linspace(6269.65, 6735.04, 1980)[::-1] + k
        flux = 50 * (1 + gauss(wl, HALPHA, 1.0, 0.5 + k)) + rng.normal(0, 0.2, wl.size)
        good_spectra.append(spectrum(wl, flux))
    bad_wl = np.linspace(6300, 6800, 1000)
    bad_wl[5] = np.nan
    blocks = [
        good_spectra[0],
        ValueError("truncated FITS: data ends at byte 4000 of 8640"),
        good_spectra[1],
        spectrum(np.linspace(4000, 5000, 300), np.ones(300)),
        good_spectra[6],
        spectrum(bad_wl, np.ones(1000)),
        *good_spectra[2:6],
        spectrum(lamost_wl(), np.full(3909, np.nan)),
        *good_spectra[7:],
        spectrum(np.arange(10.0), np.ones(5)),
    ]
    res = preprocess_block(blocks, p)
    assert res.features.shape == (len(blocks), 1161) and res.features.dtype == np.float32
    assert res.error[1] == "truncated FITS: data ends at byte 4000 of 8640"
    assert res.error[3].startswith("does not cover the grid 6420-6710 A")
    assert res.error[5] == "non-finite wavelengths"
    assert res.error[10] == "no good pixels"
    assert res.error[-1].startswith("flux shape")
    bad = {1, 3, 5, 10, len(blocks) - 1}
    for i, e in enumerate(res.error):
        assert (e is None) == (i not in bad), (i, e)
        assert np.isnan(res.features[i]).all() == (i in bad)
    good_idx = [i for i in range(len(blocks)) if i not in bad]
    alone = preprocess_block(good_spectra, p)
    np.testing.assert_allclose(
        res.features[good_idx], alone.features[[0, 1, 6, 2, 3, 4, 5, 7, 8]], atol=1e-5
    )
    for j, s in enumerate(good_spectra):  # each on its own: the per-spectrum path
        one = preprocess_block([s], p)
        np.testing.assert_allclose(one.features[0], alone.features[j], atol=1e-4)
    assert np.nanmax(np.abs(res.features)) == pytest.approx(1.0)
    # S/N: flux * sqrt(ivar) median over the cutout for LAMOST-like rows, NaN without ivar
    assert res.snr[0] == pytest.approx(
        2 * np.median(good_spectra[0].flux[np.abs(good_spectra[0].wavelength_aa - HALPHA) < 150]),
        rel=0.02,
    )
    assert np.isnan(res.snr[4]) and np.isnan(res.snr[1])


# ---------------------------------------------------------------- mixed lengths (padded buckets)


def cheb_reference(wl, flux, degree=5, iterations=5, sigma=3.0):
    """Per-spectrum float64 numpy sigma-clipped Chebyshev fit on wavelength: the continuum."""
    x = (wl - wl[0]) * (2 / (wl[-1] - wl[0])) - 1
    keep = np.isfinite(flux)
    k0 = keep.copy()
    for it in range(iterations + 1):
        c = np.polynomial.chebyshev.chebfit(x[keep], flux[keep], degree)
        if it == iterations:
            break
        r = flux - np.polynomial.chebyshev.chebval(x, c)
        new = (np.abs(r) <= sigma * np.sqrt(np.mean(r[keep] ** 2))) & k0
        if (new == keep).all():
            break
        keep = new
    return np.polynomial.chebyshev.chebval(x, c)


def linear_spectra(n_spec=12, seed=11):
    """Ondřejov-like linear grids of different lengths (1900-2150 px), some descending."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_spec):
        n = int(rng.integers(1900, 2150))
        start, step = rng.uniform(6250, 6280), rng.uniform(0.235, 0.245)
        wl = start + step * np.arange(n)
        flux = continuum_true(wl) * (1 + gauss(wl, HALPHA, rng.uniform(1, 4), rng.uniform(0.3, 2)))
        flux = flux + rng.normal(0, 0.3, n)
        out.append((wl[::-1], flux[::-1]) if k % 4 == 3 else (wl, flux))
    return out


def log_spectra(n_spec=8, seed=12):
    """SDSS-like log-lambda grids of different lengths with float32 wavelength rounding."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_spec):
        n = int(rng.integers(3800, 4400))
        wl = (10 ** (3.58 - 1e-4 * rng.integers(0, 150) + 1e-4 * np.arange(n))).astype(np.float32)
        wl = wl.astype(np.float64)
        flux = continuum_true(wl) * (1 + gauss(wl, HALPHA, 4.0, rng.uniform(0.3, 2)))
        out.append((wl, flux + rng.normal(0, 0.5, n)))
    return out


def test_mixed_length_block_equals_each_spectrum_alone():
    pairs = linear_spectra() + log_spectra() + [(lamost_wl(), continuum_true(lamost_wl()))]
    rng = np.random.default_rng(2)
    spectra = [spectrum(w, f * (1 + 0.01 * rng.normal(size=f.size))) for w, f in pairs]
    order = rng.permutation(len(spectra))
    block = preprocess_block([spectra[i] for i in order], params())
    assert block.error == [None] * len(spectra)
    for j, i in enumerate(order):
        alone = preprocess_block([spectra[i]], params())
        np.testing.assert_allclose(block.features[j], alone.features[0], atol=1e-4)


def test_linear_grid_continuum_matches_wavelength_reference():
    from vocloud.preprocess.pipeline import _prepare, _sort_rows, _stack

    pairs = linear_spectra()
    its = [_prepare(spectrum(w, f), params()) for w, f in pairs]
    wl, flux, good, ivar, lens = _stack(its)
    assert lens is not None and len(set(lens)) > 1  # really padded
    keep = _sort_rows(wl, [flux, good, ivar], [None] * len(its), np.arange(len(its)), lens)
    assert keep.all()
    cont = fit_continuum(wl, flux, good, ContinuumParams()).evaluate(wl)
    for j, (w, f) in enumerate(pairs):
        o = np.argsort(w)
        ref = cheb_reference(w[o], f[o])
        assert np.abs(cont[j, : lens[j]] / ref - 1).max() < 1e-5
    # and the whole pipeline: features equal those of the reference-normalised flux
    res = preprocess_block([spectrum(w, f) for w, f in pairs], params())
    for j, (w, f) in enumerate(pairs):
        o = np.argsort(w)
        ref = preprocess_block(
            [spectrum(w[o], f[o] / cheb_reference(w[o], f[o]))], params(continuum=None)
        )
        np.testing.assert_allclose(res.features[j], ref.features[0], atol=1e-4)


@pytest.mark.parametrize("grid", ["linear", "log"])
def test_padding_does_not_change_the_fit(grid):
    from vocloud.preprocess.pipeline import _extend_grid

    w, f = (linear_spectra if grid == "linear" else log_spectra)(n_spec=1)[0]
    w, f = (w[::-1], f[::-1]) if w[0] > w[-1] else (w, f)
    n, pad = w.size, int(0.15 * w.size)
    wp = np.concatenate([w, np.zeros(pad)])[None]
    _extend_grid(wp, np.array([n]))
    assert (np.diff(wp[0]) > 0).all()
    fp = np.concatenate([f, np.full(pad, 1e6)])[None]  # padding flux must not matter
    gp = (np.arange(n + pad) < n)[None]
    cp = ContinuumParams()
    pix = np.arange(n)[None]  # as the pipeline evaluates: at the fitted pixels
    for dtype in (np.float64, np.float32):  # float32 fits are polished in float64
        padded = fit_continuum(wp, fp, gp, cp, dtype=dtype).evaluate(w[None], pixels=pix)[0]
        plain = fit_continuum(w, f, None, cp, dtype=dtype).evaluate(w[None], pixels=pix)[0]
        assert np.abs(padded / plain - 1).max() < 1e-10

"""Spectra in parts on real files: echelle orders read lazily, arms joined on their wavelengths.

Expected values are independent readings with astropy.io.fits (tests/data/real/PROVENANCE.md).
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from vocloud.io import Spectrum, read_spectrum
from vocloud.io.spectrum import LazySegments
from vocloud.preprocess import PreprocessParams, preprocess_block
from vocloud.preprocess.arms import choose_parts, join_parts

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
DESI = REAL / "desi/coadd-5-169-thru20210419.fits"
ARCES = REAL / "iraf/evega.0039.rs.ec.dispcor.fits"


def _open(path: Path) -> fits.HDUList:
    warnings.simplefilter("ignore")
    return fits.open(path)


def _arces_orders() -> tuple[np.ndarray, np.ndarray]:
    """Every order's wavelengths (dtype 0: w1 + dw * i, / (1 + z)) and flux, by astropy."""
    with _open(ARCES) as hdul:
        h, d = hdul[0].header, hdul[0].data
    wat2 = "".join(str(h[k]).ljust(68) for k in sorted(k for k in h if k.startswith("WAT2_")))
    waves = []
    for ap in range(1, d.shape[0] + 1):
        num = [float(x) for x in re.search(rf'spec{ap}\s*=\s*"([^"]*)"', wat2).group(1).split()]
        waves.append((num[3] + num[4] * np.arange(d.shape[1])) / (1 + num[6]))
    return np.array(waves), np.asarray(d, dtype=np.float32)


def test_echelle_orders_are_read_lazily_and_match_astropy():
    waves, flux = _arces_orders()
    s = read_spectrum(ARCES)
    assert isinstance(s, LazySegments) and s._arrays is None
    bounds = s.segment_bounds()
    np.testing.assert_allclose(bounds, np.sort(waves[:, [0, -1]], axis=1), rtol=1e-12)
    t = s.take([50])
    assert s._arrays is None  # one order made, not the file's 107
    order = np.argsort(waves[50])
    np.testing.assert_allclose(t.wavelength_aa, waves[50][order], rtol=1e-12)
    np.testing.assert_array_equal(t.flux, flux[50][order])
    plain = pickle.loads(pickle.dumps(s))  # what crosses processes: a plain Spectrum
    assert type(plain) is Spectrum and plain.segments == s.segments
    np.testing.assert_array_equal(plain.flux, s.flux)


def test_preprocessing_an_echelle_file_uses_the_covering_order_only():
    s = read_spectrum(ARCES)
    params = PreprocessParams.from_dict(
        {"cutout": {"center": 6562.8, "half_width": 15}, "grid": {"start": 6550, "stop": 6575}}
    )
    made = []
    load = s._load
    s._load = lambda i: made.append(i) or load(i)
    lazy = preprocess_block([s], params)
    plain = preprocess_block([pickle.loads(pickle.dumps(read_spectrum(ARCES)))], params)
    assert lazy.error == [None] and plain.error == [None]
    np.testing.assert_array_equal(lazy.features, plain.features)
    waves, _ = _arces_orders()
    covering = [i for i, w in enumerate(waves) if w.min() <= 6547.8 and w.max() >= 6577.8]
    assert len(made) == 1 and made[0] in covering


def _desi_arm(arm: str, row: int) -> tuple[np.ndarray, ...]:
    with _open(DESI) as hdul:
        w = np.asarray(hdul[f"{arm}_WAVELENGTH"].data, dtype=np.float64)
        f = np.asarray(hdul[f"{arm}_FLUX"].data[row], dtype=np.float64)
        iv = np.asarray(hdul[f"{arm}_IVAR"].data[row], dtype=np.float64)
        m = np.asarray(hdul[f"{arm}_MASK"].data[row])
    good = np.isfinite(f) & (iv > 0) & (m == 0)
    return w, f, iv, good


@pytest.mark.parametrize("row", [4, 0])  # row 4 holds data; rows 0-3 are empty (ivar 0)
def test_desi_arms_joined_inverse_variance_weighted_in_the_overlap(row):
    wb, fb, ib, gb = _desi_arm("B", row)
    wr, fr, ir, gr = _desi_arm("R", row)
    assert wr[0] < wb[-1]  # B and R overlap (5760-5800 A)
    # independent join: B below R's start, R above B's end; in the overlap B's pixels (R's
    # pixels fall on them: both arms step 0.8 A from whole Angstroms), ivar-weighted mean
    ob, orr = wb >= wr[0], wr <= wb[-1]
    np.testing.assert_allclose(wb[ob], wr[orr], atol=1e-9)
    w1, w2 = np.where(gb[ob], ib[ob], 0.0), np.where(gr[orr], ir[orr], 0.0)
    with np.errstate(invalid="ignore"):
        f_ov = (w1 * np.where(gb[ob], fb[ob], 0) + w2 * np.where(gr[orr], fr[orr], 0)) / (w1 + w2)
    f_ov = np.where(w1 + w2 > 0, f_ov, fb[ob])  # no good pixel in either arm: B's, flagged bad
    wave = np.concatenate([wb[~ob], wb[ob], wr[~orr]])
    flux = np.concatenate([fb[~ob], f_ov, fr[~orr]])
    ivar = np.concatenate([ib[~ob], w1 + w2, ir[~orr]])
    s = read_spectrum(f"{DESI}#{row}")
    j = join_parts(s.take([0, 1]))
    assert j.segments is None and len(j) == len(wave)
    np.testing.assert_allclose(j.wavelength_aa, wave, rtol=1e-12)
    np.testing.assert_allclose(j.flux, flux, rtol=1e-6, atol=1e-6 * np.nanmax(np.abs(flux)))
    np.testing.assert_allclose(j.ivar, ivar, rtol=1e-6)
    assert (j.good() == np.concatenate([gb[~ob], (w1 + w2) > 0, gr[~orr]])).all()


def test_desi_cutout_across_two_arms_is_joined_and_one_arm_taken_alone():
    bounds = read_spectrum(f"{DESI}#0").segment_bounds()
    counts = [2751, 2326, 2881]
    assert choose_parts(bounds, counts, 6400, 6700) == [1]  # inside R alone
    assert choose_parts(bounds, counts, 5700, 5860) == [0, 1]  # B ends 5800, R starts 5760
    assert choose_parts(bounds, counts, 5700, 7600) == [0, 1]
    assert choose_parts(bounds, counts, 5700, 7700) == [0, 1, 2]
    params = PreprocessParams.from_dict(
        {
            "cutout": {"center": 5780, "half_width": 80},
            "grid": {"start": 5720, "stop": 5840, "step": 0.8, "medium": "vacuum"},
            "continuum": False,
            "scale": None,
            "resample": "linear",
        }
    )
    spectra = [read_spectrum(f"{DESI}#{row}") for row in range(5)]
    res = preprocess_block(spectra, params)
    grid = params.grid()
    assert res.error[:4] == ["no good pixels"] * 4  # the file's empty targets
    assert res.error[4] is None  # before arms were joined: "does not cover the grid"
    wb, fb, ib, gb = _desi_arm("B", 4)
    wr, fr, ir, gr = _desi_arm("R", 4)
    # grid points where only one arm holds the pixel: that arm's flux, untouched
    only_b = grid < wr[0] - 1e-6
    only_r = grid > wb[-1] + 1e-6
    assert only_b.sum() > 40 and only_r.sum() > 40
    ib_ = np.searchsorted(wb, grid[only_b] - 1e-6)
    ir_ = np.searchsorted(wr, grid[only_r] - 1e-6)
    assert gb[ib_].all() and gr[ir_].all()
    np.testing.assert_allclose(res.features[4, only_b], fb[ib_], rtol=2e-6, atol=1e-5)
    np.testing.assert_allclose(res.features[4, only_r], fr[ir_], rtol=2e-6, atol=1e-5)
    # in the overlap: the inverse-variance weighted mean of the two arms
    ov = ~only_b & ~only_r
    ib2, ir2 = np.searchsorted(wb, grid[ov] - 1e-6), np.searchsorted(wr, grid[ov] - 1e-6)
    mean = (ib[ib2] * fb[ib2] + ir[ir2] * fr[ir2]) / (ib[ib2] + ir[ir2])
    np.testing.assert_allclose(res.features[4, ov], mean, rtol=2e-6, atol=1e-5)


def test_segments_that_do_not_fit_fail_the_spectrum_alone():
    import astropy.units as u

    wl = np.linspace(6300, 6800, 100)
    bad = Spectrum(wl * u.AA, np.ones(100), segments=((0, 50), (50, 500)))
    good = Spectrum(wl * u.AA, 1 + (wl > 6560))
    res = preprocess_block([bad, good], PreprocessParams())
    assert res.error[0].startswith("bad segments ((0, 50), (50, 500))")
    assert res.error[1] is None

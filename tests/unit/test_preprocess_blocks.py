"""A spectrum's row does not depend on the other spectra of its block.

A store's chunk may be computed again alone (a resumed run, the halves of the KilledWorker
bisection) or in other blocks (another ``block_size``): the same spectrum must give the same
features, weights and failure reason. Checked on real archive files of every layout that covers
H-alpha (LAMOST LRS and MRS, SDSS, DESI targets, ESO, Ondrejov, IRAF) mixed with synthetic
LAMOST, SDSS and IRAF files, preprocessed whole, in blocks of several sizes, one by one and
shuffled, with the demo's H-alpha parameters (float32 continuum fit over length buckets).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
import yaml
from tolerances import FLOAT32

from vocloud.datasets import make_archive
from vocloud.demo import DEMO_EXPERIMENT
from vocloud.io import Spectrum, read_spectrum
from vocloud.io.read import list_spectra
from vocloud.preprocess import PreprocessParams, preprocess_block

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
FILES = [
    "lamost/bt-cmi-lamost.fits",
    "lamost/med-58408-TD230151N343645T01_sp01-015.fits",
    "lamost/spec-55859-F5902_sp01-001.fits.gz",
    "lamost/spec-58397-EG014118N254444M01_sp03-031.fits",
    "sdss/sample_sdss.fits",
    "sdss/spec-1325-52762-0133.fits",
    "sdss/spec-6717-56397-0534.fits",
    "eso/XQ100_J0003-2603_vis.fits",
    "ondrejov/bt-cmi-ondrejov.fits",
    "ondrejov/ud090015.fits",
    "eso/HARPS.2006-09-08T02_12_38.604_s1d_A.fits",
    "iraf/UM669_nF.fits",
]
PARAMS = PreprocessParams.from_dict(yaml.safe_load(DEMO_EXPERIMENT)["preprocess"])


@pytest.fixture(scope="module")
def spectra(tmp_path_factory):
    """Real files, the 5 targets of a DESI coadd, 24 synthetic files, a file that could not be
    read, a spectrum too short and one beside the grid: 44 spectra, 7 layouts."""
    root = tmp_path_factory.mktemp("blocks")
    make_archive(
        root / "synth",
        24,
        layouts={"lamost-dr8": 2, "sdss-coadd": 1, "iraf-linear": 1},
        seed=8,
        n_jobs=1,
    )
    desi = root / "coadd.fits"
    shutil.copy(REAL / "desi/coadd-5-169-thru20210419.fits", desi)
    urls = [str(REAL / n) for n in FILES] + list_spectra(desi)
    urls += sorted(str(p) for p in (root / "synth").rglob("*.fits"))
    out: list = [read_spectrum(u) for u in urls]
    wl = np.linspace(4000.0, 5000.0, 800)
    out.insert(7, ValueError("truncated FITS"))
    out.insert(20, Spectrum(wl[:3] * u.AA, np.ones(3)))  # too few pixels
    out.insert(30, Spectrum(wl * u.AA, np.ones(800)))  # does not cover the grid
    return out


def _in_blocks(spectra, order, size):
    """Rows of ``spectra`` preprocessed in blocks of ``size`` taken in ``order``, put back in
    the original order: (features, weight, error, snr)."""
    n, m = len(spectra), PARAMS.grid().size
    feats = np.full((n, m), np.nan, np.float32)
    weight = np.full((n, m), np.nan, np.float32)
    error: list = [None] * n
    snr = np.full(n, np.nan, np.float32)
    for s in range(0, n, size):
        rows = order[s : s + size]
        res = preprocess_block([spectra[i] for i in rows], PARAMS, weights=True)
        feats[rows] = res.features
        if res.weight is not None:
            weight[rows] = res.weight
        snr[rows] = res.snr
        for j, i in enumerate(rows):
            error[i] = res.error[j]
    return feats, weight, error, snr


def test_a_spectrum_gives_the_same_row_in_any_block(spectra):
    n = len(spectra)
    whole = _in_blocks(spectra, np.arange(n), n)
    feats, weight, error, snr = whole
    ok = np.array([e is None for e in error])
    # the block is what the test claims: many layouts and lengths, failures among them
    assert ok.sum() >= 30 and (~ok).sum() >= 3, error
    assert len({s.wavelength_aa.size for s in spectra if not isinstance(s, Exception)}) >= 15
    assert np.isfinite(weight[ok]).any(axis=1).sum() >= 20  # spectra with an uncertainty
    shuffled = np.random.default_rng(3).permutation(n)
    worst = 0.0
    for order, size in [
        (np.arange(n), 1),
        (np.arange(n), 2),
        (np.arange(n), 5),
        (np.arange(n), 7),
        (shuffled, 11),
        (shuffled, n),
    ]:
        f, w, e, s = _in_blocks(spectra, order, size)
        assert e == error, size  # the same failure, with the same reason
        np.testing.assert_array_equal(np.isnan(f), np.isnan(feats))
        # features on [-1, 1]: float32 rounding of the arithmetic, never more
        np.testing.assert_allclose(f, feats, **FLOAT32, err_msg=f"blocks of {size}")
        np.testing.assert_array_equal(np.isnan(w), np.isnan(weight))
        np.testing.assert_array_equal(w == 0, weight == 0)  # bad pixels: exactly 0
        np.testing.assert_allclose(w, weight, rtol=FLOAT32["rtol"], atol=0)
        np.testing.assert_array_equal(s, snr)  # a median of the row's own pixels
        worst = max(worst, float(np.nanmax(np.abs(f - feats), initial=0.0)))
    assert worst <= FLOAT32["atol"]

"""An experiment over a folder of real DESI coadd and spectra files with ``expand: true`` on a
real LocalCluster: the store holds one row per target (and exposure), its id the address."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import yaml
from astropy.io import fits
from astropy.table import Table

from vocloud.run.experiment import Experiment

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
COADD = "desi/coadd-5-169-thru20210419.fits"
SPECTRA = "desi/spectra-sv3-dark-26065.fits"
LAMOST = "lamost/spec-58397-EG014118N254444M01_sp03-031.fits"


def _fibermap(name: str) -> Table:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Table.read(REAL / name, hdu="FIBERMAP")


def _good_in_cutout(name: str) -> list[bool]:
    """Per row, whether the R arm (the one arm around H-alpha) has a good pixel in the cutout
    (6412.8-6712.8 A in air, ~6414.6-6714.6 A in DESI's vacuum): ivar > 0 and MASK == 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(REAL / name) as hdul:
            w = hdul["R_WAVELENGTH"].data
            iv, mask = hdul["R_IVAR"].data, hdul["R_MASK"].data
            cut = (w > 6414.6) & (w < 6714.6)
            return [bool(((iv[r] > 0) & (mask[r] == 0))[cut].any()) for r in range(len(iv))]


def test_folder_of_desi_files_expanded_one_row_per_target(tmp_path, client):
    for name in (COADD, SPECTRA, LAMOST):
        (tmp_path / "archive" / Path(name).parent).mkdir(parents=True, exist_ok=True)
        shutil.copy(REAL / name, tmp_path / "archive" / name)
    spec = {
        "name": "desi",
        "store": "./experiments",
        "source": {"directory": "./archive", "pattern": "**/*.fits", "expand": True},
        "preprocess": {
            "cutout": {"center": 6562.8, "half_width": 150},
            "grid": {"start": 6450, "stop": 6680, "step": 1.0},
            "continuum": {"method": "chebyshev", "degree": 3},
        },
        "run": {"block_size": 4},  # blocks cut through the files: a file read per block
    }
    (tmp_path / "desi.yaml").write_text(yaml.safe_dump(spec))
    exp = Experiment.from_file(tmp_path / "desi.yaml")
    ds = exp.run(client, progress=False, verbose=False)

    coadd, spectra = _fibermap(COADD), _fibermap(SPECTRA)
    want = [
        *(f"{COADD}#TARGETID={t}" for t in coadd["TARGETID"]),
        *(
            f"{SPECTRA}#TARGETID={t},EXPID={e}"
            for t, e in zip(spectra["TARGETID"], spectra["EXPID"])
        ),
        LAMOST,
    ]
    assert ds.id.values.tolist() == want  # one row per spectrum, the address its id
    assert exp.last_run["n_spectra"] == len(want) == 11
    status = ds.status.values
    errors = dict(zip(ds.id.values.tolist(), ds.error.values.tolist()))
    assert all(errors[i] for i, s in zip(want, status) if s != 1)  # a failure has a reason
    layouts = ds.layout.values.tolist()
    assert layouts == ["desi-coadd"] * 5 + ["desi-spectra"] * 5 + ["lamost-dr7"]
    # positions come from each target's FIBERMAP row (TARGET_RA/DEC), read here by astropy
    ra = np.concatenate([coadd["TARGET_RA"], spectra["TARGET_RA"]])
    np.testing.assert_allclose(ds.s_ra.values[:10], ra, rtol=1e-6)
    # a row is preprocessed where its file has good pixels in the cutout, else it fails alone
    # (the public files carry ivar = 0 in the R arm for most of their rows)
    good = _good_in_cutout(COADD) + _good_in_cutout(SPECTRA) + [True]
    assert sum(good) == 3
    for i, (address, usable) in enumerate(zip(want, good)):
        if usable:
            assert status[i] == 1, (address, errors[address])
        else:
            assert status[i] == 2 and errors[address] == "no good pixels", address
    ok = status == 1
    assert np.isfinite(ds.features.values[ok]).all() and np.isnan(ds.features.values[~ok]).all()

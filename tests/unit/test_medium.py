"""One physical wavelength scale: air/vacuum conversion, each spectrum's medium, rest frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from vocloud.io import read_spectrum
from vocloud.preprocess import PreprocessParams, preprocess_block
from vocloud.preprocess.medium import air_to_vac, spectrum_medium, vac_to_air
from vocloud.run.tasks import compute_chunk

REAL = Path(__file__).resolve().parents[1] / "data" / "real"

# (vacuum, air) wavelengths in Angstrom as published: the SDSS emission-line table (vacuum,
# https://classic.sdss.org/dr6/algorithms/linestable.php) beside the standard air wavelengths
# of the same lines (NIST ASD).
PUBLISHED = [
    (4862.68, 4861.33),  # H-beta
    (5008.24, 5006.84),  # [O III]
    (6564.61, 6562.80),  # H-alpha
    (6585.27, 6583.45),  # [N II]
    (6718.29, 6716.44),  # [S II]
]


@pytest.mark.parametrize("vac, air", PUBLISHED)
def test_conversion_against_published_values(vac, air):
    assert abs(vac_to_air(np.array([vac]))[0] - air) < 0.011
    assert abs(air_to_vac(np.array([air]))[0] - vac) < 0.011


def test_conversion_round_trip_and_uv_left_alone():
    w = np.linspace(2010, 25000, 1001)
    np.testing.assert_allclose(air_to_vac(vac_to_air(w)), w, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(vac_to_air(np.array([1215.67])), [1215.67])


def test_grid_medium_parameter():
    p = PreprocessParams.from_dict({"grid": {"medium": "vacuum"}})
    assert p.grid_params.medium == "vacuum" and p.to_dict()["grid"]["medium"] == "vacuum"
    assert PreprocessParams.from_dict({}).grid_params.medium == "air"  # the stated default
    with pytest.raises(ValueError, match=r"grid\.medium: 'water' is not one of air, vacuum"):
        PreprocessParams.from_dict({"grid": {"medium": "water"}})
    with pytest.raises(ValueError, match="spectra_medium: 'x' is not one of auto, air, vacuum"):
        PreprocessParams.from_dict({"spectra_medium": "x"})
    assert spectrum_medium(None) == ("air", "air (assumed)")


def _line(wave_air):
    """A made-up star: emission + absorption features at air wavelengths."""
    return (
        1.0
        + 0.8 * np.exp(-0.5 * ((wave_air - 6562.80) / 1.2) ** 2)
        - 0.4 * np.exp(-0.5 * ((wave_air - 6530.0) / 0.6) ** 2)
        - 0.3 * np.exp(-0.5 * ((wave_air - 6600.0) / 0.9) ** 2)
    ).astype(np.float32)


def _iau_vac_to_air(w):
    # the IAU relation written out here (Morton 2000), independent of vocloud's
    s2 = (1e4 / w) ** 2
    return w / (1 + 8.34254e-5 + 2.406147e-2 / (130 - s2) + 1.5998e-4 / (38.9 - s2))


def _lag(a, b, step, k=60, centre=True):
    """Shift (A) of ``b`` against ``a`` by cross-correlation (+-k pixels), parabolic peak."""
    if centre:
        a, b = a - a.mean(), b - b.mean()
    shifts = np.arange(-k, k + 1)
    cc = np.array([np.sum(a[k:-k] * np.roll(b, -j)[k:-k]) for j in shifts])
    i = int(np.argmax(cc))
    y0, y1, y2 = cc[i - 1], cc[i], cc[i + 1]
    return (shifts[i] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)) * step


@pytest.mark.parametrize("grid_medium", ["air", "vacuum"])
def test_same_star_in_vacuum_and_air_layouts_lines_up(tmp_path, grid_medium):
    # vacuum layout: an SDSS-style coadd (loglam in vacuum, VACUUM = T)
    loglam = 3.80 + 1e-5 * np.arange(8000)
    wvac = 10**loglam
    cols = [
        fits.Column(name="flux", format="E", array=_line(_iau_vac_to_air(wvac))),
        fits.Column(name="loglam", format="D", array=loglam),
        fits.Column(name="ivar", format="E", array=np.full(wvac.size, 100.0, np.float32)),
        fits.Column(name="and_mask", format="J", array=np.zeros(wvac.size, np.int32)),
    ]
    coadd = fits.BinTableHDU.from_columns(cols)
    coadd.header["EXTNAME"] = "COADD"
    primary = fits.PrimaryHDU()
    primary.header["VACUUM"] = True
    fits.HDUList([primary, coadd]).writeto(tmp_path / "vac.fits")
    # air layout: an IRAF linear file in air
    wair = 6300.0 + 0.05 * np.arange(9000)
    img = fits.PrimaryHDU(_line(wair))
    img.header.update(CRVAL1=6300.0, CDELT1=0.05, CRPIX1=1.0, CTYPE1="LINEAR")
    img.writeto(tmp_path / "air.fits")
    vac, air = read_spectrum(tmp_path / "vac.fits"), read_spectrum(tmp_path / "air.fits")
    assert (vac.medium, air.medium) == ("vacuum", "air")
    grid = {"start": 6500, "stop": 6630, "step": 0.05, "medium": grid_medium}
    p = PreprocessParams.from_dict({"grid": grid, "cutout": {"center": 6565, "half_width": 80}})
    r = preprocess_block([vac, air], p)
    assert r.error == [None, None]
    assert abs(_lag(r.features[1], r.features[0], 0.05)) < 0.02
    # what vocloud did before: both taken as air, the features ~1.8 A apart
    wrong = PreprocessParams.from_dict({**p.to_dict(), "spectra_medium": "air"})
    r = preprocess_block([vac, air], wrong)
    assert 1.7 < abs(_lag(r.features[1], r.features[0], 0.05)) < 1.9


def test_one_be_star_from_lamost_and_ondrejov_aligns():
    """BT CMi by LAMOST (vacuum, heliocentric) and Ondrejov (air, not corrected)."""
    files = [REAL / "lamost/bt-cmi-lamost.fits", REAL / "ondrejov/bt-cmi-ondrejov.fits"]
    spectra = [read_spectrum(f) for f in files]
    base = {
        "grid": {"start": 6500, "stop": 6630, "step": 0.1},
        "cutout": {"center": 6565, "half_width": 80},
        "scale": "none",
    }
    p = PreprocessParams.from_dict({**base, "frame": "barycentric"})
    g = p.grid()
    line = (g > 6530) & (g < 6600)  # the H-alpha emission, continuum (1) subtracted

    def lag(r):
        return _lag(r.features[1][line] - 1, r.features[0][line] - 1, 0.1, k=30, centre=False)

    r = preprocess_block(spectra, p)
    assert r.error == [None, None]
    assert r.frame[0] == "heliocentric (file)" and r.frame[1].startswith("barycentric (-10.7")
    assert abs(lag(r)) < 0.5  # measured -0.26 A: the rest is variability (2013 vs 2014)
    r = preprocess_block(spectra, PreprocessParams.from_dict({**base, "spectra_medium": "air"}))
    assert abs(lag(r)) > 1.0  # as vocloud read them before: +1.33 A


def test_mrs_halpha_experiment_uses_the_red_arm():
    s = read_spectrum(REAL / "lamost/med-58408-TD230151N343645T01_sp01-015.fits")
    p = PreprocessParams.from_dict({"grid": {"start": 6450, "stop": 6680}})
    r = preprocess_block([s], p)
    assert r.error == [None] and np.isfinite(r.features).all()


def test_store_columns_record_each_spectrum_medium_and_frame():
    paths = [
        str(REAL / "lamost/bt-cmi-lamost.fits"),
        str(REAL / "ondrejov/bt-cmi-ondrejov.fits"),
        str(REAL / "spex/BD60596_merged.fits"),
    ]
    data = compute_chunk(paths, [None] * 3, {"frame": "barycentric"})
    assert list(data.columns["medium"]) == ["vacuum", "air", "air (assumed)"]
    frames = list(data.columns["rest_frame"])
    assert frames[0] == "heliocentric (file)" and frames[1].startswith("barycentric (")
    # the Spextool file says nothing of its observatory and position: refused with the reason
    assert data.columns["error"][2].startswith("barycentric correction needs the")


def test_rest_frame_from_the_pipeline_redshift():
    """An SDSS quasar (z = 0.456 in its SPECOBJ table) moved to rest frame by ``rv: Z``."""
    name = REAL / "sdss/spec-1325-52762-0133.fits"
    with fits.open(name) as hdul:
        z = float(hdul["SPECOBJ"].data["Z"][0])
    s = read_spectrum(name)
    assert s.meta["Z"] == pytest.approx(z, rel=1e-7)
    p = PreprocessParams.from_dict(
        {
            "grid": {"start": 4700, "stop": 5030, "step": 0.5, "medium": "vacuum"},
            "cutout": {"center": 4862.68, "half_width": 200},
            "continuum": {"windows": [[4780, 4950]]},
            "scale": "none",
            "rv": "Z",
        }
    )
    r = preprocess_block([s], p)
    assert r.error == [None]
    assert f"rv {z * 299792.458:+.3f} km/s (Z)" in r.frame[0]
    g = p.grid()
    peak = g[np.nanargmax(r.features[0])]
    assert abs(peak - 5008.24) < 1.5  # the quasar's [O III] 5008.24 (vacuum), at rest


def test_experiment_store_states_the_grid_medium_and_each_spectrum(tmp_path):
    """A run over real files: the store's wavelength medium is the grid's, not always air."""
    import shutil

    from vocloud.run.experiment import Experiment

    folder = tmp_path / "spectra"
    folder.mkdir()
    for name in (
        "lamost/bt-cmi-lamost.fits",
        "ondrejov/bt-cmi-ondrejov.fits",
        "lamost/med-58408-TD230151N343645T01_sp01-015.fits",
    ):
        shutil.copy(REAL / name, folder / Path(name).name)
    exp = Experiment(
        {"directory": str(folder), "pattern": "*.fits"},
        {"grid": {"start": 6450, "stop": 6680, "medium": "vacuum"}, "frame": "barycentric"},
        name="real",
        store=tmp_path / "experiments",
    )
    ds = exp.run(
        cluster_kwargs={"n_workers": 1, "processes": False, "dashboard_address": None},
        progress=False,
        verbose=False,
    )
    assert ds.wavelength.attrs["medium"] == "vacuum"
    assert exp.features().wavelength.attrs["medium"] == "vacuum"
    by_file = {Path(p).name: i for i, p in enumerate(ds.path.values)}
    medium = ds.medium.values
    frame = ds.rest_frame.values
    assert list(ds.status.values) == [1, 1, 1], list(ds.error.values)
    assert medium[by_file["bt-cmi-ondrejov.fits"]] == "air"
    assert medium[by_file["bt-cmi-lamost.fits"]] == "vacuum"
    assert frame[by_file["bt-cmi-lamost.fits"]] == "heliocentric (file)"
    assert frame[by_file["bt-cmi-ondrejov.fits"]].startswith("barycentric (-10.7")


def test_rest_frame_from_a_spectra_list_column(tmp_path):
    """``rv: column:z``: the redshift of each spectrum from the spectra list (as a TAP query
    gives it), here the SDSS pipeline's for two real quasar spectra, none for a third."""
    from astropy.table import Table

    from vocloud.run.experiment import Experiment

    files = [REAL / "sdss/spec-1325-52762-0133.fits", REAL / "sdss/spec-6717-56397-0534.fits"]
    zs = []
    for f in files:
        with fits.open(f) as hdul:
            zs.append(float(hdul[2].data["Z"][0]))
    listing = Table(
        {
            "access_url": [str(f) for f in files] + [str(REAL / "lamost/bt-cmi-lamost.fits")],
            "z": [*zs, np.nan],
        }
    )
    listing.write(tmp_path / "list.xml", format="votable")
    exp = Experiment(
        {"votable": str(tmp_path / "list.xml")},
        {
            "grid": {"start": 4700, "stop": 5030, "step": 0.5, "medium": "vacuum"},
            "cutout": {"center": 4862.68, "half_width": 200},
            "continuum": {"windows": [[4780, 4950]]},
            "scale": "none",
            "rv": "column:z",
        },
        name="qso",
        store=tmp_path / "experiments",
    )
    ds = exp.run(
        cluster_kwargs={"n_workers": 1, "processes": False, "dashboard_address": None},
        progress=False,
        verbose=False,
    )
    assert list(ds.status.values) == [1, 1, 2]
    assert ds.error.values[2].startswith("rv: no Z in the spectra list for this spectrum")
    g = ds.wavelength.values
    for row, z in enumerate(zs):
        assert f"rv {z * 299792.458:+.3f} km/s (spectra list column Z)" in ds.rest_frame.values[row]
        peak = g[np.nanargmax(ds.features.values[row])]
        assert abs(peak - 5008.24) < 1.5  # [O III] at rest
    with pytest.raises(ValueError, match="rv: the spectra list has no column 'v'"):
        Experiment(
            {"votable": str(tmp_path / "list.xml")}, {"rv": "column:v"}, store=tmp_path
        ).features()

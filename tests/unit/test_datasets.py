"""Tests of vocloud.datasets: synthetic spectra, their files in every layout, archives, broken files."""

from __future__ import annotations

import gzip
import io
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table

from vocloud.datasets import (
    CLASSES,
    LAYOUTS,
    OUTLIER_KINDS,
    make_archive,
    make_broken_files,
    measure_write_time,
    synthesize,
    to_bytes,
)
from vocloud.datasets.fitswrite import format_card, format_real
from vocloud.datasets.profiles import C_KMS, HALPHA_AIR

FITS_LAYOUTS = {"iraf-linear", "iraf-log", "lamost-dr7", "lamost-dr8", "sdss-coadd", "two-column"}
META_KEYS = ("OBJECT", "RA", "DEC", "SNR", "RESPOWER", "VOSYNID")
# astropy warns that VOUnit deprecates "Angstrom"; docs/layouts.md names it, so we write it
pytestmark = pytest.mark.filterwarnings("ignore:The unit 'Angstrom' has been deprecated")

ARCHIVE = {"seed": 11, "outlier_fraction": 0.15, "gzip_fraction": 0.4, "files_per_dir": 10}


# ----------------------------------------------------------------------------- independent reader


def read_with_astropy(source, layout: str) -> dict:
    """Read a synthetic file with astropy / pandas only, as the layouts document says."""
    if layout in FITS_LAYOUTS:
        with fits.open(source) as hdul:
            hdul.verify("exception")
            return _read_fits(hdul, layout)
    if layout == "votable-sdm":
        table = parse_single_table(source)
        t = table.to_table()
        params = {p.name: p.value for p in table.params}
        ivar = None
        if "flux_error" in t.colnames:
            with np.errstate(divide="ignore"):
                ivar = 1.0 / np.asarray(t["flux_error"], dtype=np.float64) ** 2
        assert t["spectral"].unit == "Angstrom"
        return {
            "wavelength": np.asarray(t["spectral"], dtype=np.float64),
            "flux": np.asarray(t["flux"]),
            "ivar": ivar,
            "meta": params,
        }
    assert layout == "csv"
    text = source.read_text() if isinstance(source, Path) else source.decode()
    meta = {}
    for line in text.splitlines():
        if line.startswith("#"):
            key, value = line[1:].split("=", 1)
            meta[key.strip()] = value.strip()
    df = pd.read_csv(io.StringIO(text), comment="#")
    wcol = df.columns[0]
    assert wcol in ("wavelength", "wavelength[Angstrom]")
    return {
        "wavelength": df[wcol].to_numpy(np.float64),
        "flux": df["flux"].to_numpy(np.float64),
        "ivar": df["ivar"].to_numpy(np.float64) if "ivar" in df else None,
        "meta": meta,
    }


def _read_fits(hdul, layout: str) -> dict:
    h0 = hdul[0].header
    meta = {k: h0[k] for k in META_KEYS if k in h0}
    if layout in ("iraf-linear", "iraf-log"):
        assert h0["NAXIS"] == 1
        n = h0["NAXIS1"]
        p = np.arange(n, dtype=np.float64) + 1.0 - h0.get("CRPIX1", 1.0)
        crval = h0["CRVAL1"]
        cdelt = h0["CDELT1"] if "CDELT1" in h0 else h0["CD1_1"]
        if h0.get("CTYPE1") == "WAVE-LOG":
            wl = crval * np.exp(cdelt * p / crval)
        elif h0.get("DC-FLAG", 0) == 1:
            wl = 10.0 ** (crval + p * cdelt)
        else:
            wl = crval + p * cdelt
        assert h0.get("CUNIT1", "Angstrom") == "Angstrom"
        assert h0.get("CTYPE1", "WAVE") in ("WAVE", "LINEAR", "WAVE-LOG")
        return {"wavelength": wl, "flux": hdul[0].data, "ivar": None, "meta": meta}
    if layout == "lamost-dr7":
        d = hdul[0].data
        assert d.shape == (5, 3909) and h0["TELESCOP"] == "LAMOST"
        grid = 10.0 ** (h0["COEFF0"] + h0["COEFF1"] * np.arange(3909))
        np.testing.assert_allclose(d[2], grid, rtol=1e-6)
        return {"wavelength": d[2].astype(np.float64), "flux": d[0], "ivar": d[1], "meta": meta}
    if layout == "lamost-dr8":
        row = hdul[1].data[0]
        assert hdul[1].columns.names == ["FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK"]
        assert hdul[1].columns["FLUX"].format == "3909E"
        wl = np.asarray(row["WAVELENGTH"], dtype=np.float64)
        return {"wavelength": wl, "flux": row["FLUX"], "ivar": row["IVAR"], "meta": meta}
    if layout == "sdss-coadd":
        t = hdul["COADD"].data
        assert {"flux", "loglam", "ivar", "and_mask", "or_mask", "wdisp", "sky", "model"} <= set(
            t.columns.names
        )
        assert h0["PLUG_RA"] == h0["RA"]
        wl = 10.0 ** t["loglam"].astype(np.float64)
        return {"wavelength": wl, "flux": t["flux"], "ivar": t["ivar"], "meta": meta}
    assert layout == "two-column"
    t = hdul[1].data
    names = {n.upper(): n for n in t.columns.names}
    wname = next(
        names[k] for k in ("WAVELENGTH", "WAVE", "LAMBDA", "LOGLAM", "SPECTRAL") if k in names
    )
    wl = np.asarray(t[wname], dtype=np.float64)
    if wname.upper() == "LOGLAM":
        wl = 10.0**wl
    ivar = None
    if "IVAR" in names:
        ivar = np.asarray(t["IVAR"], dtype=np.float64)
    elif "ERROR" in names:
        with np.errstate(divide="ignore"):
            ivar = 1.0 / np.asarray(t["ERROR"], dtype=np.float64) ** 2
    return {"wavelength": wl, "flux": t[names["FLUX"]], "ivar": ivar, "meta": meta}


def assert_matches(got: dict, s) -> None:
    """The numbers read from the file are those of the synthetic spectrum."""
    np.testing.assert_allclose(got["wavelength"], s.wavelength, rtol=1e-12, atol=0)
    flux = np.asarray(got["flux"])
    if s.flux.dtype == np.float64:
        np.testing.assert_array_equal(flux.astype(np.float64), s.flux)
    else:
        np.testing.assert_array_equal(flux.astype(np.float32), s.flux)
    if got["ivar"] is not None:
        expected = s.ivar.astype(np.float64)
        ivar = np.nan_to_num(np.asarray(got["ivar"], dtype=np.float64), nan=0.0)
        np.testing.assert_allclose(ivar, expected, rtol=2e-6)
    for k in META_KEYS:
        value = got["meta"][k]
        if isinstance(s.meta[k], str):
            assert str(value) == s.meta[k]
        else:
            assert float(value) == pytest.approx(s.meta[k], rel=1e-12)


def _no_truth_in(data: bytes) -> None:
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    for word in (*CLASSES, "outlier", "p-cygni", "broad-bump"):
        assert word.encode() not in raw


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("arch") / "a"
    info = make_archive(root, 96, n_jobs=1, **ARCHIVE)
    return info


# -------------------------------------------------------------------------------- unit: writer


def test_constants():
    assert CLASSES == (
        "absorption",
        "emission-in-absorption",
        "double-peak",
        "single-peak",
        "shell",
    )
    assert LAYOUTS == (
        "iraf-linear",
        "iraf-log",
        "lamost-dr7",
        "lamost-dr8",
        "sdss-coadd",
        "two-column",
        "votable-sdm",
        "csv",
    )
    assert OUTLIER_KINDS == ("spike", "dead", "strange")


def test_fits_cards():
    assert format_real(1e-4) == "0.0001"
    assert format_real(2.5e-12) == "2.5E-12"
    assert format_real(1e20) == "1.0E+20"
    card = format_card("OBJECT", "O'Hara")
    assert len(card) == 80 and card.startswith("OBJECT  = 'O''Hara '")
    h = fits.Header.fromstring(format_card("CRVAL1", 6269.65) + format_card("DC-FLAG", 1))
    assert h["CRVAL1"] == 6269.65 and h["DC-FLAG"] == 1


# ------------------------------------------------------------------------------- synthesize


def test_synthesize_deterministic_and_independent_of_start():
    a = synthesize(6, seed=5, layout="mixed", outlier_fraction=0.3)
    b = synthesize(6, seed=5, layout="mixed", outlier_fraction=0.3)
    c = synthesize(2, seed=5, layout="mixed", outlier_fraction=0.3, start=4)
    for x, y in zip(a, b):
        assert to_bytes(x, gzip=False) == to_bytes(y, gzip=False)
        np.testing.assert_array_equal(x.flux, y.flux)
    for x, y in zip(a[4:], c):
        assert x.id == y.id and to_bytes(x, gzip=False) == to_bytes(y, gzip=False)
    d = synthesize(6, seed=6, layout="mixed")
    assert not any(np.array_equal(x.flux, y.flux) for x, y in zip(a, d) if x.layout == y.layout)


def test_synthesize_fields():
    for s in synthesize(40, seed=2, layout="mixed", outlier_fraction=0.5):
        n = s.wavelength.shape[0]
        assert s.flux.shape == s.ivar.shape == s.mask.shape == s.continuum.shape == (n,)
        assert s.wavelength.dtype == np.float64 and np.all(np.diff(s.wavelength) > 0)
        assert s.ivar.dtype == np.float32 and s.mask.dtype == bool
        assert s.wavelength[0] < HALPHA_AIR - 100 and s.wavelength[-1] > HALPHA_AIR + 100
        assert set(s.meta) == set(META_KEYS)
        assert 30 <= s.snr <= 300 and abs(s.rv) <= 100
        assert s.cls in (*CLASSES, "outlier")
        assert (s.cls == "outlier") == (s.outlier_kind in OUTLIER_KINDS)
        if s.outlier_kind == "dead":
            assert s.mask.any() and np.all(s.ivar[s.mask] == 0)
        else:
            assert not s.mask.any() and np.all(s.ivar > 0)
        assert s.id.startswith(f"{s.layout}/") and not s.id.endswith(".gz")
        # the continuum is ~1 near the line
        near = np.abs(s.wavelength - HALPHA_AIR) < 100
        assert np.all(np.abs(s.continuum[near] - 1) < 0.05)


def test_grids_typical_of_layouts():
    for layout, (n_lo, n_hi), (r_lo, r_hi) in [
        ("lamost-dr7", (3909, 3909), (1500, 2100)),
        ("lamost-dr8", (3909, 3909), (1500, 2100)),
        ("sdss-coadd", (3800, 4600), (1500, 2500)),
        ("iraf-linear", (1920, 2200), (11000, 15000)),
        ("iraf-log", (1920, 2200), (10000, 14000)),
        ("two-column", (1920, 2200), (11000, 15000)),
        ("votable-sdm", (1920, 2200), (11000, 15000)),
        ("csv", (960, 1100), (5000, 9000)),
    ]:
        for s in synthesize(8, seed=3, layout=layout):
            assert n_lo <= s.wavelength.size <= n_hi, layout
            assert r_lo <= s.resolving_power <= r_hi, layout
            # every layout covers H-alpha +- 150 A with a margin (the default experiment grid)
            assert s.wavelength.min() <= 6400 and s.wavelength.max() >= 6725, layout
    lam = synthesize(5, layout="lamost-dr7")
    assert all(3600 < s.wavelength[0] < 3800 and 8900 < s.wavelength[-1] < 9300 for s in lam)
    ond = synthesize(5, layout="iraf-linear")
    assert all(abs(np.median(np.diff(s.wavelength)) - 0.2352) < 0.002 for s in ond)


def _window(s, lo: float, hi: float) -> np.ndarray:
    centre = HALPHA_AIR * (1 + s.rv / C_KMS)
    return (s.wavelength >= centre + lo) & (s.wavelength <= centre + hi)


@pytest.mark.parametrize("layout", ["lamost-dr7", "sdss-coadd", "csv", "iraf-linear"])
def test_class_profiles_differ_as_intended(layout):
    for cls in CLASSES:
        specs = synthesize(15, seed=4, layout=layout, class_weights={cls: 1}, outlier_fraction=0.0)
        for s in specs:
            assert s.cls == cls
            prof = s.model / s.continuum  # noise-free, observed (LSF-convolved) profile
            core = _window(s, -1.2, 1.2)
            wide = _window(s, -40, 40)
            c = prof[core].min() if cls == "shell" else prof[core].max()
            blue, red = prof[_window(s, -15, -1.5)], prof[_window(s, 1.5, 15)]
            if cls == "absorption":
                assert prof[wide].min() < 0.85 and prof[wide].max() < 1.001
            elif cls == "emission-in-absorption":
                assert min(blue.min(), red.min()) < 0.85  # the broad trough
                assert c > max(blue.min(), red.min()) + 0.08  # the central bump
            elif cls == "double-peak":
                assert prof[wide].max() > 1.2 and prof[core].min() >= 1.0
                assert blue.max() > prof[core].min() + 0.02 < red.max()
            elif cls == "single-peak":
                assert prof[wide].max() > 1.2 and prof[wide].min() > 0.99
                assert prof[_window(s, -3, 3)].max() == prof[wide].max()
            else:  # shell
                assert c < 0.9 and blue.max() > 1.1 and red.max() > 1.1
            noisy = s.normalized
            if cls in ("double-peak", "single-peak", "shell"):
                assert noisy[_window(s, -12, 12)].max() > 1.1  # emission above the continuum
            if cls in ("absorption", "emission-in-absorption", "shell"):
                assert noisy[_window(s, -12, 12)].min() < 0.9


def test_classes_separable():
    """A plain kNN on continuum-divided, rescaled cutouts tells the classes apart (>= 0.9)."""
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    grid = np.linspace(6500.0, 6625.0, 200)
    x, y = [], []
    for s in synthesize(600, seed=9, layout="mixed", outlier_fraction=0.0):
        r = np.interp(grid, s.wavelength, s.normalized)
        x.append((r - r.min()) / (r.max() - r.min()))
        y.append(s.cls)
    score = cross_val_score(KNeighborsClassifier(5), np.array(x), np.array(y), cv=3).mean()
    assert score >= 0.9


def test_outliers():
    specs = synthesize(120, seed=1, layout="mixed", outlier_fraction=1.0)
    kinds = {s.outlier_kind for s in specs}
    assert kinds == set(OUTLIER_KINDS)
    for s in specs:
        assert s.cls == "outlier"
        if s.outlier_kind == "spike":
            assert np.nanmax(s.flux - s.model) > 2.0
        elif s.outlier_kind == "dead":
            dead = s.flux[s.mask]
            assert np.all(np.isnan(dead)) or np.all(dead == 0)
            assert np.all(np.diff(np.flatnonzero(s.mask)) == 1)  # one run
        else:
            assert s.base_class in ("p-cygni", "inverse-p-cygni", "broad-bump")


# ------------------------------------------------------------------------- files, in memory


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_roundtrips_through_astropy(layout):
    specs = synthesize(30, seed=21, layout=layout, outlier_fraction=0.2)
    for s in specs:
        data = to_bytes(s, gzip=False)
        _no_truth_in(data)
        got = read_with_astropy(io.BytesIO(data) if layout != "csv" else data, layout)
        assert_matches(got, s)
    if layout in FITS_LAYOUTS:
        gz = to_bytes(specs[0], gzip=True)
        assert gz[:2] == b"\x1f\x8b"
        assert_matches(read_with_astropy(io.BytesIO(gzip.decompress(gz)), layout), specs[0])


def test_header_variants_are_written():
    lin = synthesize(60, seed=2, layout="iraf-linear")
    headers = [fits.Header.fromstring(to_bytes(s)[: 2880 * 2]) for s in lin]
    assert any("CD1_1" in h and "CDELT1" not in h for h in headers)
    assert any("CDELT1" in h for h in headers)
    assert any(h["CRPIX1"] != 1 for h in headers)
    assert any(h["BITPIX"] == -64 for h in headers) and any(h["BITPIX"] == -32 for h in headers)
    log = synthesize(60, seed=2, layout="iraf-log")
    headers = [fits.Header.fromstring(to_bytes(s)[: 2880 * 2]) for s in log]
    assert any(h.get("CTYPE1") == "WAVE-LOG" for h in headers)
    assert any(h.get("DC-FLAG") == 1 for h in headers)
    vot = [s.variant["binary2"] for s in synthesize(40, seed=2, layout="votable-sdm")]
    assert any(vot) and not all(vot)


# --------------------------------------------------------------------------------- archives


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_archive_deterministic_across_n_jobs(tmp_path):
    a = make_archive(tmp_path / "a", 40, n_jobs=1, **ARCHIVE)
    b = make_archive(tmp_path / "b", 40, n_jobs=2, **ARCHIVE)
    ta, tb = _tree(a.path), _tree(b.path)
    assert ta.keys() == tb.keys()
    assert all(ta[k] == tb[k] for k in ta)
    assert len(ta) == 40 + 5  # spectra + index.csv, index.vot, truth, labels, marker


def test_archive_files_match_synthesize(archive):
    idx = archive.index
    specs = synthesize(96, layout="mixed", **ARCHIVE)
    assert list(idx["id"]) == [s.id for s in specs]
    assert set(idx["layout"]) == set(LAYOUTS)
    assert idx["gzip"].any() and not idx["gzip"].all()
    for row, s in zip(idx.itertuples(index=False), specs):
        f = archive.path / row.path
        assert f.is_file()
        assert row.path == (s.id + ".gz" if s.gzip else s.id)
        if row.gzip:
            assert row.path.endswith(".fits.gz") and f.read_bytes()[:2] == b"\x1f\x8b"
        assert row.id == row.path.removesuffix(".gz")
        assert row.layout == s.layout and row.n_pixels == s.wavelength.size
        assert row.wl_min == s.wavelength[0] and row.wl_max == s.wavelength[-1]
        assert row.s_ra == s.meta["RA"] and row.snr == s.snr and row.rv == s.rv
        assert row.em_min == pytest.approx(s.wavelength[0] * 1e-10)
        data = f.read_bytes()
        _no_truth_in(data)
        assert_matches(read_with_astropy(f, s.layout), s)


def test_index_truth_labels_consistent(archive):
    idx = archive.index
    assert list(idx.columns[:3]) == ["id", "path", "layout"]
    for col in ("s_ra", "s_dec", "snr", "rv", "resolving_power", "n_pixels", "wl_min", "wl_max"):
        assert col in idx.columns
    assert idx["id"].is_unique and idx["n_pixels"].dtype == np.int64
    # the id is the POSIX path relative to the archive, as a directory source names the files
    on_disk = {
        p.relative_to(archive.path).as_posix().removesuffix(".gz")
        for p in archive.path.rglob("spec-*")
    }
    assert on_disk == set(idx["id"])
    truth = archive.truth()
    assert list(truth.columns[:3]) == ["id", "class", "outlier_kind"]
    assert list(truth["id"]) == list(idx["id"])
    assert set(truth["class"]) <= {*CLASSES, "outlier"}
    out = truth["class"] == "outlier"
    assert out.any() and set(truth.loc[out, "outlier_kind"]) <= set(OUTLIER_KINDS)
    assert (truth.loc[~out, "outlier_kind"] == "").all()
    labels = archive.labels()
    assert list(labels.columns) == ["id", "label"]
    assert len(labels) == round(0.1 * 96) and labels["id"].is_unique
    merged = labels.merge(truth, on="id")
    assert len(merged) == len(labels) and (merged["label"] == merged["class"]).all()
    vot = parse_single_table(archive.index_vot).to_table()
    assert list(vot["id"]) == list(idx["id"]) and vot["s_ra"].unit == "deg"
    np.testing.assert_array_equal(np.asarray(vot["wl_min"]), idx["wl_min"].to_numpy())
    assert archive.marker.is_file()


def test_rerun_returns_at_once_and_guards_parameters(tmp_path):
    root = tmp_path / "r"
    kw = {"layouts": {"lamost-dr7": 2, "csv": 1}, "seed": 1, "n_jobs": 1}
    first = make_archive(root, 12, **kw)
    assert first.created
    victim = root / first.index["path"].iloc[0]
    victim.unlink()
    again = make_archive(root, 12, **kw)
    assert not again.created and not victim.exists()  # nothing was rewritten
    pd.testing.assert_frame_equal(again.index, first.index)
    with pytest.raises(FileExistsError, match="other parameters"):
        make_archive(root, 12, **{**kw, "seed": 2})
    with pytest.raises(FileExistsError):
        make_archive(root, 13, **kw)
    redone = make_archive(root, 12, **{**kw, "seed": 2}, overwrite=True)
    assert redone.created and redone.parameters["seed"] == 2
    assert len(list(root.rglob("spec-*"))) == 12
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="no vocloud synthetic archive"):
        make_archive(other, 4, n_jobs=1)
    # an interrupted run (partial marker, no final marker) is redone
    (root / ".vocloud-archive.json").unlink()
    os.replace(root / "labels.csv", root / "labels.old")
    (root / ".vocloud-archive.partial.json").write_text(
        '{"parameters": ' + __import__("json").dumps(redone.parameters) + "}"
    )
    resumed = make_archive(root, 12, **{**kw, "seed": 2})
    assert resumed.created and (root / "labels.csv").exists()
    assert not (root / ".vocloud-archive.partial.json").exists()


def test_make_archive_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown layout"):
        make_archive(tmp_path / "x", 3, layouts="fits-cube")
    with pytest.raises(ValueError, match="unknown class"):
        make_archive(tmp_path / "x", 3, class_weights={"nova": 1})
    with pytest.raises(ValueError):
        make_archive(tmp_path / "x", 0)


# ----------------------------------------------------------------------------------- broken


def test_make_broken_files(tmp_path):
    kinds = make_broken_files(tmp_path)
    assert set(kinds.values()) == {
        "corrupt",
        "truncated",
        "unknown-layout",
        "empty",
        "all-nan",
        "unparseable-unit",
        "non-spectral-unit",
        "duplicate-id",
        "off-grid",
        "valid-nm",
    }
    assert sorted(kinds) == sorted(p.name for p in tmp_path.iterdir())
    assert (tmp_path / "empty.fits").stat().st_size == 0
    corrupt = (tmp_path / "corrupt.fits").read_bytes()
    assert corrupt.startswith(b"SIMPLE  =                    T") and len(corrupt) > 2880
    truncated = (tmp_path / "truncated.fits").read_bytes()
    header = fits.Header.fromstring(truncated[:2880])
    assert 2880 < len(truncated) < 2880 + header["NAXIS1"] * 4
    for name in ("unknown-cube.fits", "unknown-table.fits", "all-nan.fits", "bad-unit.fits"):
        with fits.open(tmp_path / name) as hdul:
            hdul.verify("exception")
    with fits.open(tmp_path / "unknown-cube.fits") as hdul:
        assert hdul[0].data.ndim == 3
    with fits.open(tmp_path / "all-nan.fits") as hdul:
        assert np.all(np.isnan(hdul[0].data))
    assert fits.getheader(tmp_path / "bad-unit.fits")["CUNIT1"] == "furlongs per fortnight"
    assert fits.getheader(tmp_path / "mass-unit.fits")["CUNIT1"] == "kg"
    dup, dupgz = tmp_path / "dup.fits", tmp_path / "dup.fits.gz"
    assert dupgz.read_bytes()[:2] == b"\x1f\x8b"
    assert not np.array_equal(fits.getdata(dup), fits.getdata(dupgz))
    off = read_with_astropy(tmp_path / "off-grid.fits", "iraf-linear")
    assert off["wavelength"][0] == 4000.0 and off["wavelength"][-1] == 5000.0
    with fits.open(tmp_path / "nm.fits") as hdul:
        hdul.verify("exception")
        h = hdul[0].header
        assert h["CUNIT1"] == "nm" and 620 < h["CRVAL1"] < 630
        assert np.isfinite(hdul[0].data).all()
    assert make_broken_files(tmp_path) == kinds  # idempotent


def test_write_time_is_measured(tmp_path, monkeypatch):
    """Each phase is timed on its own: a phase made slower by a known amount is seen in its own
    figure (lower bounds only: no machine is faster than a sleep), and nothing is left behind."""
    import vocloud.datasets.archive as archive

    calls = {"synth": 0, "format": 0}

    def slow(name, fn, seconds):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            time.sleep(seconds)
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(archive, "draw_spectrum", slow("synth", archive.draw_spectrum, 0.002))
    monkeypatch.setattr(archive, "to_bytes", slow("format", archive.to_bytes, 0.005))
    t = measure_write_time(20, "lamost-dr7", directory=tmp_path)
    assert calls == {"synth": 20, "format": 20}
    assert set(t) == {"synth_us", "format_us", "write_us", "file_us"}
    assert t["synth_us"] >= 2000 and t["format_us"] >= 5000
    assert t["write_us"] > 0
    assert t["file_us"] == pytest.approx(t["format_us"] + t["write_us"])
    assert list(tmp_path.iterdir()) == []  # its files are removed

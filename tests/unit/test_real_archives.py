"""vocloud's readers on real archive files (tests/data/real/, see PROVENANCE.md there).

Every expected value is an independent reading written here with astropy.io.fits and the
format's documentation (wavelength at both ends, pixel count, a few flux and ivar values, mask),
never vocloud's own output. The spPlate and CRIRES+ files, whose layouts no public file has,
are written from real data by tests/real_layouts.py (shared with benchmarks/read.py); the tests
here read them back with astropy and compare with the source files.
"""

from __future__ import annotations

import gzip
import re
import warnings
from itertools import pairwise
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from real_layouts import CR2RES_TW, CRIRES_FAILED, CRIRES_SECOND_TRACE, write_crires, write_spplate

from vocloud.io import SpectrumFormatError, read_spectrum

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
C_MS = 299792458.0


def _open(name: str) -> fits.HDUList:
    warnings.simplefilter("ignore")
    return fits.open(REAL / name)


def _check(s, wave, flux, ivar=None, mask=None, *, rtol_wave=1e-12):
    """Pixel count, both wavelength ends, flux/ivar at a few pixels, and the mask."""
    w = s.wavelength_aa
    assert len(s) == len(wave) == len(flux)
    np.testing.assert_allclose(w[[0, -1]], np.asarray(wave)[[0, -1]], rtol=rtol_wave)
    np.testing.assert_allclose(w, wave, rtol=rtol_wave)
    idx = np.linspace(0, len(flux) - 1, 7).astype(int)
    np.testing.assert_array_equal(np.asarray(s.flux)[idx], np.asarray(flux)[idx])
    np.testing.assert_array_equal(s.flux, flux)
    if ivar is not None:
        np.testing.assert_allclose(s.ivar[idx], np.asarray(ivar)[idx], rtol=1e-6)
        np.testing.assert_allclose(s.ivar, ivar, rtol=1e-6)
    if mask is not None:
        np.testing.assert_array_equal(s.mask, mask)


# ------------------------------------------------------------------------------------ LAMOST
@pytest.mark.parametrize(
    "name, wave_row",
    [
        ("lamost/bt-cmi-lamost.fits", None),  # DR1 v2.6.4: row 2 is 'Subcontinuum'
        ("lamost/spec-57287-KP193637N444141V03_sp10-161.fits.gz", 2),
        ("lamost/spec-58397-EG014118N254444M01_sp03-031.fits", 2),
    ],
)
def test_lamost_lrs_images(name, wave_row):
    with _open(name) as hdul:
        h, d = hdul[0].header, hdul[0].data
        n = d.shape[1]
        if wave_row is None:
            assert h["EXTEN0"].split()[2] == "Subcontinuum"
            wave = 10 ** (h["COEFF0"] + h["COEFF1"] * np.arange(n))
        else:
            wave = d[wave_row].astype(np.float64)
        flux, ivar, andmask = d[0], d[1], d[3]
    s = read_spectrum(REAL / name)
    assert s.layout == "lamost-dr7" and s.medium == "vacuum" and h["VACUUM"] is True
    _check(s, wave, flux, ivar, andmask != 0, rtol_wave=1e-7)
    assert 3690 < s.wavelength_aa[0] < 3710 and 9070 < s.wavelength_aa[-1] < 9110


@pytest.mark.parametrize(
    "name",
    [
        "lamost/spec-55859-F5902_sp01-001.fits.gz",  # DR9 reprocessing of a DR1 plate
        "lamost/spec-60591-LN042429N340750BM01_sp01-001.fits.gz",  # DR13 Q1
    ],
)
def test_lamost_lrs_tables(name):
    with _open(name) as hdul:
        row = hdul[1].data[0]
        wave, flux, ivar, andmask = row["WAVELENGTH"], row["FLUX"], row["IVAR"], row["ANDMASK"]
        assert hdul[0].header["VACUUM"] is True
    s = read_spectrum(REAL / name)
    assert s.layout == "lamost-dr8" and s.medium == "vacuum"
    _check(s, wave.astype(np.float64), flux, ivar, andmask != 0, rtol_wave=1e-7)
    # gzip as shipped, read from bytes too
    raw = (REAL / name).read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_spectrum(gzip.decompress(raw)).flux, s.flux)


def test_lamost_mrs_reads_both_arms():
    name = "lamost/med-58408-TD230151N343645T01_sp01-015.fits"
    with _open(name) as hdul:
        arms = [hdul["COADD_B"].data, hdul["COADD_R"].data]
        wave = np.concatenate([10 ** a["LOGLAM"].astype(np.float64) for a in arms])
        flux = np.concatenate([a["FLUX"] for a in arms])
        ivar = np.concatenate([a["IVAR"] for a in arms])
        mask = np.concatenate([a["ANDMASK"] != 0 for a in arms])
        nb = len(arms[0])
    s = read_spectrum(REAL / name)
    assert s.layout == "lamost-mrs" and s.medium == "vacuum"
    _check(s, wave, flux, ivar, mask, rtol_wave=1e-7)
    assert s.segments == ((0, nb), (nb, len(wave)))
    red = s.wavelength_aa[nb:]
    assert red[0] < 6564.61 < red[-1]  # H-alpha (vacuum) is in the red arm


# ------------------------------------------------------------------------------------ SDSS
# SPPIXMASK bits that mean a bad pixel (SDSS DR documentation of spec files): NOPLUG 0,
# BADTRACE 1, BADFLAT 2, BADARC 3, FULLREJECT 18, NODATA 24. Others are informational.
SDSS_BAD = sum(1 << b for b in (0, 1, 2, 3, 18, 24))


@pytest.mark.parametrize(
    "name", ["sdss/spec-1325-52762-0133.fits", "sdss/spec-6717-56397-0534.fits"]
)
def test_sdss_spec(name):
    with _open(name) as hdul:
        c = hdul["COADD"].data
        wave = 10 ** c["loglam"].astype(np.float64)
        flux, ivar, and_mask = c["flux"], c["ivar"], c["and_mask"]
        assert hdul[0].header["VACUUM"] is True
    s = read_spectrum(REAL / name)
    assert s.layout == "sdss-coadd" and s.medium == "vacuum"
    _check(s, wave, flux, ivar, (and_mask & SDSS_BAD) != 0, rtol_wave=1e-7)
    if name.startswith("sdss/spec-1325"):
        # bit 23 BRIGHTSKY is set on real pixels here, informational: they stay good
        assert np.any(and_mask & (1 << 23)) and not s.mask[(and_mask & (1 << 23)) != 0].any()


def test_sdss_dr7_spspec_is_not_lamost():
    name = "sdss/sample_sdss.fits"
    with _open(name) as hdul:
        h, d = hdul[0].header, hdul[0].data
        assert d.shape[0] == 5 and "COEFF0" in h and h["TELESCOP"] == "SDSS 2.5-M"
        n = d.shape[1]
        wave = 10 ** (h["COEFF0"] + h["COEFF1"] * np.arange(n))
        flux, sigma, bits = d[0], d[2], d[3].astype(np.int64)
    ivar = np.where(sigma > 0, 1 / np.where(sigma > 0, sigma.astype(np.float64), 1) ** 2, 0)
    s = read_spectrum(REAL / name)
    assert s.layout == "sdss-spspec" and s.medium == "vacuum"
    _check(s, wave, flux, ivar, (bits & SDSS_BAD) != 0)
    assert s.good().mean() > 0.9  # read as LAMOST, half the pixels were "bad"


# ------------------------------------------------------------------------------------ DESI
def test_desi_coadd_by_targetid():
    name = "desi/coadd-5-169-thru20210419.fits"
    with _open(name) as hdul:
        tids = hdul["FIBERMAP"].data["TARGETID"]
        row = 1
        wave = np.concatenate([hdul[f"{a}_WAVELENGTH"].data for a in "BRZ"])
        flux = np.concatenate([hdul[f"{a}_FLUX"].data[row] for a in "BRZ"])
        ivar = np.concatenate([hdul[f"{a}_IVAR"].data[row] for a in "BRZ"])
        mask = np.concatenate([hdul[f"{a}_MASK"].data[row] != 0 for a in "BRZ"])
        nb, nr = len(hdul["B_WAVELENGTH"].data), len(hdul["R_WAVELENGTH"].data)
    s = read_spectrum(f"{REAL / name}#TARGETID={tids[row]}")
    assert s.layout == "desi-coadd" and s.medium == "vacuum"
    assert s.meta["TARGETID"] == tids[row]
    _check(s, wave, flux, ivar, mask)
    assert s.segments == ((0, nb), (nb, nb + nr), (nb + nr, len(wave)))
    np.testing.assert_array_equal(read_spectrum(f"{REAL / name}#{row}").flux, s.flux)
    with pytest.raises(SpectrumFormatError, match="file holds 5 spectra: address one"):
        read_spectrum(REAL / name)
    with pytest.raises(SpectrumFormatError, match="no TARGETID 7 in the file"):
        read_spectrum(f"{REAL / name}#TARGETID=7")


SPECTRA = "desi/spectra-sv3-dark-26065.fits"


def _desi_rows(path: Path, row: int) -> dict:
    """One row of a DESI file as astropy reads it: per arm wavelength, flux, ivar, mask."""
    warnings.simplefilter("ignore")
    with fits.open(path) as hdul:
        fm = hdul["FIBERMAP"].data
        out = {key: fm[key][row] for key in fm.names}
        for a in "BRZ":
            out[a] = (
                np.asarray(hdul[f"{a}_WAVELENGTH"].data, dtype=np.float64),
                np.asarray(hdul[f"{a}_FLUX"].data[row]),
                np.asarray(hdul[f"{a}_IVAR"].data[row]),
                np.asarray(hdul[f"{a}_MASK"].data[row]),  # tile-compressed, uint32 via BZERO
            )
    return out


@pytest.mark.parametrize("row", range(5))
def test_desi_spectra_file_every_exposure_against_astropy(row):
    """A spectra-* file (not coadded): each row -- a target in one exposure -- by its address."""
    from vocloud.io.fitslayouts import detect_fits_layout
    from vocloud.io.read import list_spectra

    path = REAL / SPECTRA
    want = _desi_rows(path, row)
    s = read_spectrum(list_spectra(path)[row])
    assert s.layout == "desi-spectra" and s.medium == "vacuum"
    assert detect_fits_layout((REAL / "desi/coadd-5-169-thru20210419.fits").read_bytes()) == (
        "desi-coadd"
    )
    for key in ("TARGETID", "EXPID", "NIGHT", "TILEID", "FIBER"):
        assert s.meta[key] == int(want[key]), key
    assert (s.meta["RA"], s.meta["DEC"]) == (want["TARGET_RA"], want["TARGET_DEC"])
    assert s.meta["MJD"] == want["MJD"]
    # per arm: pixel count, both wavelength ends, flux/ivar values, MASK != 0 as bad
    for (a, b), arm in zip(s.segments, "BRZ"):
        w, f, iv, m = want[arm]
        assert b - a == len(w)
        np.testing.assert_array_equal(s.wavelength_aa[[a, b - 1]], w[[0, -1]])
        np.testing.assert_array_equal(s.flux[a:b], f)
        np.testing.assert_array_equal(s.ivar[a:b], iv)
        np.testing.assert_array_equal(s.mask[a:b], m != 0)
        np.testing.assert_array_equal(s.good()[a:b], (m == 0) & (iv > 0) & np.isfinite(f))
    assert [len(want[a][0]) for a in "BRZ"] == [2751, 2326, 2881]
    np.testing.assert_allclose(s.wavelength_aa[[0, -1]], [3600.0, 9824.0])
    w = np.concatenate([want[a][0] for a in "BRZ"])
    flux = np.concatenate([want[a][1] for a in "BRZ"])
    ivar = np.concatenate([want[a][2] for a in "BRZ"])
    mask = np.concatenate([want[a][3] != 0 for a in "BRZ"])
    _check(s, w, flux, ivar, mask)
    # the one target observed with data (row 2) keeps 7923 good pixels of 7958: its masks were
    # once read from the IVAR HDU (HDUs numbered one low), which made them all bad
    assert s.good().sum() == (7923 if row == 2 else 0)


def test_desi_spectra_file_addresses_are_unique_and_read_what_they_name():
    from vocloud.io.read import list_spectra

    path = REAL / SPECTRA
    with _open(SPECTRA) as hdul:
        fm = hdul["FIBERMAP"].data
        tids, expids = list(fm["TARGETID"]), list(fm["EXPID"])
    addresses = list_spectra(path)
    assert addresses == [f"{path}#TARGETID={t},EXPID={e}" for t, e in zip(tids, expids)]
    assert len(set(addresses)) == 5
    # here each target is in one exposure: TARGETID alone, ID, or the row read the same row
    for row, (t, e) in enumerate(zip(tids, expids)):
        whole = read_spectrum(addresses[row])
        for other in (f"TARGETID={t}", f"ID={t}", f"EXPID={e},TARGETID={t}", str(row)):
            np.testing.assert_array_equal(read_spectrum(f"{path}#{other}").flux, whole.flux)
    with pytest.raises(SpectrumFormatError, match=r"file holds 5 spectra: address one as "):
        read_spectrum(path)
    err = "EXPID=83734 names 5 spectra .row 0 TARGETID -2713437; row 1 TARGETID -2713415; "
    with pytest.raises(SpectrumFormatError, match=err):
        read_spectrum(f"{path}#EXPID=83734")
    with pytest.raises(SpectrumFormatError, match="no spectrum with TARGETID=-2713437,EXPID=1 "):
        read_spectrum(f"{path}#TARGETID=-2713437,EXPID=1")
    with pytest.raises(
        SpectrumFormatError, match=r"cannot select by 'FIBER' \(use TARGETID, EXPID\)"
    ):
        read_spectrum(f"{path}#FIBER=1566")


def test_desi_compressed_masks_decoded_as_astropy_reads_them(tmp_path):
    """The masks' RICE_1 tiles decoded from the heap give astropy's uint32 values; other
    compressions and tilings (read through astropy) and plain images give the same masks."""
    from vocloud.io.fitslayouts.base import _all_hdus
    from vocloud.io.fitslayouts.desi import _compressed_images, _rice_rows
    from vocloud.io.fitslayouts.detect import _locate

    buf = (REAL / SPECTRA).read_bytes()
    _, _, ext = _locate(buf, SPECTRA)
    hdus = _all_hdus(buf, ext, SPECTRA)
    starts = {b.index: a.next_start for a, b in pairwise(hdus)}
    masks = [h for h in hdus if str(h.header.get("EXTNAME")).endswith("_MASK")]
    assert all(_rice_rows(buf, h, SPECTRA) is not None for h in masks)  # the fast path
    got = _compressed_images(buf, masks, starts, SPECTRA)
    with _open(SPECTRA) as hdul:
        for h in masks:
            want = hdul[h.index].data
            assert got[h.index].dtype == want.dtype == np.uint32
            np.testing.assert_array_equal(got[h.index], want)
        assert {int(v) for h in masks for v in np.unique(got[h.index])} == {0, 1, 512, 513}
        variants = {
            "gzip": dict(compression_type="GZIP_1"),
            "tiles": dict(compression_type="RICE_1", tile_shape=(5, 2751)),
            "plain": None,
        }
        base = read_spectrum(f"{REAL / SPECTRA}#2")
        for name, how in variants.items():
            out = []
            for h in hdul:
                if h.name.endswith("_MASK"):
                    data = np.asarray(h.data)
                    h = (
                        fits.ImageHDU(data, name=h.name)
                        if how is None
                        else fits.CompImageHDU(data, name=h.name, **how)
                    )
                out.append(h if h.name.endswith("_MASK") else h.copy())
            path = tmp_path / f"{name}.fits"
            fits.HDUList(out).writeto(path)
            vbuf = path.read_bytes()
            vhdus = _all_hdus(vbuf, _locate(vbuf, name)[2], name)
            packed = [h for h in vhdus if h.xtension == "BINTABLE" and "ZIMAGE" in h.header]
            assert len(packed) == (0 if how is None else 3)
            assert all(_rice_rows(vbuf, h, name) is None for h in packed)  # astropy reads these
            for row in range(5):
                s = read_spectrum(f"{path}#{row}")
                want = np.concatenate([hdul[f"{a}_MASK"].data[row] != 0 for a in "BRZ"])
                np.testing.assert_array_equal(s.mask, want)
            np.testing.assert_array_equal(read_spectrum(f"{path}#2").good(), base.good())


def test_desi_spectra_file_damaged_gives_a_reason_never_a_raw_exception():
    from vocloud.io.read import read_many

    data = (REAL / SPECTRA).read_bytes()
    rng = np.random.default_rng(8)
    heap = data.index(b"B_MASK") // 2880 * 2880 + 2880  # the B mask's data: descriptors, tiles
    damaged = [data[:cut] for cut in (2880, 2880 * 3 + 100, heap + 8, heap + 100, len(data) - 1)]
    for _ in range(30):
        b = bytearray(data)
        for pos in rng.integers(heap, heap + 400, size=3):
            b[pos] = rng.integers(0, 256)
        damaged.append(bytes(b))
    for content in damaged:
        for s in read_many(content, [f"d#{r}" for r in range(5)], [str(r) for r in range(5)]):
            assert isinstance(s, SpectrumFormatError) or len(s.flux) == len(s.wavelength)


def _two_exposures(path: Path, second_expid: int = 83876) -> Path:
    """The real spectra file with each target in two exposures, as a whole healpix spectra file
    has them (the sv3-dark-26065 coadd lists target 39627866878514741 under EXPIDs 83734, 83876
    and 83877 in its EXP_FIBERMAP; specutils kept the rows of one exposure only). The second
    exposure's rows are the first's with EXPID ``second_expid`` and flux x 2, so a test can tell
    which row was read; masks stay tile-compressed."""
    warnings.simplefilter("ignore")
    with fits.open(REAL / SPECTRA) as hdul:
        fm = hdul["FIBERMAP"].data
        twice = fits.BinTableHDU.from_columns(hdul["FIBERMAP"].columns, nrows=10, name="FIBERMAP")
        for name in fm.names:
            twice.data[name][5:] = fm[name]
        twice.data["EXPID"][5:] = second_expid
        out = [fits.PrimaryHDU(header=hdul[0].header), twice, hdul["SCORES"].copy()]
        for a in "BRZ":
            f, iv, m = (hdul[f"{a}_{k}"].data for k in ("FLUX", "IVAR", "MASK"))
            out += [
                hdul[f"{a}_WAVELENGTH"].copy(),
                fits.ImageHDU(np.vstack([f, 2 * f]), name=f"{a}_FLUX"),
                fits.ImageHDU(np.vstack([iv, iv / 4]), name=f"{a}_IVAR"),
                fits.CompImageHDU(np.vstack([m, m]).astype(np.uint32), name=f"{a}_MASK"),
            ]
    fits.HDUList(out).writeto(path)
    return path


def test_desi_spectra_repeated_target_needs_its_exposure(tmp_path):
    """One TARGETID in several rows: each has its own address; TARGETID alone is refused
    naming the rows and exposures, never read as the first."""
    from vocloud.io.read import list_spectra
    from vocloud.run import tasks as chunks

    path = _two_exposures(tmp_path / "spectra-sv3-dark-26065-2exp.fits")
    with _open(SPECTRA) as hdul:
        tids = list(hdul["FIBERMAP"].data["TARGETID"])
    addresses = list_spectra(path)
    assert addresses == [f"{path}#TARGETID={t},EXPID={e}" for e in (83734, 83876) for t in tids]
    assert len(set(addresses)) == 10
    first, second = read_spectrum(addresses[2]), read_spectrum(addresses[7])
    assert (first.meta["EXPID"], second.meta["EXPID"]) == (83734, 83876)
    np.testing.assert_array_equal(second.flux, 2 * first.flux)
    np.testing.assert_array_equal(second.mask, first.mask)
    t = tids[2]
    msg = (
        f"TARGETID={t} names 2 spectra (row 2 EXPID 83734; row 7 EXPID 83876): "
        f"address one as #TARGETID={t},EXPID=<expid> or #<row>"
    )
    with pytest.raises(SpectrumFormatError) as info:
        read_spectrum(f"{path}#TARGETID={t}")
    assert info.value.reason == msg
    # in a task: the ambiguous address fails alone, the others read from one parse of the file
    block = [addresses[2], f"{path}#TARGETID={t}", addresses[7]]
    got = chunks.read_block(block, [None] * 3)
    assert isinstance(got[1], ValueError) and str(got[1]) == msg
    np.testing.assert_array_equal(got[0].flux, first.flux)
    np.testing.assert_array_equal(got[2].flux, second.flux)
    assert [got[0].source, got[2].source] == [addresses[2], addresses[7]]
    # a file whose ids do not tell its rows apart (one exposure twice) is listed by row
    same = _two_exposures(tmp_path / "same-exposure-twice.fits", second_expid=83734)
    assert list_spectra(same) == [f"{same}#{row}" for row in range(10)]
    with pytest.raises(
        SpectrumFormatError, match=r"names 2 spectra \(row 2; row 7\): address one as #<row>"
    ):
        read_spectrum(f"{same}#TARGETID={t},EXPID=83734")


def test_desi_spectra_file_read_once_per_task_and_preprocessed(monkeypatch):
    """A block of a file's addresses: the file opened and parsed once (``read_fits_many``), each
    spectrum its own row; then preprocessed on a grid inside the R arm."""
    from vocloud.io.read import list_spectra
    from vocloud.preprocess import PreprocessParams, preprocess_block
    from vocloud.run import tasks as chunks

    path = REAL / SPECTRA
    addresses = list_spectra(path)
    lamost = str(REAL / "lamost/spec-58397-EG014118N254444M01_sp03-031.fits")
    opened, parsed = [], []
    real_open, real_many = chunks._open_ahead, chunks.read_many
    monkeypatch.setattr(chunks, "_open_ahead", lambda p: opened.append(p) or real_open(p))
    monkeypatch.setattr(
        chunks,
        "read_many",
        lambda raw, names, *a, **k: parsed.append(names) or real_many(raw, names, *a, **k),
    )
    got = chunks.read_block([lamost, *addresses], [None] * 6)
    assert opened == [lamost, str(path)]
    assert parsed == [addresses]  # one parse for the file's five spectra
    rows = [_desi_rows(path, row) for row in range(5)]
    for s, want in zip(got[1:], rows):
        assert s.layout == "desi-spectra" and s.meta["EXPID"] == int(want["EXPID"])
        a, b = s.segments[1]
        np.testing.assert_array_equal(s.flux[a:b], want["R"][1])
    params = PreprocessParams.from_dict(
        {
            "cutout": {"center": 6560, "half_width": 150},
            "grid": {"start": 6420, "stop": 6700, "step": 0.8, "medium": "vacuum"},
            "continuum": False,
            "scale": None,
            "resample": "linear",
            "frame": "barycentric",  # DESI's own: recorded, not applied again
        }
    )
    res = preprocess_block(got[1:], params)
    assert res.error == [
        "no good pixels",
        "no good pixels",
        None,
        "no good pixels",
        "no good pixels",
    ]
    assert res.frame[2] == "barycentric (DESI pipeline)"
    w, f, iv, m = rows[2]["R"]
    grid = params.grid()
    i = np.searchsorted(w, grid - 1e-6)
    np.testing.assert_allclose(w[i], grid, atol=1e-6)  # the grid falls on R's pixels
    good = (m[i] == 0) & (iv[i] > 0)
    assert good.sum() > 300
    np.testing.assert_allclose(res.features[2, good], f[i][good], rtol=2e-6, atol=1e-5)


# ------------------------------------------------------------------------------------ Ondrejov
@pytest.mark.parametrize("name", ["ondrejov/bt-cmi-ondrejov.fits", "ondrejov/ud090015.fits"])
def test_ondrejov_ssa(name):
    with _open(name) as hdul:
        t = hdul[1].data
        wave, flux = t["spectral"], t["flux"]
        assert "asu.cas.cz" in hdul[1].header["DS_IDPUB"]
        assert hdul[1].header.comments["TTYPE1"] == "Air wavelength"
    s = read_spectrum(REAL / name)
    assert s.layout == "ondrejov-ssa" and s.medium == "air"
    _check(s, wave, flux)
    assert 6280 < s.wavelength_aa[0] and s.wavelength_aa[-1] < 6735


# ------------------------------------------------------------------------------------ IRAF, ESO
def _spec_numbers(header, aperture):
    wat2 = "".join(
        str(header[k]).ljust(68) for k in sorted(k for k in header if k.startswith("WAT2_"))
    )
    return [float(x) for x in re.search(rf'spec{aperture}\s*=\s*"([^"]*)"', wat2).group(1).split()]


def test_iraf_multispec_linear_echelle():
    name = "iraf/evega.0039.rs.ec.dispcor.fits"
    with _open(name) as hdul:
        h, d = hdul[0].header, hdul[0].data
    norders, npix = d.shape
    s = read_spectrum(REAL / name)
    assert s.layout == "iraf-multispec" and s.medium == "air" and len(s.segments) == norders
    for ap in (1, 50, norders):
        num = _spec_numbers(h, ap)
        assert num[2] == 0  # dtype linear
        wave = (num[3] + num[4] * np.arange(npix)) / (1 + num[6])
        a, b = s.segments[ap - 1]
        order = np.argsort(wave)
        np.testing.assert_allclose(s.wavelength_aa[a:b], wave[order], rtol=1e-12)
        np.testing.assert_array_equal(s.flux[a:b], d[ap - 1][order])


def test_iraf_multispec_legendre_echelle():
    name = "iraf/TRES.fits"
    with _open(name) as hdul:
        h, d = hdul[0].header, hdul[0].data
    s = read_spectrum(REAL / name)
    assert s.layout == "iraf-multispec" and len(s.segments) == d.shape[0]
    num = _spec_numbers(h, 1)
    assert num[2] == 2 and num[11] == 2  # dtype 2 (non-linear), function 2: Legendre
    order, pmin, pmax = int(num[12]), num[13], num[14]
    p = np.arange(1, d.shape[1] + 1)
    x = (2 * p - (pmax + pmin)) / (pmax - pmin)
    # Legendre polynomials by their recurrence, written out
    t = [np.ones_like(x), x]
    while len(t) < order:
        k = len(t) - 1
        t.append(((2 * k + 1) * x * t[-1] - k * t[-2]) / (k + 1))
    wave = num[9] * (num[10] + sum(c * tk for c, tk in zip(num[15 : 15 + order], t)))
    a, b = s.segments[0]
    np.testing.assert_allclose(s.wavelength_aa[a:b], np.sort(wave), rtol=1e-12)
    assert abs(s.wavelength_aa[a] - num[3]) < 1e-6  # w1 of spec1 is the first wavelength


def test_iraf_1d_log_and_linear():
    with _open("iraf/UM669_nF.fits") as hdul:
        h, flux = hdul[0].header, hdul[0].data
        wave = 10 ** (h["CRVAL1"] + h["CDELT1"] * np.arange(len(flux)))
    s = read_spectrum(REAL / "iraf/UM669_nF.fits")
    assert s.layout == "iraf-log" and s.medium == "air"
    _check(s, wave, flux, rtol_wave=1e-10)
    with _open("iraf/L5g_0355+11_Cruz09.fits") as hdul:
        h, flux = hdul[0].header, hdul[0].data
        wave = h["CRVAL1"] + h["CDELT1"] * np.arange(len(flux))
    s = read_spectrum(REAL / "iraf/L5g_0355+11_Cruz09.fits")
    assert s.layout == "iraf-linear"
    _check(s, wave, flux)


def test_harps_s1d_unit_in_ctype():
    name = "eso/HARPS.2006-09-08T02_12_38.604_s1d_A.fits"
    with _open(name) as hdul:
        h, flux = hdul[0].header, hdul[0].data
        assert h["CTYPE1"] == "Angstrom" and h["INSTRUME"] == "HARPS"
        wave = h["CRVAL1"] + h["CDELT1"] * (np.arange(len(flux)) + 1 - h["CRPIX1"])
    s = read_spectrum(REAL / name)
    assert s.layout == "iraf-linear" and s.medium == "air"
    _check(s, wave, flux)


def test_uves_unit_in_ctype():
    name = "eso/UVES.fits"
    with _open(name) as hdul:
        h, flux = hdul[0].header, hdul[0].data
        assert h["CTYPE1"] == "WAVELENGTH [Ang]" and h["INSTRUME"] == "UVES"
        assert "CUNIT1" not in h
        wave = h["CRVAL1"] + h["CDELT1"] * (np.arange(len(flux)) + 1 - h["CRPIX1"])
    s = read_spectrum(REAL / name)
    assert s.layout == "iraf-linear" and s.medium == "air"
    _check(s, wave, flux)


# ------------------------------------------------------------------------------------ others
def test_hst_x1d_orders():
    name = "hst/odbue5030_x1d.fits"
    with _open(name) as hdul:
        t = hdul[1].data
        sdq = hdul[1].header["SDQFLAGS"]
        wave = np.concatenate([np.sort(r["WAVELENGTH"]) for r in t])
        rows = [np.argsort(r["WAVELENGTH"]) for r in t]
        flux = np.concatenate([r["FLUX"][o] for r, o in zip(t, rows)])
        err = np.concatenate([r["ERROR"][o] for r, o in zip(t, rows)])
        mask = np.concatenate([(r["DQ"][o] & sdq) != 0 for r, o in zip(t, rows)])
    s = read_spectrum(REAL / name)
    assert s.layout == "hst-x1d" and s.medium == "vacuum" and len(s.segments) == len(t)
    ivar = np.where(err > 0, 1 / np.where(err > 0, err.astype(np.float64), 1) ** 2, 0)
    _check(s, wave, flux.astype(np.float64), ivar, mask)


def test_deep2_spec1d():
    name = "deep2/spec1d.1245.066.12004136.fits"
    with _open(name) as hdul:
        parts = [hdul["Bxspf-B"].data[0], hdul["Bxspf-R"].data[0]]
    wave = np.concatenate([p["LAMBDA"] for p in parts]).astype(np.float64)
    flux = np.concatenate([p["SPEC"] for p in parts]).astype(np.float64)
    ivar = np.concatenate([p["IVAR"] for p in parts])
    s = read_spectrum(REAL / name)
    assert s.layout == "deep2-spec1d" and s.medium == "air" and len(s.segments) == 2
    _check(s, wave, flux, ivar, rtol_wave=1e-7)


def test_spextool_merged_image():
    name = "spex/BD60596_merged.fits"
    with _open(name) as hdul:
        h, d = hdul[0].header, hdul[0].data
        assert h["XUNITS"].strip() == "um"
    ok = np.isfinite(d[0])
    s = read_spectrum(REAL / name)
    assert s.layout == "spex-merged" and s.medium is None
    err = d[2][ok].astype(np.float64)
    ivar = np.where(err > 0, 1 / np.where(err > 0, err, 1) ** 2, 0)
    _check(s, d[0][ok] * 1e4, d[1][ok], ivar, rtol_wave=1e-7)


def test_radio_velocity_axis_converted_with_rest_frequency(tmp_path):
    name = "radio/gbt_1d.fits"
    with _open(name) as hdul:
        h, flux = hdul[0].header, hdul[0].data
        v = (h["CRVAL1"] + h["CDELT1"] * (np.arange(len(flux)) + 1 - h["CRPIX1"])) * 1e3  # m/s
        nu = h["RESTFRQ"] * (1 - v / C_MS)  # radio convention
        wave = C_MS / nu * 1e10
    s = read_spectrum(REAL / name)
    _check(s, wave, flux, rtol_wave=1e-12)
    # the same file without its rest frequency cannot be converted: refused with the reason
    hdu = fits.PrimaryHDU(flux, header=h)
    del hdu.header["RESTFRQ"]
    hdu.writeto(tmp_path / "norest.fits", output_verify="ignore")
    with pytest.raises(SpectrumFormatError, match="velocity axis VRAD without a rest value"):
        read_spectrum(tmp_path / "norest.fits")
    # a FREQ axis of offsets from the rest frequency is refused, never read as Angstrom
    hdu = fits.PrimaryHDU(flux, header=h)
    hdu.header.update(CTYPE1="FREQ", CUNIT1="Hz", CRVAL1=0.0, CDELT1=-12207.0, CRPIX1=2049.0)
    hdu.writeto(tmp_path / "offsets.fits", output_verify="ignore")
    with pytest.raises(SpectrumFormatError, match=r"FREQ has values <= 0 \(offsets"):
        read_spectrum(tmp_path / "offsets.fits")
    hdu.header.update(CRVAL1=h["RESTFRQ"])  # absolute frequencies convert
    hdu.writeto(tmp_path / "freq.fits", output_verify="ignore")
    w = read_spectrum(tmp_path / "freq.fits").wavelength_aa
    f = h["RESTFRQ"] - 12207.0 * (np.arange(len(flux)) + 1 - 2049.0)
    np.testing.assert_allclose(w, C_MS / f * 1e10, rtol=1e-12)


def test_desi_file_listed_by_target_and_read_once_per_task(monkeypatch):
    from vocloud.io.read import list_spectra
    from vocloud.run import tasks as chunks

    name = REAL / "desi/coadd-5-169-thru20210419.fits"
    with _open("desi/coadd-5-169-thru20210419.fits") as hdul:
        tids = list(hdul["FIBERMAP"].data["TARGETID"])
        r_flux = hdul["R_FLUX"].data
    addresses = list_spectra(name)
    assert addresses == [f"{name}#TARGETID={t}" for t in tids]
    assert list_spectra(REAL / "sdss/sample_sdss.fits") == [str(REAL / "sdss/sample_sdss.fits")]
    opened = []
    real_open = chunks._open_ahead
    monkeypatch.setattr(chunks, "_open_ahead", lambda p: opened.append(p) or real_open(p))
    paths = [str(REAL / "lamost/spec-58397-EG014118N254444M01_sp03-031.fits"), *addresses]
    got = chunks.read_block(paths, [None] * len(paths))
    assert opened == [paths[0], str(name)]  # the DESI file is opened and read once
    for row, s in enumerate(got[1:]):
        assert s.meta["TARGETID"] == tids[row]
        a, b = s.segments[1]
        np.testing.assert_array_equal(s.flux[a:b], r_flux[row])


# ------------------------------------------------------------------------------------ specutils
def test_specutils_fallback_reads_what_it_knows():
    pytest.importorskip("specutils")
    from vocloud.io.fallback import read_with_specutils

    name = "sdss/spec-1325-52762-0133.fits"
    with _open(name) as hdul:
        c = hdul["COADD"].data
        wave = 10 ** c["loglam"].astype(np.float64)
        flux, ivar = c["flux"], c["ivar"]
    s = read_with_specutils((REAL / name).read_bytes(), name)
    assert s.layout == "specutils:SDSS-III/IV spec"
    _check(s, wave, flux.astype(s.flux.dtype), ivar, rtol_wave=1e-6)
    name = "radio/gbt_1d.fits"
    with _open(name) as hdul:
        h, flux = hdul[0].header, hdul[0].data
        v = (h["CRVAL1"] + h["CDELT1"] * (np.arange(len(flux)) + 1 - h["CRPIX1"])) * 1e3
        wave = C_MS / (h["RESTFRQ"] * (1 - v / C_MS)) * 1e10
    s = read_with_specutils((REAL / name).read_bytes(), name)
    assert s.layout == "specutils:wcs1d-fits"
    _check(s, wave, flux, rtol_wave=1e-9)


def test_unknown_or_unsupported_file_gets_both_reasons():
    pytest.importorskip("specutils")
    with pytest.raises(SpectrumFormatError) as info:
        read_spectrum(REAL / "iraf/spline.fits")
    assert info.value.reason == (
        "multispec aperture 1: dispersion function type 3 (cubic spline) is not supported; "
        "specutils: iraf: NotImplementedError: Cubic spline is not implemented"
    )


def test_desi_group_with_a_bad_address_spoils_no_other():
    from vocloud.io.read import list_spectra
    from vocloud.run import tasks as chunks

    name = REAL / "desi/coadd-5-169-thru20210419.fits"
    good = list_spectra(name)
    paths = [good[0], f"{name}#TARGETID=7", good[4]]
    got = chunks.read_block(paths, [None] * 3)
    assert got[0].meta["TARGETID"] == int(good[0].rpartition("=")[2])
    assert isinstance(got[1], ValueError) and str(got[1]) == "no TARGETID 7 in the file"
    assert got[2].meta["TARGETID"] == int(good[4].rpartition("=")[2])
    assert got[2].source == good[4]


# ------------------------------------------------------------------------------------ ESO SDP
def test_eso_sdp_spectrum_v2_xshooter(tmp_path):
    name = "eso/XQ100_J0003-2603_vis.fits"
    with _open(name) as hdul:
        h1 = hdul[1].header
        assert h1["VOCLASS"] == "SPECTRUM V2.0" and h1["TUNIT1"] == "nm"
        assert h1["TUCD1"] == "em.wl"  # bare em.wl: vacuum (ESO convention; XQ-100 is vacuum)
        t = hdul[1].data
        wave = t["WAVE"][0].astype(np.float64) * 10.0  # nm -> A
        flux = t["FLUX"][0]  # TUTYP2 spec:Data.FluxAxis.Value: the default flux
        err = t["ERR_FLUX"][0].astype(np.float64)  # spec:...StatError, same namespace
        assert h1["TUTYP5"].startswith("eso:")  # FLUX_TELL_CORR is not the default flux
        ivar = np.where(err > 0, 1 / np.where(err > 0, err, 1) ** 2, 0)
    s = read_spectrum(REAL / name)
    assert s.layout == "eso-sdp" and s.medium == "vacuum"
    _check(s, wave, flux, ivar, rtol_wave=1e-6)
    assert s.meta["SPECSYS"] == "HELIOCEN" and s.meta["TMID"] > 56219
    from vocloud.preprocess.frame import barycentric_velocity

    assert barycentric_velocity(s.meta, s.layout) == (0.0, "heliocentric (SPECSYS = HELIOCEN)")
    # the same file with air wavelengths declared the ESO way
    with _open(name) as hdul:
        hdul[1].header["TUCD1"] = "em.wl;obs.atmos"
        hdul.writeto(tmp_path / "air.fits", output_verify="ignore")
    assert read_spectrum(tmp_path / "air.fits").medium == "air"


# ------------------------------------------------------------------------------------ spPlate
# No spPlate is public (PROVENANCE.md, "not found"): real_layouts.write_spplate writes the real
# coadd of plate 1325, fibre 133 as fibre 133 of a 3-fibre plate, fibres 132 and 134 empty.


def test_sdss_spplate_by_fiberid(tmp_path):
    from vocloud.io.read import list_spectra

    path = tmp_path / "spPlate-1325-52762.fits"
    write_spplate(path)
    with _open("sdss/spec-1325-52762-0133.fits") as hdul:  # the source
        c = hdul["COADD"].data
        loglam = c["loglam"].astype(np.float64)
        coadd = {"flux": c["flux"], "ivar": c["ivar"], "and_mask": c["and_mask"]}
    with _open(path) as hdul:  # the plate written, read with astropy
        h = hdul[0].header
        row = hdul["PLUGMAP"].data["FIBERID"].tolist().index(133)
        flux, ivar, andm = (hdul[k].data[row] for k in (0, "IVAR", "ANDMASK"))
    wave = 10 ** (h["COEFF0"] + h["COEFF1"] * np.arange(h["NAXIS1"]))
    first = round(float((loglam[0] - h["COEFF0"]) / h["COEFF1"]))  # on the plate grid
    for got, key in ((flux, "flux"), (ivar, "ivar"), (andm, "and_mask")):
        np.testing.assert_array_equal(got[first : first + len(loglam)], coadd[key])
    assert list_spectra(path) == [f"{path}#FIBERID={f}" for f in (132, 133, 134)]
    s = read_spectrum(f"{path}#FIBERID=133")
    assert s.layout == "sdss-spplate" and s.medium == "vacuum"
    assert s.meta["FIBERID"] == 133 and s.meta["OBJTYPE"] == "QSO" and s.meta["PLATEID"] == 1325
    bad = (ivar == 0) | ((andm & SDSS_BAD) != 0)
    _check(s, wave, flux, ivar, (andm & SDSS_BAD) != 0)
    assert (~s.good() == bad).all()
    # the plate's wavelengths are the coadd's own (its loglam, float32, from the plate grid)
    np.testing.assert_allclose(s.wavelength_aa[first : first + len(loglam)], 10**loglam, rtol=3e-7)
    np.testing.assert_array_equal(read_spectrum(f"{path}#1").flux, s.flux)
    with pytest.raises(SpectrumFormatError, match="file holds 3 spectra: address one as"):
        read_spectrum(path)
    with pytest.raises(SpectrumFormatError, match="no FIBERID 7 in the file"):
        read_spectrum(f"{path}#FIBERID=7")
    assert read_spectrum(f"{path}#FIBERID=132").good().sum() == 0
    # older spPlates name no HDU: IVAR and ANDMASK are HDUs 1 and 2
    with _open(path) as hdul:
        for i in (1, 2):
            del hdul[i].header["EXTNAME"]
        hdul.writeto(tmp_path / "old.fits", output_verify="ignore")
    old = read_spectrum(f"{tmp_path / 'old.fits'}#FIBERID=133")
    assert old.layout == "sdss-spplate"
    np.testing.assert_array_equal(old.ivar, s.ivar)
    np.testing.assert_array_equal(old.mask, s.mask)


def test_sdss_spplate_read_once_per_task(tmp_path, monkeypatch):
    from vocloud.io.read import list_spectra
    from vocloud.run import tasks as chunks

    path = tmp_path / "spPlate-1325-52762.fits"
    write_spplate(path)
    addresses = list_spectra(path)
    opened = []
    real_open = chunks._open_ahead
    monkeypatch.setattr(chunks, "_open_ahead", lambda p: opened.append(p) or real_open(p))
    got = chunks.read_block(addresses, [None] * 3)
    assert opened == [str(path)]
    assert [g.meta["FIBERID"] for g in got] == [132, 133, 134]


@pytest.mark.parametrize("kind", ["spplate", "desi"])
def test_file_of_many_mapped_reads_as_read(tmp_path, monkeypatch, kind):
    """A file of many spectra mapped (``MAP_MIN_SIZE``) gives the spectra its bytes give."""
    import mmap

    from vocloud.io.read import list_spectra, read_many
    from vocloud.run import tasks as chunks

    if kind == "spplate":
        path = tmp_path / "spPlate-1325-52762.fits"
        write_spplate(path)
    else:
        path = REAL / "desi/coadd-5-169-thru20210419.fits"
    addresses = list_spectra(path)
    want = chunks.read_block(addresses, [None] * len(addresses))  # under MAP_MIN_SIZE: read
    maps = []
    real_many = chunks.read_many
    monkeypatch.setattr(chunks, "MAP_MIN_SIZE", 0)
    monkeypatch.setattr(
        chunks, "read_many", lambda buf, *a, **k: maps.append(type(buf)) or real_many(buf, *a, **k)
    )
    got = chunks.read_block(addresses, [None] * len(addresses))
    assert maps == [mmap.mmap]
    assert read_many is real_many
    for w, g in zip(want, got, strict=True):
        assert g.meta == w.meta and g.layout == w.layout
        np.testing.assert_array_equal(g.wavelength, w.wavelength)
        np.testing.assert_array_equal(g.flux, w.flux)
        np.testing.assert_array_equal(g.ivar, w.ivar)
        np.testing.assert_array_equal(g.mask, w.mask)


# ------------------------------------------------------------------------------------ orders
def _legendre(num, p):
    """Wavelengths of one dtype-2 Legendre ``specN`` at pixels ``p``, by the recurrence."""
    order, pmin, pmax = int(num[12]), num[13], num[14]
    x = (2 * p - (pmax + pmin)) / (pmax - pmin)
    t = [np.ones_like(x), x]
    while len(t) < order:
        k = len(t) - 1
        t.append(((2 * k + 1) * x * t[-1] - k * t[-2]) / (k + 1))
    return num[9] * (num[10] + sum(c * tk for c, tk in zip(num[15 : 15 + order], t)))


def test_echelle_orders_addressed_by_beam_linear():
    from vocloud.io.read import list_spectra

    path = REAL / "iraf/evega.0039.rs.ec.dispcor.fits"
    with _open("iraf/evega.0039.rs.ec.dispcor.fits") as hdul:
        h, d = hdul[0].header, hdul[0].data
    nums = [_spec_numbers(h, ap) for ap in range(1, d.shape[0] + 1)]
    beams = [int(n[1]) for n in nums]
    assert beams == list(range(56, 163))  # the echelle orders m, one per image row
    addresses = list_spectra(path, by="order")
    assert addresses == [f"{path}#ORDER={m}" for m in beams]
    assert list_spectra(path) == [str(path)]  # by spectrum: the whole echelle is one
    for row in (0, 61, len(beams) - 1):
        num = nums[row]
        w1, dw, nw = num[3], num[4], int(num[5])
        s = read_spectrum(addresses[row])
        assert s.source == addresses[row] and s.layout == "iraf-multispec"
        assert s.meta["ORDER"] == beams[row] and s.meta["APERTURE"] == int(num[0]) == row + 1
        assert len(s) == nw and s.segments == ((0, nw),) and s.medium == "air"
        np.testing.assert_allclose(s.wavelength_aa[[0, -1]], [w1, w1 + (nw - 1) * dw], rtol=1e-12)
        idx = [0, 1, nw // 2, nw - 1]
        np.testing.assert_array_equal(s.flux[idx], d[row][idx])
        np.testing.assert_array_equal(s.flux, d[row][:nw])
    with pytest.raises(SpectrumFormatError) as info:
        read_spectrum(f"{path}#ORDER=5")
    assert (
        info.value.reason == f"no ORDER 5 in the file (it holds orders {min(beams)}-{max(beams)})"
    )
    # the row of an order is an address too (row 61 is order 117)
    assert read_spectrum(f"{path}#61").meta["ORDER"] == 117


def test_echelle_orders_addressed_by_beam_legendre():
    from vocloud.io.read import list_spectra

    path = REAL / "iraf/TRES.fits"
    with _open("iraf/TRES.fits") as hdul:
        h, d = hdul[0].header, hdul[0].data
    nums = [_spec_numbers(h, ap) for ap in range(1, d.shape[0] + 1)]
    beams = [int(n[1]) for n in nums]
    assert beams == list(range(88, 37, -1))  # blue to red: the order number falls
    assert list_spectra(path, by="order") == [f"{path}#ORDER={m}" for m in beams]
    p = np.arange(1, d.shape[1] + 1, dtype=np.float64)
    for row in (0, 30):
        wave = _legendre(nums[row], p)
        s = read_spectrum(f"{path}#ORDER={beams[row]}")
        assert s.meta["ORDER"] == beams[row] and len(s) == d.shape[1]
        o = np.argsort(wave)
        np.testing.assert_allclose(s.wavelength_aa[[0, -1]], wave[o][[0, -1]], rtol=1e-12)
        np.testing.assert_array_equal(s.flux[[0, 100, -1]], d[row][o][[0, 100, -1]])
    with pytest.raises(
        SpectrumFormatError, match=r"no ORDER 89 in the file \(it holds orders 38-88\)"
    ):
        read_spectrum(f"{path}#ORDER=89")


def test_hst_x1d_orders_addressed_by_sporder():
    from vocloud.io.read import list_spectra

    path = REAL / "hst/odbue5030_x1d.fits"
    with _open("hst/odbue5030_x1d.fits") as hdul:
        t = hdul[1].data
        sporder = [int(x) for x in t["SPORDER"]]
        rows = [(r["WAVELENGTH"].astype(np.float64), r["FLUX"], int(r["NELEM"])) for r in t]
    assert list_spectra(path, by="order") == [f"{path}#ORDER={m}" for m in sporder]
    assert list_spectra(path) == [str(path)]
    for m, (wave, flux, n) in zip(sporder, rows):
        s = read_spectrum(f"{path}#ORDER={m}")
        assert s.meta["ORDER"] == m and s.layout == "hst-x1d" and s.medium == "vacuum"
        assert len(s) == n and s.segments == ((0, n),)
        o = np.argsort(wave[:n], kind="stable")
        np.testing.assert_allclose(s.wavelength_aa[[0, -1]], wave[o][[0, -1]], rtol=1e-12)
        np.testing.assert_array_equal(s.flux[[0, 10, n - 1]], flux[o][[0, 10, n - 1]])
    with pytest.raises(
        SpectrumFormatError, match=r"no ORDER 86 in the file \(it holds orders 87-90\)"
    ):
        read_spectrum(f"{path}#ORDER=86")


def test_echelle_orders_read_once_per_task(monkeypatch):
    from vocloud.io.fitslayouts import address
    from vocloud.io.read import list_spectra
    from vocloud.run import tasks as chunks

    path = REAL / "iraf/evega.0039.rs.ec.dispcor.fits"
    x1d = REAL / "hst/odbue5030_x1d.fits"
    with _open("iraf/evega.0039.rs.ec.dispcor.fits") as hdul:
        d = hdul[0].data
    opened, parsed = [], []
    real_open, real_parse = chunks._open_ahead, address._multispec
    monkeypatch.setattr(chunks, "_open_ahead", lambda p: opened.append(p) or real_open(p))
    monkeypatch.setattr(
        address, "_multispec", lambda *a, **k: parsed.append(a[2]) or real_parse(*a, **k)
    )
    paths = [*list_spectra(path, by="order")[:4], f"{path}#ORDER=3", *list_spectra(x1d, by="order")]
    got = chunks.read_block(paths, [None] * len(paths))
    assert opened == [str(path), str(x1d)] and parsed == [str(path)]
    for row in range(4):
        np.testing.assert_array_equal(got[row].flux, d[row])
    assert str(got[4]) == "no ORDER 3 in the file (it holds orders 56-162)"  # spoils no other
    assert [s.meta["ORDER"] for s in got[5:]] == [87, 88, 89, 90]


def test_an_address_on_a_file_of_one_spectrum_is_refused():
    with pytest.raises(SpectrumFormatError) as info:
        read_spectrum(f"{REAL / 'iraf/UM669_nF.fits'}#ORDER=3")
    assert (
        info.value.reason
        == "file holds one spectrum (layout iraf-log): there is no spectrum #ORDER=3"
    )


def test_multifibre_beams_that_repeat_are_no_order_numbers(tmp_path):
    """IRAF's beam tells object, sky and arc apart in multi-fibre files: beams that repeat are not
    order numbers, so the file's spectra are listed by row and an ORDER naming several fails."""
    from vocloud.io.read import list_spectra

    with _open("iraf/TRES.fits") as hdul:
        h = hdul[0].header
        keys = sorted(k for k in h if k.startswith("WAT2_"))
        wat2 = "".join(str(h[k]).ljust(68) for k in keys)
        wat2 = re.sub(r'(spec\d+ = "\d+) \d+ ', r"\1 1 ", wat2)  # every beam 1
        parts = [wat2[i : i + 68] for i in range(0, len(wat2), 68)]
        for i, key in enumerate(keys):
            h[key] = parts[i] if i < len(parts) else ""
        hdul.writeto(tmp_path / "fibres.fits", output_verify="ignore")
        d = hdul[0].data
    path = tmp_path / "fibres.fits"
    assert {int(n[1]) for n in (_spec_numbers(h, ap) for ap in range(1, 52))} == {1}
    assert list_spectra(path, by="order") == [f"{path}#{row}" for row in range(d.shape[0])]
    np.testing.assert_array_equal(read_spectrum(f"{path}#7").flux[[0, -1]], d[7][[0, -1]])
    with pytest.raises(SpectrumFormatError, match=r"ORDER=1 names 51 spectra \(row 0"):
        read_spectrum(f"{path}#ORDER=1")


# ------------------------------------------------------------------------------------ CRIRES+
#: no extracted spectrum written by cr2res is in any public repository searched (PROVENANCE.md,
#: "ESO CRIRES+"). real_layouts.write_crires writes the EXTRACT_1D table cr2res makes from a real
#: cr2res product (a trace-wave table of setting J1228, written by cr2res 0.9.3: the real headers,
#: the real orders and traces of each detector -- order index 1 is not on detector 3 -- and the
#: real wavelength solutions), the flux of each (order, detector) a real ARCES echelle order.
CRIRES_ZP = 42  # the TW file's ESO INS GRAT1 ZP_ORD: order indices 1-9 are orders 42-50
CRIRES_INDICES = range(1, 10)


def _crires_detectors(idx: int) -> list[int]:
    """The detectors order index ``idx`` has a trace-1 segment on (index 1 is not on detector
    3 in the TW file; the failed trace is none)."""
    return [d for d in (1, 2, 3) if (idx, d) != CRIRES_FAILED and not (idx == 1 and d == 3)]


def _crires_source() -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """The sources read here with astropy: ``{(index, detector): (λ nm, flux)}`` of each trace 1
    of the TW table (its ``Wavelength`` polynomial at pixels 1-2048, as cr2res_trace_get_wl
    fills it) and the ARCES order written as its flux, 3 (index - 1) + detector - 1."""
    with _open("iraf/evega.0039.rs.ec.dispcor.fits") as hdul:
        arces = np.asarray(hdul[0].data, dtype=np.float64)
    out = {}
    with _open("crires/cr2res_util_calib_calibrated_collapsed_extr1D_tw.fits") as hdul:
        for det in (1, 2, 3):
            t = hdul[f"CHIP{det}.INT1"].data
            for o, tr, coef in zip(t["Order"], t["TraceNb"], t["Wavelength"]):
                if tr == 1:
                    wl = np.polynomial.polynomial.polyval(np.arange(1.0, 2049.0), coef)
                    out[int(o), det] = wl, arces[3 * (int(o) - 1) + det - 1]
    return out


def _crires_astropy(path: Path, idx: int, det: int) -> tuple[np.ndarray, ...]:
    """Independent reading of one (order, detector) trace-1 column set with astropy: Å sorted,
    flux, ivar = 1/ERR², bad = NaN flux or ERR not positive."""
    with _open(path) as hdul:
        t = hdul[f"CHIP{det}.INT1"].data
        wl, spec, err = (
            np.asarray(t[f"{idx:02d}_01_{k}"], np.float64) for k in ("WL", "SPEC", "ERR")
        )
    o = np.argsort(wl, kind="stable")
    wl, spec, err = wl[o] * 10.0, spec[o], err[o]
    ok = np.isfinite(err) & (err > 0)
    ivar = np.where(ok, 1.0 / np.where(ok, err, 1.0) ** 2, 0.0)
    return wl, spec, ivar, ~np.isfinite(spec) | ~ok


def test_crires_extracted_every_order_and_detector_as_segments(tmp_path):
    from vocloud.io.fitslayouts import detect_fits_layout
    from vocloud.io.read import list_spectra

    path = tmp_path / "cr2res_obs_nodding_extractedA.fits"
    write_crires(path)
    assert detect_fits_layout(path.read_bytes()) == "crires-extracted"
    s = read_spectrum(path)
    assert s.layout == "crires-extracted" and s.medium == "vacuum"
    source = _crires_source()
    parts = sorted((k for k in source if k != CRIRES_FAILED), key=lambda k: source[k][0][0])
    assert len(s.segments) == len(parts) == 9 + 9 + 8 - 1  # the failed trace is no segment
    for (a, b), (idx, det) in zip(s.segments, parts):
        wl, spec, ivar, bad = _crires_astropy(path, idx, det)
        # the file holds the sources' values (NaN where the extraction left bad pixels)
        o = np.argsort(source[idx, det][0], kind="stable")
        np.testing.assert_array_equal(wl, source[idx, det][0][o] * 10.0)
        ok = np.isfinite(spec)
        np.testing.assert_array_equal(spec[ok], source[idx, det][1][o][ok])
        assert b - a == 2048
        np.testing.assert_allclose(s.wavelength_aa[[a, b - 1]], wl[[0, -1]], rtol=1e-12)
        np.testing.assert_allclose(s.wavelength_aa[a:b], wl, rtol=1e-12)
        np.testing.assert_array_equal(s.flux[a:b], spec)
        np.testing.assert_allclose(s.ivar[a:b], ivar, rtol=1e-12)
        np.testing.assert_array_equal(s.mask[a:b], bad)
        assert (~s.good()[a:b] == bad).all()
    assert np.all(np.diff([s.wavelength_aa[a] for a, _ in s.segments]) > 0)
    assert s.meta["INSTRUME"] == "CRIRES" and s.meta["ESO PRO CATG"] == "OBS_NODDING_EXTRACTA"
    assert s.meta["ESO INS WLEN ID"] == "J1228" and s.meta["ESO INS GRAT1 ZP_ORD"] == CRIRES_ZP
    # the real solutions: an order crosses detectors 1-3 to the red, a higher index is bluer
    wl = {k: v[0] for k, v in source.items() if k != CRIRES_FAILED}
    assert wl[4, 1][-1] < wl[4, 2][0] and wl[4, 2][-1] < wl[4, 3][0]
    assert all(wl[i + 1, 2][-1] < wl[i, 2][0] for i in range(1, 9))
    # by order: the echelle orders ESO QC REALORDERn names, ZP_ORD + index - 1
    orders = [CRIRES_ZP + i - 1 for i in CRIRES_INDICES]
    assert list_spectra(path, by="order") == [f"{path}#ORDER={m}" for m in orders]
    assert list_spectra(path) == [str(path)]


def test_crires_extracted_one_order_is_its_detectors(tmp_path):
    path = tmp_path / "cr2res_obs_nodding_extractedA.fits"
    write_crires(path)
    for idx in CRIRES_INDICES:
        m = CRIRES_ZP + idx - 1
        s = read_spectrum(f"{path}#ORDER={m}")
        dets = _crires_detectors(idx)
        assert s.meta["ORDER"] == m and s.meta["TRACE"] == 1 and s.meta["ORDER_INDEX"] == idx
        assert s.segments == tuple((2048 * i, 2048 * (i + 1)) for i in range(len(dets)))
        for (a, b), det in zip(s.segments, dets):
            wl, spec, ivar, bad = _crires_astropy(path, idx, det)
            np.testing.assert_allclose(s.wavelength_aa[a:b], wl, rtol=1e-12)
            np.testing.assert_array_equal(s.flux[a:b], spec)
            np.testing.assert_allclose(s.ivar[a:b], ivar, rtol=1e-12)
            np.testing.assert_array_equal(s.mask[a:b], bad)
    # trace 1 is read, never the order's trace 2
    idx, det = CRIRES_SECOND_TRACE
    with _open(path) as hdul:
        t2 = hdul[f"CHIP{det}.INT1"].data
        wl2, spec2 = t2[f"{idx:02d}_02_WL"], t2[f"{idx:02d}_02_SPEC"]
    one = read_spectrum(f"{path}#ORDER={CRIRES_ZP + idx - 1}")
    a, b = one.segments[det - 1]
    assert one.wavelength_aa[a] != pytest.approx(wl2.min() * 10, rel=1e-6)
    assert not np.array_equal(one.flux[a:b], spec2[np.argsort(wl2)])
    assert read_spectrum(f"{path}#1").meta["ORDER"] == CRIRES_ZP + 1  # row 1: index 2
    with pytest.raises(SpectrumFormatError) as info:
        read_spectrum(f"{path}#ORDER=5")
    assert info.value.reason == "no ORDER 5 in the file (it holds orders 42-50)"


def test_crires_extracted_without_real_orders_or_a_detector(tmp_path):
    from vocloud.io.read import list_spectra

    # no ORDER_ZP known to the pipeline: no REALORDER keys, the order index is the number
    plain = tmp_path / "cr2res_obs_staring_extracted.fits"
    write_crires(plain, real_orders=False)
    assert list_spectra(plain, by="order") == [f"{plain}#ORDER={i}" for i in CRIRES_INDICES]
    assert read_spectrum(f"{plain}#ORDER=2").meta["ORDER"] == 2
    # detector 1 not reduced: HDU 1 is a header without a table, still this layout
    gap = tmp_path / "gap.fits"
    write_crires(gap, skip_detector=1)
    s = read_spectrum(f"{gap}#ORDER=43")
    assert s.layout == "crires-extracted" and len(s.segments) == 2
    wl, spec, _, _ = _crires_astropy(gap, 2, 2)
    np.testing.assert_allclose(s.wavelength_aa[:2048], wl, rtol=1e-12)
    np.testing.assert_array_equal(s.flux[:2048], spec)
    assert len(read_spectrum(gap).segments) == 9 + 8 - 1
    # a trace without a wavelength solution (cr2res fills WL with 0) is no segment either
    with _open(plain) as hdul:
        hdul["CHIP2.INT1"].data["04_01_WL"] = 0.0
        hdul.writeto(tmp_path / "nowave.fits")
    assert len(read_spectrum(tmp_path / "nowave.fits").segments) == 9 + 9 + 8 - 2
    assert len(read_spectrum(f"{tmp_path / 'nowave.fits'}#ORDER=4").segments) == 2
    # cr2res_obs_2d's EXTRACT_2D tables share the column names: refused with the reason
    with _open(plain) as hdul:
        hdul[0].header["HIERARCH ESO DRS TYPE"] = "EXTRACT_2D"
        hdul.writeto(tmp_path / "2d.fits")
    with pytest.raises(SpectrumFormatError, match="cr2res EXTRACT_2D table: only EXTRACT_1D"):
        read_spectrum(tmp_path / "2d.fits")
    # a column of several values a row is not a cr2res column: refused, naming it
    vector = fits.BinTableHDU.from_columns(
        [fits.Column(f"02_01_{k}", "2D", array=np.ones((3, 2))) for k in ("SPEC", "WL")],
        name="CHIP1.INT1",
    )
    fits.HDUList([fits.PrimaryHDU(), vector]).writeto(tmp_path / "vector.fits")
    with pytest.raises(SpectrumFormatError, match=r"column 02_01_SPEC holds \(2,\) values a row"):
        read_spectrum(tmp_path / "vector.fits")


def test_crires_extracted_paschen_beta_cutout_takes_the_covering_order(tmp_path):
    from vocloud.io.spectrum import make_spectrum
    from vocloud.preprocess import PreprocessParams, preprocess_block

    path = tmp_path / "cr2res_obs_nodding_extractedA.fits"
    write_crires(path)
    # Paschen beta, the H-alpha of the J band (12821.6 Å in vacuum), on the vacuum grid
    params = PreprocessParams.from_dict(
        {
            "cutout": {"center": 12821.6, "half_width": 15},
            "grid": {"start": 12810, "stop": 12833, "medium": "vacuum"},
        }
    )
    whole = preprocess_block([read_spectrum(path)], params)
    # detector 2 of order index 3 (order 44) covers it alone: read it with astropy
    wl, spec, ivar, bad = _crires_astropy(path, 3, 2)
    assert wl[0] < 12806.6 and wl[-1] > 12836.6
    others = [_crires_astropy(path, i, d)[0] for i in CRIRES_INDICES for d in _crires_detectors(i)]
    assert sum(w[0] < 12806.6 and w[-1] > 12836.6 for w in others) == 1
    alone = make_spectrum(
        wl,
        u.AA,
        spec,
        ivar=ivar,
        mask=bad,
        layout="crires-extracted",
        source="alone",
        medium="vacuum",
    )
    one = preprocess_block([alone], params)
    assert whole.error == [None] and one.error == [None]
    np.testing.assert_array_equal(whole.features, one.features)


def test_crires_extracted_barycentric_correction_from_its_header(tmp_path):
    from astropy.coordinates import EarthLocation, SkyCoord
    from astropy.time import Time

    from vocloud.preprocess.frame import barycentric_velocity

    path = tmp_path / "cr2res_obs_nodding_extractedA.fits"
    write_crires(path)
    s = read_spectrum(path)
    with _open(path) as hdul:
        h = hdul[0].header
    expected = SkyCoord(h["RA"] * u.deg, h["DEC"] * u.deg).radial_velocity_correction(
        "barycentric",
        obstime=Time(h["HIERARCH ESO DRS TMID"], format="mjd", scale="utc"),
        location=EarthLocation.from_geodetic(-70.4045 * u.deg, -24.6268 * u.deg, 2648.0 * u.m),
    )
    v, label = barycentric_velocity(s.meta, s.layout)
    assert v == pytest.approx(expected.to_value(u.km / u.s), abs=1e-9)
    assert label.startswith("barycentric (")
    # without the ESO TEL GEO* cards the layout's site (Paranal) is used
    meta = {k: val for k, val in s.meta.items() if not k.startswith("ESO TEL GEO")}
    assert barycentric_velocity(meta, s.layout)[0] == pytest.approx(v, abs=1e-9)


def test_real_corpus_files_are_not_taken_for_crires(tmp_path):
    from vocloud.io.fitslayouts import detect_fits_layout

    seen = {}
    for p in sorted(REAL.rglob("*.fits")):
        try:
            seen[p.name] = detect_fits_layout(p.read_bytes(), p.name)
        except SpectrumFormatError:
            continue
    assert "crires-extracted" not in seen.values()
    assert seen["evega.0039.rs.ec.dispcor.fits"] == "iraf-multispec"
    assert seen["odbue5030_x1d.fits"] == "hst-x1d"
    # the real cr2res trace-wave table has the CHIPn.INT1 tables but no spectrum: unknown, as before
    with pytest.raises(SpectrumFormatError, match="unknown FITS layout: table columns"):
        read_spectrum(CR2RES_TW)
    # an old CRIRES table of the same extension names (crires_spec_jitter) is not this layout
    old = fits.BinTableHDU.from_columns(
        [
            fits.Column("Wavelength", "D", array=np.linspace(2300, 2310, 5)),
            fits.Column("Extracted_OPT", "D", array=np.ones(5)),
        ],
        name="CHIP1.INT1",
    )
    fits.HDUList([fits.PrimaryHDU(), old]).writeto(tmp_path / "old.fits")
    with pytest.raises(SpectrumFormatError, match="unknown FITS layout: table columns"):
        detect_fits_layout((tmp_path / "old.fits").read_bytes())


def test_crires_extracted_orders_read_once_per_task(tmp_path, monkeypatch):
    from vocloud.io.fitslayouts import address
    from vocloud.io.read import list_spectra
    from vocloud.run import tasks as chunks

    path = tmp_path / "cr2res_obs_nodding_extractedA.fits"
    write_crires(path)
    opened, parsed = [], []
    real_open, real_file = chunks._open_ahead, address.CriresFile
    monkeypatch.setattr(chunks, "_open_ahead", lambda p: opened.append(p) or real_open(p))
    monkeypatch.setattr(address, "CriresFile", lambda *a: parsed.append(a[3]) or real_file(*a))
    paths = [*list_spectra(path, by="order"), f"{path}#ORDER=3"]
    got = chunks.read_block(paths, [None] * len(paths))
    assert opened == [str(path)] and parsed == [str(path)]
    assert [s.meta["ORDER"] for s in got[:9]] == list(range(42, 51))
    assert [len(s.segments) for s in got[:9]] == [len(_crires_detectors(i)) for i in CRIRES_INDICES]
    assert str(got[9]) == "no ORDER 3 in the file (it holds orders 42-50)"  # spoils no other


def test_crires_extracted_expand_orders_reads_no_column(tmp_path, monkeypatch):
    from vocloud.io.fitslayouts import crires
    from vocloud.sources import DirectorySource

    write_crires(tmp_path / "cr2res_obs_nodding_extractedA.fits")

    def refuse(*args, **kwargs):
        raise AssertionError("a column read while listing")

    monkeypatch.setattr(crires, "table_columns", refuse)
    df = DirectorySource(tmp_path, expand="orders").list()
    name = "cr2res_obs_nodding_extractedA.fits"
    assert df["id"].tolist() == [f"{name}#ORDER={m}" for m in range(42, 51)]
    assert DirectorySource(tmp_path).list()["id"].tolist() == [name]

"""Tests of vocloud.io.read_spectrum: every layout of docs/layouts.md, gzip, bytes, errors.

The fixtures are written here with astropy.io.fits / astropy.io.votable / plain text, on
purpose independently of vocloud.datasets (the project's own synthetic archive writer).
"""

from __future__ import annotations

import gzip
import os
import pickle
import re
import warnings
import zlib

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.io.votable.tree import Field, Param, Resource, TableElement, VOTableFile

from vocloud.io import LAYOUTS, Spectrum, SpectrumFormatError, read_spectrum
from vocloud.io.fitsparse import parse_header

N = 200
META = {"OBJECT": "HD 12345", "RA": 101.25, "DEC": -16.5, "SNR": 42.5, "RESPOWER": 1800.0}


# --------------------------------------------------------------------------------- fixtures
def _flux(n: int = N, dtype=np.float32) -> np.ndarray:
    return (1.0 + 0.1 * np.sin(np.arange(n) / 7.0)).astype(dtype)


def _write(path, *hdus) -> str:
    fits.HDUList(list(hdus)).writeto(path)
    return str(path)


def _primary(data=None, **cards) -> fits.PrimaryHDU:
    hdu = fits.PrimaryHDU(data)
    hdu.header.update(META)
    hdu.header.update(cards)
    hdu.header.add_comment("a comment card")
    hdu.header.add_history("a history card")
    return hdu


def iraf(path, n=N, *, dtype=np.float32, **cards) -> str:
    """1-D image with the given WCS cards."""
    return _write(path, _primary(_flux(n, dtype), **cards))


def lamost_dr7(path, n=N, *, wave_row=True) -> tuple[str, np.ndarray]:
    c0, c1 = 3.5682, 1e-4
    wave = 10 ** (c0 + c1 * np.arange(n))
    img = np.zeros((5, n), dtype=np.float32)
    img[0] = _flux(n)
    img[1] = 4.0
    img[2] = wave if wave_row else 0.0
    img[3, [3, 17]] = [1, 4096]
    img[4, [3, 17, 18]] = 1
    p = _primary(img, TELESCOP="LAMOST", COEFF0=c0, COEFF1=c1)
    return _write(path, p), wave


def lamost_dr8(path, n=N, nwave=None) -> tuple[str, np.ndarray]:
    wave = 10 ** (3.5682 + 1e-4 * np.arange(n))
    andmask = np.zeros(n, np.float32)
    andmask[[5, 6]] = 2.0
    nwave = n if nwave is None else nwave
    cols = [
        fits.Column(name="FLUX", format=f"{n}E", array=_flux(n)[None]),
        fits.Column(name="IVAR", format=f"{n}E", array=np.full((1, n), 4.0, np.float32)),
        fits.Column(name="WAVELENGTH", format=f"{nwave}E", array=wave[None, :nwave]),
        fits.Column(name="ANDMASK", format=f"{n}E", array=andmask[None]),
        fits.Column(name="ORMASK", format=f"{n}E", array=andmask[None]),
        fits.Column(name="NORMALIZATION", format=f"{n}E", array=_flux(n)[None]),
    ]
    table = fits.BinTableHDU.from_columns(cols)
    table.header["EXTNAME"] = "COADD_B"
    return _write(path, _primary(TELESCOP="LAMOST"), table), wave


def sdss(path, n=N) -> tuple[str, np.ndarray]:
    loglam = (3.5797 + 1e-4 * np.arange(n)).astype(np.float32)
    and_mask = np.zeros(n, np.int32)
    and_mask[[0, 9]] = [16, 1 << 24]
    cols = [
        fits.Column(name="flux", format="E", array=_flux(n)),
        fits.Column(name="loglam", format="E", array=loglam),
        fits.Column(name="ivar", format="E", array=np.full(n, 2.0, np.float32)),
        fits.Column(name="and_mask", format="J", array=and_mask),
        fits.Column(name="or_mask", format="J", array=and_mask),
        fits.Column(name="wdisp", format="E", array=np.ones(n, np.float32)),
        fits.Column(name="sky", format="E", array=np.ones(n, np.float32)),
        fits.Column(name="model", format="E", array=_flux(n)),
    ]
    table = fits.BinTableHDU.from_columns(cols)
    table.header["EXTNAME"] = "COADD"
    p = _primary(PLUG_RA=101.25, PLUG_DEC=-16.5)
    return _write(path, p, table), 10 ** loglam.astype(np.float64)


def two_column(
    path, n=N, *, unit=None, wave_name="WAVELENGTH", error=False
) -> tuple[str, np.ndarray]:
    wave = 650.0 + 0.05 * np.arange(n)
    cols = [
        fits.Column(name=wave_name, format="D", array=wave, unit=unit),
        fits.Column(name="FLUX", format="E", array=_flux(n)),
    ]
    if error:
        cols.append(fits.Column(name="ERROR", format="E", array=np.full(n, 0.5, np.float32)))
    return _write(path, fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)), wave


def votable(
    path,
    n=N,
    *,
    fmt="tabledata",
    unit="Angstrom",
    nan=False,
    names=("spectral", "flux"),
    utypes=True,
    ucds=True,
) -> tuple[str, np.ndarray]:
    wave = 6500.0 + 0.25 * np.arange(n)
    if unit == "m":
        wave = wave * 1e-10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)  # 'Angstrom' is deprecated in VOUnit
        vot = VOTableFile()
        res = Resource()
        vot.resources.append(res)
        table = TableElement(vot)
        res.tables.append(table)
        table.fields.extend(
            [
                Field(
                    vot,
                    name=names[0],
                    datatype="double",
                    unit=unit,
                    utype="spec:Spectrum.Data.SpectralAxis.Value" if utypes else None,
                    ucd="em.wl" if ucds else None,
                ),
                Field(
                    vot,
                    name=names[1],
                    datatype="float",
                    utype="spec:Spectrum.Data.FluxAxis.Value" if utypes else None,
                    ucd="phot.flux.density;em.wl" if ucds else None,
                ),
                Field(
                    vot,
                    name="flux_error",
                    datatype="float",
                    utype="spec:Spectrum.Data.FluxAxis.Accuracy.StatError" if utypes else None,
                ),
            ]
        )
        table.params.extend(
            [
                Param(vot, name="OBJECT", datatype="char", arraysize="*", value="HD 12345"),
                Param(vot, name="SNR", datatype="double", value=42.5),
                Param(vot, name="VOSYNID", datatype="int", value=7),
            ]
        )
        table.create_arrays(n)
        table.array[names[0]] = wave
        table.array[names[1]] = np.full(n, np.nan, np.float32) if nan else _flux(n)
        table.array["flux_error"] = 0.25
        vot.to_xml(str(path), tabledata_format=fmt)
    return str(path), wave


CSV_TEXT = """# OBJECT = HD 12345
# RA = 101.25
# SNR = 42.5
# VOSYNID = 'syn-7'
wavelength[nm],flux,ivar
650.0,1.0,4.0
650.5,2.0,4.0
651.0,nan,0.0
651.5,1.5,1.0
"""


def csv(path, text=CSV_TEXT) -> str:
    path.write_text(text)
    return str(path)


def raw_fits(cards: list[str], data: bytes = b"") -> bytes:
    """A FITS file from literal 80-column cards (END added) and raw big-endian data."""
    header = "".join(c.ljust(80)[:80] for c in [*cards, "END"]).encode("ascii")
    header += b" " * (-len(header) % 2880)
    return header + data + b"\0" * (-len(data) % 2880)


def assert_error(
    source, reason: str | re.Pattern, *, name: str | None = None
) -> SpectrumFormatError:
    """``read_spectrum`` raises SpectrumFormatError naming the file and the reason."""
    with pytest.raises(SpectrumFormatError) as info:
        read_spectrum(source, name=name)
    err = info.value
    expected_source = (
        name
        if name is not None
        else ("<bytes>" if isinstance(source, bytes | bytearray | memoryview) else str(source))
    )
    assert err.source == expected_source
    assert expected_source in str(err)
    if isinstance(reason, re.Pattern):
        assert reason.search(err.reason), err.reason
    else:
        assert reason in err.reason, err.reason
    return err


# ------------------------------------------------------------------------------------ layouts
def test_layouts_tuple():
    assert LAYOUTS == (
        "iraf-linear",
        "iraf-log",
        "iraf-multispec",
        "lamost-dr7",
        "lamost-dr8",
        "lamost-mrs",
        "sdss-coadd",
        "sdss-spspec",
        "sdss-spplate",
        "desi-coadd",
        "desi-spectra",
        "hst-x1d",
        "eso-sdp",
        "crires-extracted",
        "deep2-spec1d",
        "spex-merged",
        "ondrejov-ssa",
        "two-column",
        "votable-sdm",
        "csv",
    )


def test_every_fits_layout_has_one_reader():
    from vocloud.io.fitslayouts import FITS_LAYOUTS
    from vocloud.io.fitslayouts.dispatch import READERS

    assert sorted(READERS) == sorted(FITS_LAYOUTS)


def test_iraf_linear(tmp_path):
    path = iraf(
        tmp_path / "a.fits",
        CRVAL1=6269.65,
        CDELT1=0.2352,
        CRPIX1=1.0,
        CTYPE1="WAVE",
        **{"DC-FLAG": 0},
    )
    s = read_spectrum(path)
    assert isinstance(s, Spectrum)
    assert s.layout == "iraf-linear" and s.source == path and len(s) == N
    assert s.wavelength.unit == u.AA and s.wavelength.dtype == np.float64
    np.testing.assert_allclose(s.wavelength.value, 6269.65 + 0.2352 * np.arange(N), rtol=1e-12)
    assert s.flux.dtype == np.float32 and s.flux.dtype.isnative
    np.testing.assert_array_equal(s.flux, _flux())
    assert s.ivar is None and s.mask is None
    # meta: primary keywords with python types; no structural or commentary cards
    assert s.meta["OBJECT"] == "HD 12345" and s.meta["SNR"] == 42.5 and s.meta["DC-FLAG"] == 0
    assert s.meta["CTYPE1"] == "WAVE" and s.meta["CRVAL1"] == 6269.65
    for key in ("NAXIS", "NAXIS1", "BITPIX", "SIMPLE", "COMMENT", "HISTORY", ""):
        assert key not in s.meta
    assert all(type(v) in (str, int, float, bool) for v in s.meta.values())


def test_iraf_cd1_1_crpix_and_float64(tmp_path):
    path = iraf(
        tmp_path / "cd.fits",
        dtype=np.float64,
        CRVAL1=6500.0,
        CD1_1=0.5,
        CRPIX1=11.0,
        CTYPE1="LINEAR",
    )
    s = read_spectrum(path)
    assert s.layout == "iraf-linear" and s.flux.dtype == np.float64
    np.testing.assert_allclose(s.wavelength.value, 6500.0 + (np.arange(N) + 1 - 11.0) * 0.5)
    assert s.wavelength.value[10] == 6500.0


def test_iraf_no_ctype_and_default_crpix(tmp_path):
    s = read_spectrum(iraf(tmp_path / "b.fits", CRVAL1=4000.0, CDELT1=2.0))
    assert s.layout == "iraf-linear" and s.wavelength.unit == u.AA
    np.testing.assert_allclose(s.wavelength.value, 4000.0 + 2.0 * np.arange(N))


def test_iraf_log_dc_flag(tmp_path):
    path = iraf(tmp_path / "log.fits", CRVAL1=3.6, CDELT1=1e-4, CRPIX1=1.0, **{"DC-FLAG": 1})
    s = read_spectrum(path)
    assert s.layout == "iraf-log"
    np.testing.assert_allclose(s.wavelength.value, 10 ** (3.6 + 1e-4 * np.arange(N)), rtol=1e-12)


def test_iraf_wave_log(tmp_path):
    crval, cdelt, crpix = 5000.0, 0.1, 3.0
    path = iraf(tmp_path / "wl.fits", CTYPE1="WAVE-LOG", CRVAL1=crval, CDELT1=cdelt, CRPIX1=crpix)
    s = read_spectrum(path)
    assert s.layout == "iraf-log"
    pix = np.arange(N) + 1 - crpix
    np.testing.assert_allclose(s.wavelength.value, crval * np.exp(cdelt * pix / crval), rtol=1e-12)


@pytest.mark.parametrize(
    ("cunit", "unit", "factor"),
    [
        ("nm", u.nm, 10.0),
        ("m", u.m, 1e10),
        ("um", u.um, 1e4),
        ("Angstrom", u.AA, 1.0),
        ("angstrom", u.AA, 1.0),
        ("A", u.AA, 1.0),
        ("0.1 nm", u.AA, 1.0),
    ],
)
def test_iraf_cunit1(tmp_path, cunit, unit, factor):
    crval = 650.0 * 10 / factor
    path = iraf(tmp_path / "u.fits", CRVAL1=crval, CDELT1=crval / 1e4, CUNIT1=cunit)
    s = read_spectrum(path)
    assert s.wavelength.unit == unit
    np.testing.assert_allclose(s.wavelength.value, crval * (1 + 1e-4 * np.arange(N)))
    np.testing.assert_allclose(s.wavelength_aa, 6500.0 * (1 + 1e-4 * np.arange(N)))


def test_iraf_frequency_unit_is_spectral(tmp_path):
    s = read_spectrum(
        iraf(tmp_path / "f.fits", CTYPE1="FREQ", CRVAL1=4.6e14, CDELT1=1e10, CUNIT1="Hz")
    )
    assert s.wavelength.unit == u.Hz
    assert s.wavelength.unit.is_equivalent(u.AA, equivalencies=u.spectral())
    np.testing.assert_allclose(s.wavelength_aa[0], 2.99792458e18 / 4.6e14)


def test_iraf_bscale_bzero_int16_and_blank(tmp_path):
    stored = np.arange(N, dtype=np.int16) - 50
    stored[7] = -32768
    hdu = fits.PrimaryHDU(stored, do_not_scale_image_data=True)
    hdu.header.update(BSCALE=0.5, BZERO=100.0, BLANK=-32768, CRVAL1=6000.0, CDELT1=1.0)
    path = _write(tmp_path / "int.fits", hdu)
    s = read_spectrum(path)
    assert s.flux.dtype == np.float32
    expected = stored * 0.5 + 100.0
    expected[7] = np.nan
    np.testing.assert_allclose(s.flux, expected)
    # same as astropy's own scaling
    np.testing.assert_allclose(s.flux, fits.getdata(path).astype(np.float32))


def test_iraf_in_image_extension_and_squeezed_2d(tmp_path):
    ext = fits.ImageHDU(_flux()[None, :])
    ext.header.update(CRVAL1=7000.0, CDELT1=0.1, EXTNAME="SPEC")
    s = read_spectrum(_write(tmp_path / "ext.fits", _primary(), ext))
    assert s.layout == "iraf-linear" and s.meta["EXTNAME"] == "SPEC" and s.meta["OBJECT"]
    np.testing.assert_allclose(s.wavelength.value, 7000.0 + 0.1 * np.arange(N))


def test_lamost_dr7(tmp_path):
    path, wave = lamost_dr7(tmp_path / "spec-55859-F5902_sp01-001.fits")
    s = read_spectrum(path)
    assert s.layout == "lamost-dr7"
    np.testing.assert_allclose(s.wavelength.value, wave, rtol=1e-7)  # float32 row
    np.testing.assert_array_equal(s.flux, _flux())
    assert s.ivar.dtype.kind == "f" and np.all(s.ivar == 4.0)
    assert s.mask.dtype == np.bool_ and set(np.flatnonzero(s.mask)) == {3, 17}
    assert s.meta["TELESCOP"] == "LAMOST" and s.meta["COEFF0"] == 3.5682
    assert np.count_nonzero(s.good()) == N - 2


def test_lamost_dr7_wavelength_from_coeff(tmp_path):
    path, wave = lamost_dr7(tmp_path / "zero-wave.fits", wave_row=False)
    s = read_spectrum(path)
    np.testing.assert_allclose(s.wavelength.value, wave, rtol=1e-12)


def test_lamost_dr8(tmp_path):
    path, wave = lamost_dr8(tmp_path / "dr8.fits")
    s = read_spectrum(path)
    assert s.layout == "lamost-dr8"
    np.testing.assert_allclose(s.wavelength.value, wave, rtol=1e-7)
    assert s.wavelength.dtype == np.float64 and s.flux.dtype == np.float32
    np.testing.assert_array_equal(s.flux, _flux())
    assert s.ivar.dtype.kind == "f" and np.all(s.ivar == 4.0)
    assert set(np.flatnonzero(s.mask)) == {5, 6}
    assert s.meta["TELESCOP"] == "LAMOST" and s.meta["EXTNAME"] == "COADD_B"
    assert "TFORM1" not in s.meta and "NAXIS2" not in s.meta


def test_sdss_coadd(tmp_path):
    path, wave = sdss(tmp_path / "spec-0266-51602-0001.fits")
    s = read_spectrum(path)
    assert s.layout == "sdss-coadd"
    np.testing.assert_allclose(s.wavelength.value, wave, rtol=1e-12)
    np.testing.assert_array_equal(s.flux, _flux())
    assert np.all(s.ivar == 2.0)
    # and_mask 16 (MANYBADCOLUMNS, a fibre-level flag) is informational; 1 << 24 NODATA is bad
    assert set(np.flatnonzero(s.mask)) == {9}
    assert s.meta["PLUG_RA"] == 101.25 and s.meta["EXTNAME"] == "COADD"


@pytest.mark.parametrize(
    ("unit", "aa"), [(None, 1.0), ("nm", 10.0), ("Angstrom", 1.0), ("m", 1e10)]
)
def test_two_column_units(tmp_path, unit, aa):
    path, wave = two_column(tmp_path / "two.fits", unit=unit)
    s = read_spectrum(path)
    assert s.layout == "two-column"
    assert s.wavelength.unit == (u.Unit(unit) if unit else u.AA)
    np.testing.assert_allclose(s.wavelength.value, wave)
    np.testing.assert_allclose(s.wavelength_aa, wave * aa)
    assert s.ivar is None


def test_two_column_lowercase_names_and_error(tmp_path):
    path, wave = two_column(tmp_path / "two.fits", wave_name="lambda", error=True)
    s = read_spectrum(path)
    assert s.layout == "two-column"
    np.testing.assert_allclose(s.wavelength.value, wave)
    np.testing.assert_allclose(s.ivar, 4.0)


def test_table_with_tscal_falls_back_to_astropy():
    wave = 6000.0 + np.arange(N)
    rows = np.zeros(N, dtype=[("w", ">f8"), ("f", ">i2")])
    rows["w"] = wave
    rows["f"] = np.arange(N)
    primary = raw_fits(["SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 0", "EXTEND  = T"])
    ext = raw_fits(
        [
            "XTENSION= 'BINTABLE'",
            "BITPIX  = 8",
            "NAXIS   = 2",
            "NAXIS1  = 10",
            f"NAXIS2  = {N}",
            "PCOUNT  = 0",
            "GCOUNT  = 1",
            "TFIELDS = 2",
            "TTYPE1  = 'WAVE'",
            "TFORM1  = 'D'",
            "TTYPE2  = 'FLUX'",
            "TFORM2  = 'I'",
            "TSCAL2  = 0.5",
            "TZERO2  = 10.0",
        ],
        rows.tobytes(),
    )
    s = read_spectrum(primary + ext, name="tscal.fits")
    assert s.layout == "two-column"
    np.testing.assert_allclose(s.flux, np.arange(N) * 0.5 + 10.0)
    np.testing.assert_allclose(s.wavelength.value, wave)


@pytest.mark.parametrize("fmt", ["tabledata", "binary", "binary2"])
def test_votable_formats(tmp_path, fmt):
    path, wave = votable(tmp_path / f"spec.{fmt}.xml", fmt=fmt)
    s = read_spectrum(path)
    assert s.layout == "votable-sdm" and s.wavelength.unit == u.AA
    np.testing.assert_allclose(s.wavelength.value, wave)
    np.testing.assert_allclose(s.flux, _flux())
    np.testing.assert_allclose(s.ivar, 16.0)
    assert s.meta == {"OBJECT": "HD 12345", "SNR": 42.5, "VOSYNID": 7}


def test_votable_binary2_metres(tmp_path):
    path, wave = votable(tmp_path / "m.vot", fmt="binary2", unit="m")
    s = read_spectrum(path)
    assert s.wavelength.unit == u.m
    np.testing.assert_allclose(s.wavelength.value, wave)
    np.testing.assert_allclose(s.wavelength_aa, 6500.0 + 0.25 * np.arange(N))


def test_votable_fields_found_by_utype_then_ucd(tmp_path):
    path, wave = votable(tmp_path / "utype.vot", names=("lam", "f"), ucds=False)
    s = read_spectrum(path)
    np.testing.assert_allclose(s.wavelength.value, wave)
    path, wave = votable(tmp_path / "ucd.vot", names=("lam", "f"), utypes=False)
    s = read_spectrum(path)
    np.testing.assert_allclose(s.wavelength.value, wave)
    np.testing.assert_allclose(s.flux, _flux())


def test_csv(tmp_path):
    s = read_spectrum(csv(tmp_path / "s.csv"))
    assert s.layout == "csv" and s.wavelength.unit == u.nm
    np.testing.assert_allclose(s.wavelength.value, [650.0, 650.5, 651.0, 651.5])
    np.testing.assert_allclose(s.wavelength_aa, [6500.0, 6505.0, 6510.0, 6515.0])
    np.testing.assert_allclose(s.flux, [1.0, 2.0, np.nan, 1.5])
    np.testing.assert_allclose(s.ivar, [4.0, 4.0, 0.0, 1.0])
    assert s.meta == {"OBJECT": "HD 12345", "RA": 101.25, "SNR": 42.5, "VOSYNID": "syn-7"}
    assert s.good().tolist() == [True, True, False, True]


def test_csv_without_unit_whitespace_and_headerless(tmp_path):
    s = read_spectrum(csv(tmp_path / "a.csv", "wavelength flux error\n6500 1 0.5\n6501 2 0.5\n"))
    assert s.wavelength.unit == u.AA
    np.testing.assert_allclose(s.ivar, [4.0, 4.0])
    s = read_spectrum(csv(tmp_path / "b.txt", "# comment\n6500.0, 1.0\n6501.0, 2.0\n"))
    np.testing.assert_allclose(s.wavelength.value, [6500.0, 6501.0])
    np.testing.assert_allclose(s.flux, [1.0, 2.0])


# ------------------------------------------------------------------------------ gzip, bytes
def _make(kind: str, tmp_path) -> str:
    if kind == "iraf-linear":
        return iraf(tmp_path / "x.fits", CRVAL1=6500.0, CDELT1=0.5)
    if kind == "iraf-log":
        return iraf(tmp_path / "x.fits", CRVAL1=3.6, CDELT1=1e-4, **{"DC-FLAG": 1})
    if kind == "lamost-dr7":
        return lamost_dr7(tmp_path / "x.fits")[0]
    if kind == "lamost-dr8":
        return lamost_dr8(tmp_path / "x.fits")[0]
    if kind == "sdss-coadd":
        return sdss(tmp_path / "x.fits")[0]
    if kind == "two-column":
        return two_column(tmp_path / "x.fits")[0]
    if kind == "votable-sdm":
        return votable(tmp_path / "x.vot", fmt="binary2")[0]
    return csv(tmp_path / "x.csv")


# the layouts made synthetically here; the others are real files (tests/unit/test_real_archives.py)
SYNTHETIC_LAYOUTS = (
    "iraf-linear",
    "iraf-log",
    "lamost-dr7",
    "lamost-dr8",
    "sdss-coadd",
    "two-column",
    "votable-sdm",
    "csv",
)


@pytest.mark.parametrize("layout", SYNTHETIC_LAYOUTS)
def test_gzip_and_bytes_inputs(tmp_path, layout):
    path = _make(layout, tmp_path)
    plain = read_spectrum(path)
    assert plain.layout == layout
    data = open(path, "rb").read()
    gz_path = tmp_path / "compressed.dat"  # no .gz suffix: detection is by magic bytes
    gz_path.write_bytes(gzip.compress(data))
    for source, name, expected in [
        (gz_path, None, str(gz_path)),
        (data, None, "<bytes>"),
        (bytearray(data), "given-name", "given-name"),
        (memoryview(data), None, "<bytes>"),
        (gzip.compress(data), "x.gz", "x.gz"),
    ]:
        s = read_spectrum(source, name=name)
        assert s.layout == layout and s.source == expected
        np.testing.assert_array_equal(s.wavelength.value, plain.wavelength.value)
        np.testing.assert_array_equal(s.flux, plain.flux)
        assert s.meta == plain.meta


def test_pathlike_and_name(tmp_path):
    path = tmp_path / "p.fits"
    iraf(path, CRVAL1=6500.0, CDELT1=0.5)
    assert read_spectrum(path).source == str(path)
    assert read_spectrum(path, name="alias").source == "alias"


# ----------------------------------------------------------------------- header parsing
def test_header_parser_edge_cases():
    cards = [
        "SIMPLE  =                    T / conforming",
        "BITPIX  =                  -32",
        "NAXIS   =                    1",
        "NAXIS1  =                    3",
        "CRVAL1  =           6.5000D+03 / D exponent",
        "CDELT1  =                  0.5",
        "OBSERVER= 'O''Brien / x'       / quote and slash in a string",
        "EMPTY   = ''",
        "UNDEF   =                      / undefined value",
        "FLAG    =                    F",
        "NEG     =                  -12",
        "lower   =                  1.5",
        "COMMENT   this = not a value",
        "HIERARCH ESO DET CHIP = 'CCD 1' / hierarch keyword",
        "LONGSTR = 'abc&'",
        "CONTINUE  'def'",
    ]
    buf = raw_fits(cards, np.arange(3, dtype=">f4").tobytes())
    header, data_start = parse_header(buf, 0, "edge.fits")
    assert data_start == 2880
    assert header["CRVAL1"] == 6500.0 and isinstance(header["NEG"], int) and header["NEG"] == -12
    assert header["OBSERVER"] == "O'Brien / x" and header["EMPTY"] == ""
    assert header["FLAG"] is False and header["LOWER"] == 1.5 and "UNDEF" not in header
    assert header["ESO DET CHIP"] == "CCD 1" and header["LONGSTR"] == "abcdef"
    assert "COMMENT" not in header
    s = read_spectrum(buf, name="edge.fits")
    np.testing.assert_allclose(s.wavelength.value, [6500.0, 6500.5, 6501.0])
    # the same cards without HIERARCH / CONTINUE give the same values
    fast, _ = parse_header(raw_fits(cards[:12]), 0, "edge.fits")
    assert {k: header[k] for k in fast} == fast


def test_header_matches_astropy(tmp_path):
    path, _ = lamost_dr7(tmp_path / "h.fits")
    s = read_spectrum(path)
    ref = fits.getheader(path)
    for key, value in ref.items():
        if (
            key in ("COMMENT", "HISTORY", "")
            or key.startswith("NAXIS")
            or key in ("SIMPLE", "BITPIX", "EXTEND")
        ):
            continue
        assert s.meta[key] == value and type(s.meta[key]) is type(value), key


# ------------------------------------------------------------------------------------ errors
def test_error_empty_file(tmp_path):
    path = tmp_path / "empty.fits"
    path.write_bytes(b"")
    assert_error(path, "empty file")
    assert_error(b"", "empty file")
    assert_error(gzip.compress(b""), "empty file", name="e.gz")


def test_error_missing_file(tmp_path):
    assert_error(tmp_path / "nope.fits", "cannot read")


def test_error_wrong_type():
    with pytest.raises(TypeError):
        read_spectrum(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)) * 4, b"<!DOCTYPE html><html><body>Not found</body></html>", b"\x89PNG\r\n"],
)
def test_error_not_a_spectrum_file(tmp_path, content):
    path = tmp_path / "junk.fits"
    path.write_bytes(content)
    assert_error(path, "not a FITS, VOTable or CSV file")


def test_error_not_a_spectrum_text(tmp_path):
    assert_error(csv(tmp_path / "t.txt", "hello\nworld\n"), "not a FITS, VOTable or CSV file")


def test_error_truncated_header(tmp_path):
    path = iraf(tmp_path / "t.fits", CRVAL1=6500.0, CDELT1=0.5)
    cut = tmp_path / "cut.fits"
    cut.write_bytes(open(path, "rb").read()[:1000])
    assert_error(cut, "truncated FITS: header ends without END card")
    # the extension header cut short
    path, _ = lamost_dr8(tmp_path / "dr8.fits")
    cut.write_bytes(open(path, "rb").read()[: 2880 + 500])
    assert_error(cut, "truncated FITS: header ends without END card")


def test_error_truncated_data(tmp_path):
    path, _ = lamost_dr7(tmp_path / "t.fits")
    data = open(path, "rb").read()
    header_len = parse_header(data, 0, "x")[1]
    needed = header_len + 5 * N * 4
    cut = tmp_path / "cut.fits"
    cut.write_bytes(data[: header_len + 100])
    assert_error(cut, f"truncated FITS: data needs {needed} bytes, file has {header_len + 100}")
    # gzip of a truncated file, given as bytes
    assert_error(gzip.compress(data[: needed - 1]), f"data needs {needed} bytes", name="c.fits.gz")


def test_error_corrupt_gzip(tmp_path):
    path = iraf(tmp_path / "t.fits", CRVAL1=6500.0, CDELT1=0.5)
    gz = gzip.compress(open(path, "rb").read())
    bad = tmp_path / "bad.fits.gz"
    bad.write_bytes(gz[: len(gz) // 2])
    assert_error(bad, "corrupt gzip")
    bad.write_bytes(gz[:10] + b"\xff" * 50 + gz[60:])
    assert_error(bad, "corrupt gzip")


def test_error_unknown_layout_3d_image(tmp_path):
    path = _write(tmp_path / "cube.fits", fits.PrimaryHDU(np.zeros((3, 10, 10), np.float32)))
    assert_error(path, "unknown FITS layout: 3-D image 10x10x3")


def test_error_unknown_layout_2d_image(tmp_path):
    path = _write(tmp_path / "img.fits", fits.PrimaryHDU(np.zeros((20, 30), np.float32)))
    assert_error(path, "unknown FITS layout: 2-D image 30x20")


def test_error_unknown_layout_table(tmp_path):
    cols = [
        fits.Column(name="RA", format="D", array=np.zeros(3)),
        fits.Column(name="DEC", format="D", array=np.zeros(3)),
    ]
    path = _write(tmp_path / "cat.fits", fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols))
    err = assert_error(path, "unknown FITS layout: table columns [")
    assert "RA" in err.reason and "DEC" in err.reason


def test_error_unknown_layout_empty(tmp_path):
    assert_error(
        _write(tmp_path / "e.fits", fits.PrimaryHDU()),
        "unknown FITS layout: empty primary HDU and no extension",
    )


def test_error_1d_image_without_wcs(tmp_path):
    assert_error(
        _write(tmp_path / "nowcs.fits", fits.PrimaryHDU(_flux())),
        "unknown FITS layout: 1-D image 200 without CRVAL1",
    )
    assert_error(iraf(tmp_path / "nodelt.fits", CRVAL1=6500.0), "without CDELT1 or CD1_1")
    assert_error(
        iraf(tmp_path / "ra.fits", CRVAL1=10.0, CDELT1=1.0, CTYPE1="RA---TAN"),
        "CTYPE1 = 'RA---TAN' is not a spectral axis",
    )


def test_error_all_nan(tmp_path):
    hdu = fits.PrimaryHDU(np.full(N, np.nan, np.float32))
    hdu.header.update(CRVAL1=6500.0, CDELT1=0.5)
    assert_error(_write(tmp_path / "nan.fits", hdu), "all flux values are NaN")
    assert_error(votable(tmp_path / "nan.vot", nan=True)[0], "all flux values are NaN")
    assert_error(
        csv(tmp_path / "nan.csv", "wavelength,flux\n1,nan\n2,nan\n"), "all flux values are NaN"
    )


@pytest.mark.parametrize(
    ("unit", "reason"),
    [
        ("xyz", "unknown wavelength unit 'xyz'"),
        ("kg", "wavelength unit 'kg' is not spectral"),
        ("pixel", re.compile(r"wavelength unit 'pix(el)?' is not spectral")),
    ],
)
def test_error_bad_units(tmp_path, unit, reason):
    assert_error(iraf(tmp_path / "u.fits", CRVAL1=1.0, CDELT1=1.0, CUNIT1=unit), reason)
    assert_error(two_column(tmp_path / "u2.fits", unit=unit)[0], reason)
    assert_error(votable(tmp_path / "u.vot", unit=unit)[0], reason)
    assert_error(csv(tmp_path / "u.csv", f"wavelength[{unit}],flux\n1,2\n"), reason)


def test_error_lengths_differ(tmp_path):
    path, _ = lamost_dr8(tmp_path / "short.fits", nwave=N - 10)
    assert_error(path, f"wavelength and flux lengths differ ({N - 10} != {N})")


def test_error_bad_votable(tmp_path):
    path = tmp_path / "bad.vot"
    path.write_bytes(b'<?xml version="1.0"?>\n<VOTABLE version="1.4"><RESOURCE><TABLE>\n<FIELD')
    assert_error(path, "bad VOTable XML")
    path.write_bytes(b'<?xml version="1.0"?><VOTABLE version="1.4"><RESOURCE/></VOTABLE>')
    assert_error(path, "VOTable without a TABLE")
    vpath, _ = votable(tmp_path / "nospec.vot", names=("a", "b"), utypes=False, ucds=False)
    assert_error(vpath, "VOTable has no spectral FIELD")


def test_error_bad_csv(tmp_path):
    assert_error(csv(tmp_path / "a.csv", "lam,f\n1,2\n"), "CSV has no wavelength and flux columns")
    assert_error(csv(tmp_path / "b.csv", "wavelength,flux\n1,abc\n"), "CSV data not numeric")
    assert_error(csv(tmp_path / "c.csv", "# X = 1\nwavelength,flux\n"), "CSV without data rows")
    path = tmp_path / "d.csv"
    path.write_bytes(b"wavelength,flux\n1,\xff\xfe\n")
    assert_error(path, "not a FITS, VOTable or CSV file")


def test_error_corrupt_header_values(tmp_path):
    buf = raw_fits(["SIMPLE  = T", "BITPIX  = -32", "NAXIS   = 1", "NAXIS1  = 'abc'"])
    assert_error(buf, "corrupt FITS header", name="n.fits")
    buf = raw_fits(["SIMPLE  = T", "BITPIX  = 12", "NAXIS   = 1", "NAXIS1  = 4"], b"\0" * 6)
    assert_error(buf, "corrupt FITS header: BITPIX = 12", name="b.fits")
    buf = raw_fits(
        [
            "SIMPLE  = T",
            "BITPIX  = -32",
            "NAXIS   = 1",
            "NAXIS1  = 2",
            "CRVAL1  = 'x'",
            "CDELT1  = 1.0",
        ],
        b"\0" * 8,
    )
    assert_error(buf, "CRVAL1 = 'x' is not a number", name="c.fits")


def test_error_is_picklable_and_a_valueerror(tmp_path):
    err = assert_error(b"", "empty file", name="p.fits")
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert (again.source, again.reason) == ("p.fits", "empty file")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_no_raw_exception_escapes_on_damage(tmp_path, layout):
    """Truncated or byte-damaged files: a Spectrum or a SpectrumFormatError, nothing else."""
    data = open(_make(layout, tmp_path), "rb").read()
    rng = np.random.default_rng(1)
    damaged = [data[:cut] for cut in (1, 79, 80, 100, 2880, 2880 + 1000, 5760, len(data) - 1)]
    for _ in range(40):
        b = bytearray(data)
        pos = rng.integers(0, min(len(b), 12000), size=3)
        b[pos[0]] = rng.integers(0, 256)
        b[pos[1] : pos[1] + 8] = rng.choice(list(b"ENDT'=/ 0123456789-.E<>,#\n\x00"), 8).tobytes()
        damaged.append(bytes(b))
    for content in damaged:
        try:
            s = read_spectrum(content, name="damaged")
        except SpectrumFormatError as exc:
            assert exc.source == "damaged" and exc.reason
        else:
            assert isinstance(s, Spectrum) and len(s.wavelength) == len(s.flux)


@pytest.mark.parametrize("fmt", ["tabledata", "binary", "binary2"])
def test_votable_fast_paths_match_astropy_with_nulls(tmp_path, fmt):
    """The numpy fast paths for TABLEDATA and BINARY/BINARY2 give astropy's values, nulls as NaN."""
    import io as _io

    from astropy.io.votable import from_table, parse
    from astropy.table import MaskedColumn, Table

    n = 300
    wl = np.linspace(6400.0, 6700.0, n)
    flux = np.ma.masked_array(1 + 0.1 * np.sin(wl), mask=np.zeros(n, bool), dtype="f4")
    flux.mask[[5, 77]] = True
    t = Table()
    t["spectral"] = MaskedColumn(wl, unit="Angstrom")
    t["flux"] = MaskedColumn(flux)
    vot = from_table(t)
    f = tmp_path / f"s-{fmt}.xml"
    vot.to_xml(str(f), tabledata_format=fmt)
    s = read_spectrum(f)
    ref = parse(_io.BytesIO(f.read_bytes())).get_first_table().array
    np.testing.assert_allclose(s.wavelength_aa, np.ma.getdata(ref["spectral"]))
    expect = np.ma.filled(ref["flux"].astype("f8"), np.nan)
    np.testing.assert_allclose(s.flux, expect, equal_nan=True, rtol=1e-6)
    if fmt != "binary":  # BINARY has no null flags for floats: the NaN is the value itself
        assert np.isnan(s.flux[[5, 77]]).all()


def test_ascii_with_fits_like_header():
    # lines of a Liverpool Telescope SPRAT ASCII spectrum (astrocatalogs/sne-external-spectra,
    # TNS/spectra/tns_2021caf_2021-02-12_22-17-29_LT_SPRAT_ZTF.spec): FITS cards behind '# ',
    # then whitespace columns without names (wavelength, flux, a third column)
    text = (
        b"# XTENSION= 'IMAGE   '           / IMAGE extension                                \n"
        b"# INSTRUME= 'SPRAT   '           / Instrument used.                               \n"
        b"# WAVSET  =          5555.000000 / [Angstrom] Wavelength Setting.                 \n"
        b"# OBJECT  = 'ZTF21aahargb'       / Actual name of the current observation source  \n"
        b"# MJD     =         59257.928808                                                  \n"
        b"     6550.00     0.794983      193.336 \n"
        b"     6559.20     0.836079      218.799 \n"
        b"     6568.40     0.883357      200.965 \n"
    )
    s = read_spectrum(text, name="sprat.spec")
    assert s.layout == "csv"
    np.testing.assert_array_equal(s.wavelength_aa, [6550.0, 6559.2, 6568.4])
    np.testing.assert_array_equal(s.flux, [0.794983, 0.836079, 0.883357])
    assert s.meta["OBJECT"] == "ZTF21aahargb" and s.meta["INSTRUME"] == "SPRAT"
    assert s.meta["WAVSET"] == 5555.0 and s.meta["MJD"] == 59257.928808


def test_string_valued_wcs_numbers_are_read(tmp_path):
    # a defect of real archive headers: numbers written as strings (CRVAL1 = '3.5802')
    path = iraf(tmp_path / "s.fits", CRVAL1="6500.5", CDELT1="0.25", CRPIX1="1")
    np.testing.assert_array_equal(read_spectrum(path).wavelength_aa[:2], [6500.5, 6500.75])


# ------------------------------------------------------------------------------ size limit
def _bomb(inflated: int, members: int = 1) -> bytes:
    """gzip of zeros that inflates to ``inflated`` bytes, in ``members`` gzip members."""
    out = []
    for _ in range(members):
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        out.append(z.compress(bytes(inflated // members)) + z.flush())
    return b"".join(out)


def test_a_gzip_bomb_stops_at_the_limit(tmp_path):
    from vocloud.io.read import MAX_FILE_SIZE

    assert MAX_FILE_SIZE == 1_000_000_000
    bomb = tmp_path / "bomb.fits.gz"
    bomb.write_bytes(_bomb(50_000_000))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(SpectrumFormatError, match=r"gzip expands past 10 MB \(the per-file"):
        read_spectrum(bomb, max_size=10_000_000)
    # members each under the limit, together over it
    with pytest.raises(SpectrumFormatError, match="gzip expands past 10 MB"):
        read_spectrum(_bomb(12_000_000, members=2), max_size=10_000_000)


def test_a_file_over_the_limit_is_refused_unread(tmp_path):
    path = iraf(tmp_path / "x.fits", CRVAL1=6500.0, CDELT1=0.5)
    size = os.path.getsize(path)
    with pytest.raises(SpectrumFormatError, match=r"file is .* over the per-file read limit"):
        read_spectrum(path, max_size=size - 1)
    with pytest.raises(SpectrumFormatError, match="over the per-file read limit of 1 kB"):
        read_spectrum(open(path, "rb").read(), max_size=1000)
    assert read_spectrum(path, max_size=size).layout == "iraf-linear"
    # a gzip of several members within the limit reads as before
    data = open(path, "rb").read()
    half = len(data) // 2
    two = gzip.compress(data[:half]) + gzip.compress(data[half:])
    np.testing.assert_array_equal(read_spectrum(two).flux, read_spectrum(path).flux)

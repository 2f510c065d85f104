"""File sources with ``expand``: a folder of real DESI coadd and spectra files, a LAMOST file
and an echelle file listed one row per spectrum (or per order), the ids checked against the
FIBERMAP and WAT2 strings read here with astropy."""

from __future__ import annotations

import gzip
import re
import shutil
import warnings
from importlib import import_module
from pathlib import Path
from pkgutil import iter_modules

import pytest
from astropy.io import fits
from astropy.table import Table

from vocloud.io import SpectrumFormatError, read_spectrum
from vocloud.sources import DirectorySource, VOTableSource, source_from_config
from vocloud.sources import expand as expand_module
from vocloud.spectralist import duplicate_reasons, list_hash

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
COADD = "desi/coadd-5-169-thru20210419.fits"
SPECTRA = "desi/spectra-sv3-dark-26065.fits"
LAMOST = "lamost/spec-55859-F5902_sp01-001.fits.gz"
ECHELLE = "iraf/evega.0039.rs.ec.dispcor.fits"


def _fibermap(name: str) -> Table:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Table.read(REAL / name, hdu="FIBERMAP")


def _beams(name: str) -> list[int]:
    h = fits.getheader(REAL / name)
    wat2 = "".join(str(h[k]).ljust(68) for k in sorted(k for k in h if k.startswith("WAT2_")))
    return [int(v.split()[1]) for _, v in re.findall(r'spec(\d+)\s*=\s*"([^"]*)"', wat2)]


@pytest.fixture
def archive(tmp_path):
    """A folder of copies of the real files, in sub-folders as an archive would have them."""
    for name in (COADD, SPECTRA, LAMOST, ECHELLE):
        (tmp_path / Path(name).parent).mkdir(exist_ok=True)
        shutil.copy(REAL / name, tmp_path / name)
    return tmp_path


def _addresses() -> list[str]:
    """What each spectrum of the folder is addressed as, from the FIBERMAPs read by astropy."""
    coadd = [f"{COADD}#TARGETID={t}" for t in _fibermap(COADD)["TARGETID"]]
    fm = _fibermap(SPECTRA)
    spectra = [f"{SPECTRA}#TARGETID={t},EXPID={e}" for t, e in zip(fm["TARGETID"], fm["EXPID"])]
    return [*coadd, *spectra]


def test_off_by_default_lists_files_and_opens_none(archive, monkeypatch):
    monkeypatch.setattr(expand_module, "list_spectra", lambda *a, **k: pytest.fail("opened"))
    df = DirectorySource(archive).list()
    assert df["id"].tolist() == [COADD, SPECTRA, ECHELLE, LAMOST.removesuffix(".gz")]
    with pytest.raises(SpectrumFormatError) as info:
        read_spectrum(df["access_url"][0])
    assert "list each of them with the directory source's option expand: true" in info.value.reason


def test_expand_lists_each_spectrum_by_its_address(archive):
    df = DirectorySource(archive, expand=True).list()
    many = _addresses()
    assert len(_fibermap(COADD)) == 5 and len(_fibermap(SPECTRA)) == 5
    assert df["id"].tolist() == [*many, ECHELLE, LAMOST.removesuffix(".gz")]
    assert df["path"].tolist() == [*many, ECHELLE, LAMOST]
    assert df["access_url"].tolist() == [
        *(f"{archive / a.partition('#')[0]}#{a.partition('#')[2]}" for a in many),
        str(archive / ECHELLE),
        str(archive / LAMOST),
    ]
    # every row of a file carries the file's size and mtime (the cache key sees a changed file)
    sizes = {COADD: (archive / COADD).stat().st_size, SPECTRA: (archive / SPECTRA).stat().st_size}
    for path, size in zip(df["path"], df["size"]):
        if "#" in path:
            assert size == sizes[path.partition("#")[0]]
    assert duplicate_reasons(df).tolist() == [None] * len(df)
    # each address reads the spectrum it names
    fm = _fibermap(SPECTRA)
    for row in (0, 3):
        s = read_spectrum(df["access_url"][5 + row])
        assert (s.meta["TARGETID"], s.meta["EXPID"]) == (fm["TARGETID"][row], fm["EXPID"][row])
    assert read_spectrum(df["access_url"][1]).meta["TARGETID"] == _fibermap(COADD)["TARGETID"][1]
    assert read_spectrum(df["access_url"][11]).layout.startswith("lamost-")  # one spectrum
    assert list_hash(df) != list_hash(DirectorySource(archive).list())


def test_expand_orders_lists_each_echelle_order(archive):
    df = DirectorySource(archive, pattern="iraf/*", expand="orders").list()
    beams = _beams(ECHELLE)
    assert df["id"].tolist() == [f"{ECHELLE}#ORDER={m}" for m in beams]
    s = read_spectrum(df["access_url"][10])
    assert s.meta["ORDER"] == beams[10] and s.segments == ((0, len(s)),)


def test_listing_reads_headers_and_ids_never_flux(archive, monkeypatch):
    from vocloud.io import fitslayouts

    def refuse(*args, **kwargs):
        raise AssertionError("flux read while listing")

    # every module of the package that calls them (each binds the name it imported)
    modules = [
        fitslayouts,
        *(
            import_module(f"{fitslayouts.__name__}.{m.name}")
            for m in iter_modules(fitslayouts.__path__)
        ),
    ]
    for name in ("image_data", "_desi_arrays", "_compressed_images", "_multispec", "_x1d_parts"):
        holders = [m for m in modules if hasattr(m, name)]
        assert holders, name  # a renamed function would otherwise refuse nothing
        for module in holders:
            monkeypatch.setattr(module, name, refuse)
    shutil.copy(REAL / "hst/odbue5030_x1d.fits", archive / "x1d.fits")
    df = DirectorySource(archive, expand="orders").list()
    assert len(df) == 10 + len(_beams(ECHELLE)) + 4 + 1


def test_unreadable_files_listed_as_themselves(archive):
    raw = (REAL / COADD).read_bytes()
    (archive / "bad").mkdir()
    (archive / "bad/cut.fits").write_bytes(raw[:4000])  # cut inside the FIBERMAP
    (archive / "bad/empty.fits").write_bytes(b"")
    (archive / "bad/garbage.fits").write_bytes(b"SIMPLE  = not a header")
    (archive / "bad/text.fits.gz").write_bytes(gzip.compress(b"wavelength,flux\n1,2\n")[:20])
    (archive / "bad/half.fits").write_bytes(raw[: len(raw) // 2])  # its ids are all there
    df = DirectorySource(archive, expand=True).list()
    bad = df[df["path"].str.startswith("bad/")]
    tids = list(_fibermap(COADD)["TARGETID"])
    assert bad["path"].tolist() == [
        "bad/cut.fits",
        "bad/empty.fits",
        "bad/garbage.fits",
        *(f"bad/half.fits#TARGETID={t}" for t in tids),
        "bad/text.fits.gz",
    ]
    assert len(df) == 9 + 12
    reasons = {}
    for path, url in zip(bad["path"], bad["access_url"]):
        with pytest.raises(SpectrumFormatError) as info:
            read_spectrum(url)
        reasons[path] = info.value.reason
    assert reasons["bad/cut.fits"].startswith("truncated FITS")
    assert reasons["bad/empty.fits"] == "empty file"
    assert reasons["bad/garbage.fits"].startswith("truncated FITS")
    assert reasons["bad/text.fits.gz"].startswith("corrupt gzip")
    assert all(reasons[f"bad/half.fits#TARGETID={t}"].startswith("truncated FITS") for t in tids)


def test_gzipped_copy_of_a_file_of_many_is_a_duplicate_per_spectrum(archive):
    (archive / (COADD + ".gz")).write_bytes(gzip.compress((REAL / COADD).read_bytes()))
    df = DirectorySource(archive, pattern="desi/coadd*", expand=True).list()
    assert len(df) == 10
    reasons = duplicate_reasons(df).tolist()
    assert reasons[:5] == [None] * 5
    assert reasons[5:] == [f"duplicate id (same id as {p})" for p in df["path"][:5]]


def test_expand_option_parsed_once_with_a_clear_error(tmp_path):
    src = source_from_config({"directory": str(tmp_path), "expand": True})
    assert src.expand == "spectrum" and src.describe()["expand"] == "spectrum"
    assert source_from_config({"directory": str(tmp_path)}).describe()["expand"] is None
    with pytest.raises(ValueError, match=r"source.directory: expand must be true, false, spectra"):
        source_from_config({"directory": str(tmp_path), "expand": 3})
    with pytest.raises(ValueError, match=r"unknown keys \['expnad'\] \(known: pattern, recursive"):
        source_from_config({"directory": str(tmp_path), "expnad": True})


def test_votable_list_expands_its_local_files(archive):
    t = Table(
        {
            "obs_publisher_did": ["ivo://x?coadd", "ivo://x?remote", "ivo://x?lamost"],
            "access_url": [COADD, "http://127.0.0.1:9/coadd.fits", LAMOST],
        }
    )
    t.write(archive / "list.xml", format="votable")
    df = VOTableSource(archive / "list.xml", expand=True).list()
    tids = list(_fibermap(COADD)["TARGETID"])
    assert df["id"].tolist() == [
        *(f"ivo://x?coadd#TARGETID={t}" for t in tids),
        "ivo://x?remote",
        "ivo://x?lamost",
    ]
    assert df["access_url"][5] == "http://127.0.0.1:9/coadd.fits"  # remote: not opened
    got = read_spectrum(df["access_url"][2])
    assert got.meta["TARGETID"] == tids[2]
    assert df["access_url"][6] == str(archive / LAMOST)

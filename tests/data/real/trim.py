"""Make the real-archive test corpus (tests/data/real/) from the original files.

Every file here is a real archive product taken from a public GitHub repository (the table
``SOURCES`` below: repository, commit, path, licence). Files under ~1 MB are copied byte for
byte; larger ones are cut by the function named in the table, which says exactly what is cut.
Cutting only ever drops whole HDUs, table rows or image rows/pixel ranges: the values that remain
are the original bytes (no rescaling), and the header cards that describe the cut (NAXISn,
CRVAL1) are the only ones changed.

Usage (the originals are read from the repositories' git objects)::

    python tests/data/real/trim.py --mirror /work/.mirror   # owner+name/repo bare git dirs
    python tests/data/real/trim.py --provenance              # rewrite PROVENANCE.md's table only
    python tests/data/real/trim.py --mirror /work/.mirror --only desi/spectra-sv3-dark-26065.fits

Only the table of PROVENANCE.md is written (a row per file of ``SOURCES``); its hand-written
sections (licences, kinds not found) stay as they are.

``--mirror`` expects the bare git directories the ``fetch`` tool makes
(``<mirror>/<owner>+<name>/repo``); any clone works with ``--git-dir-of owner/name=PATH``.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

HERE = Path(__file__).resolve().parent


def copy(raw: bytes) -> tuple[bytes, str]:
    return raw, "none (byte-for-byte copy)"


def keep_hdus(*names_or_index):
    """Keep only the listed HDUs (by index), in order."""

    def cut(raw: bytes) -> tuple[bytes, str]:
        with fits.open(io.BytesIO(raw)) as hdul:
            kept = [hdul[i] for i in names_or_index]
            names = [h.name or str(i) for i, h in zip(names_or_index, kept)]
            dropped = [h.name for i, h in enumerate(hdul) if i not in names_or_index]
            out = io.BytesIO()
            fits.HDUList([h.copy() for h in kept]).writeto(out)
        what = f"kept HDUs {', '.join(names)}; dropped {len(dropped)} HDUs ({', '.join(dropped)})"
        return out.getvalue(), what

    return cut


def desi_no_resolution(raw: bytes) -> tuple[bytes, str]:
    """DESI coadd or spectra file: drop the three *_RESOLUTION HDUs (11 x N x rows float32,
    75-80% of the file); every other HDU (the tile-compressed masks too) is kept as it is."""
    with fits.open(io.BytesIO(raw)) as hdul:
        kept = [h.copy() for h in hdul if not h.name.endswith("_RESOLUTION")]
        rows = len(hdul["FIBERMAP"].data)
        out = io.BytesIO()
        fits.HDUList(kept).writeto(out)
    return out.getvalue(), (
        f"dropped B_RESOLUTION, R_RESOLUTION, Z_RESOLUTION; all {rows} FIBERMAP rows and every "
        f"other HDU kept"
    )


def pixel_range(lo: float, hi: float):
    """1-D linear image (CRVAL1/CDELT1/CRPIX1=1): keep the pixels within [lo, hi] Angstrom."""

    def cut(raw: bytes) -> tuple[bytes, str]:
        with fits.open(io.BytesIO(raw)) as hdul:
            h = hdul[0].header
            n = h["NAXIS1"]
            wave = h["CRVAL1"] + h["CDELT1"] * (np.arange(n) + 1 - h.get("CRPIX1", 1.0))
            i0 = int(np.searchsorted(wave, lo))
            i1 = int(np.searchsorted(wave, hi, side="right"))
            hdu = fits.PrimaryHDU(hdul[0].data[i0:i1], header=h.copy())
            hdu.header["CRVAL1"] = float(wave[i0])
            out = io.BytesIO()
            hdu.writeto(out)
        return out.getvalue(), (
            f"kept pixels {i0}..{i1 - 1} of {n} ({wave[i0]:.2f}-{wave[i1 - 1]:.2f} A); "
            f"CRVAL1 moved to the first kept pixel, every other card as in the original"
        )

    return cut


def table_rows(hdu_index: int, rows: slice):
    """Keep some rows of one binary table (e.g. a few echelle orders of an HST x1d)."""

    def cut(raw: bytes) -> tuple[bytes, str]:
        with fits.open(io.BytesIO(raw)) as hdul:
            n = len(hdul[hdu_index].data)
            out_hdus = [h.copy() for h in hdul]
            t = hdul[hdu_index]
            out_hdus[hdu_index] = fits.BinTableHDU(t.data[rows], header=t.header.copy())
            out = io.BytesIO()
            fits.HDUList(out_hdus).writeto(out)
        return (
            out.getvalue(),
            f"HDU {hdu_index}: kept table rows {rows.start}..{rows.stop - 1} of {n}",
        )

    return cut


# (file name here, repository, commit, path in the repository, licence of the repository, cut,
#  what it is)
SOURCES = [
    (
        "lamost/bt-cmi-lamost.fits",
        "podondra/bt-spectraldl",
        "dbeefab76940324c0b214fd0d95e8f8e8faa111a",
        "notebooks/data/bt-cmi-lamost.fits",
        "GPL-3.0",
        copy,
        "LAMOST LRS DR1 (pipeline v2.6.4) image, EXTEN0 'Flux Inverse Subcontinuum "
        "Andmask Ormask'; Be star BT CMi",
    ),
    (
        "lamost/spec-57287-KP193637N444141V03_sp10-161.fits.gz",
        "hypergravity/laspec",
        "57987c611f2ee7cfad9f02d0dec2c4ddb1aa5939",
        "laspec/data/KIC8098300/DR6_low/spec-57287-KP193637N444141V03_sp10-161.fits.gz",
        "MIT",
        copy,
        "LAMOST LRS DR6 5-row image (gzip as shipped); KIC 8098300",
    ),
    (
        "lamost/spec-58397-EG014118N254444M01_sp03-031.fits",
        "hypergravity/laspec",
        "57987c611f2ee7cfad9f02d0dec2c4ddb1aa5939",
        "laspec/data/lamost/spec-58397-EG014118N254444M01_sp03-031.fits",
        "MIT",
        copy,
        "LAMOST LRS DR7 5-row image",
    ),
    (
        "lamost/spec-55859-F5902_sp01-001.fits.gz",
        "YunyuG/cmost",
        "8856ce6ae1ff93aeb7b44729ae77dc3668bb0281",
        "tests/spec-55859-F5902_sp01-001.fits.gz",
        "GPL-3.0",
        copy,
        "LAMOST LRS DR9 table layout (COADD, one row of vector columns)",
    ),
    (
        "lamost/spec-60591-LN042429N340750BM01_sp01-001.fits.gz",
        "YunyuG/cmost",
        "107097696eeaf249fe74f9d550e5fc5448ef1cfd",
        "tests/spec-60591-LN042429N340750BM01_sp01-001.fits.gz",
        "GPL-3.0",
        copy,
        "LAMOST LRS DR13 Q1 table layout",
    ),
    (
        "lamost/med-58408-TD230151N343645T01_sp01-015.fits",
        "hypergravity/laspec",
        "57987c611f2ee7cfad9f02d0dec2c4ddb1aa5939",
        "laspec/data/lamost/med-58408-TD230151N343645T01_sp01-015.fits",
        "MIT",
        keep_hdus(0, 1, 2),
        "LAMOST MRS DR7 med-*.fits: COADD_B and COADD_R (the single exposures are cut)",
    ),
    (
        "sdss/spec-1325-52762-0133.fits",
        "legolason/PyQSOFit",
        "9a443a9a18010b2932797270235e7ef8aa2f66db",
        "example/data/RM017/spec-1325-52762-0133.fits",
        "GPL-3.0",
        keep_hdus(0, 1, 2, 3),
        "SDSS DR16 spec (SDSS-I plate, run2d 26) cut to the 'lite' form: COADD, SPECOBJ, SPZLINE",
    ),
    (
        "sdss/spec-6717-56397-0534.fits",
        "legolason/PyQSOFit",
        "9a443a9a18010b2932797270235e7ef8aa2f66db",
        "example/data/RM017/spec-6717-56397-0534.fits",
        "GPL-3.0",
        keep_hdus(0, 1, 2, 3),
        "SDSS BOSS/eBOSS spec (run2d v5_13_2) cut to the 'lite' form: COADD, SPALL, SPZLINE",
    ),
    (
        "sdss/sample_sdss.fits",
        "pyspeckit/pyspeckit",
        "caa8e0b91e6d10bd1d19d74b4b794efc8a4c306b",
        "tests/sample_sdss.fits",
        "MIT",
        copy,
        "SDSS DR7 spSpec (5-row image: flux, continuum-subtracted, error, mask, ...)",
    ),
    (
        "desi/coadd-5-169-thru20210419.fits",
        "astropy/specutils",
        "f1948550459eaa393f5578e59df5af034fcc24d8",
        "specutils/io/default_loaders/tests/t/coadd-5-169-thru20210419.fits",
        "BSD-3-Clause",
        desi_no_resolution,
        "DESI coadd (5 targets, B/R/Z arms)",
    ),
    (
        "desi/spectra-sv3-dark-26065.fits",
        "astropy/specutils",
        "f1948550459eaa393f5578e59df5af034fcc24d8",
        "specutils/io/default_loaders/tests/t/spectra-sv3-dark-26065.fits",
        "BSD-3-Clause",
        desi_no_resolution,
        "DESI spectra (not coadded; fuji, sv3 dark, healpix 26065): FIBERMAP of 5 rows, one "
        "exposure (EXPID 83734, NIGHT 20210406, tile 271), SCORES, B/R/Z arms",
    ),
    (
        "ondrejov/bt-cmi-ondrejov.fits",
        "podondra/bt-spectraldl",
        "dbeefab76940324c0b214fd0d95e8f8e8faa111a",
        "notebooks/data/bt-cmi-ondrejov.fits",
        "GPL-3.0",
        copy,
        "Ondrejov 2-m CCD700 spectrum of BT CMi as the Ondrejov SSA service "
        "serves it (binary table spectral/flux)",
    ),
    (
        "ondrejov/ud090015.fits",
        "podondra/bt-spectraldl",
        "dbeefab76940324c0b214fd0d95e8f8e8faa111a",
        "notebooks/data/cross-matched/ondrejov/ud090015.fits",
        "GPL-3.0",
        copy,
        "Ondrejov 2-m CCD700 (SSA service FITS), HD 31894",
    ),
    (
        "iraf/evega.0039.rs.ec.dispcor.fits",
        "astropy/specutils",
        "25e247f8316126965e5cf7d526dfb0e900fe9327",
        "specutils/io/tests/files/evega.0039.rs.ec.dispcor.fits",
        "BSD-3-Clause",
        copy,
        "IRAF multispec echelle (APO 3.5-m ARCES, 107 orders, linear dispersion)",
    ),
    (
        "iraf/TRES.fits",
        "astropy/specutils",
        "cb4916718da7af096c050a6a0ffd1cfb8a876185",
        "specutils/io/tests/files/TRES.fits",
        "BSD-3-Clause",
        copy,
        "IRAF multispec echelle (TRES, 51 orders, non-linear dispersion: dtype 2)",
    ),
    (
        "iraf/spline.fits",
        "astropy/specutils",
        "27f1ffbf70df9490d2b1e5fd8619cb186d313bee",
        "specutils/io/tests/files/spline.fits",
        "BSD-3-Clause",
        copy,
        "IRAF multispec echelle with cubic-spline dispersions (dtype 2, function 3): refused "
        "with the reason by vocloud and by specutils",
    ),
    (
        "iraf/UM669_nF.fits",
        "astropy/specutils",
        "70ff76e7dae3685441ce31f2b4c6bd3ce2967eb2",
        "specutils/io/tests/files/UM669_nF.fits",
        "BSD-3-Clause",
        copy,
        "IRAF 1-D log-linear (Magellan MagE, DC-FLAG 1)",
    ),
    (
        "iraf/L5g_0355+11_Cruz09.fits",
        "astropy/specutils",
        "3528c831396025c0ac6fd9743db18538692e570f",
        "specutils/tests/data/L5g_0355+11_Cruz09.fits",
        "BSD-3-Clause",
        copy,
        "IRAF 1-D linear (Gemini GMOS-N)",
    ),
    (
        "eso/HARPS.2006-09-08T02:12:38.604_s1d_A.fits".replace(":", "_"),
        "mzechmeister/viper",
        "d2153adc68f3a355eeddbcd5a57f64801edc83a4",
        "data/TLS/Deconv/HARPS.2006-09-08T02:12:38.604_s1d_A.fits",
        "GPL-3.0",
        pixel_range(6400.0, 6750.0),
        "ESO HARPS s1d (CTYPE1 = 'Angstrom'), HD 189733",
    ),
    (
        "eso/XQ100_J0003-2603_vis.fits",
        "DAS-OATs/astrocook",
        "f9823afd2d8be087739ece51ecf010f250512804",
        "test/qso_vis.fits",
        "none stated (the repository has no licence file); the file is an ESO archive data "
        "product, public under the ESO data access policy, redistributed here as test data only",
        copy,
        "ESO Phase 3 SDP 1-D spectrum, `VOCLASS = 'SPECTRUM V2.0'` (X-shooter VIS, XQ-100 survey, "
        "ESO programme 189.A-0424, archive file ADP.2016-07-15T08:22:40.217): one row, WAVE (nm, "
        "float32), FLUX, ERR_FLUX, CONTINUUM, FLUX_TELL_CORR, ERR_FLUX_TELL_CORR",
    ),
    (
        "eso/UVES.fits",
        "astropy/specutils",
        "7dbf73059ebadac3f704f6bf1ca4e8af11225337",
        "specutils/io/tests/t/UVES.fits",
        "BSD-3-Clause",
        copy,
        "ESO UVES 1-D image, `CTYPE1 = 'WAVELENGTH [Ang]'` (no CUNIT1), 42,751 pixels 3732-5000 A "
        "(red_sci_point_blue)",
    ),
    (
        "hst/odbue5030_x1d.fits",
        "astropy/specutils",
        "1bbf7091c7f2116e9412278059a4156ad57e8c2b",
        "specutils/tests/data/odbue5030_x1d.fits",
        "BSD-3-Clause",
        table_rows(1, slice(0, 4)),
        "HST STIS x1d (echelle orders as table rows)",
    ),
    (
        "crires/cr2res_util_calib_calibrated_collapsed_extr1D_tw.fits",
        "ivh/cr2rep",
        "f201ae5d3007e3fd1c2acc96822825cae1e50046",
        "cr2res/tests/cr2res_util_calib_calibrated_collapsed_extr1D_tw.fits",
        "GPL-2.0",
        copy,
        "ESO CRIRES+ trace-wave table (`ESO PRO CATG = 'UTIL_WAVE_TW'`) written by cr2res 0.9.3, "
        "setting J1228: primary header of 1233 cards, tables `CHIP1.INT1`-`CHIP3.INT1` with the "
        "orders and traces of each detector (order index 1 is not on detector 3) and their "
        "wavelength solutions (nm). No spectrum: the `crires-extracted` tests write an "
        "EXTRACT_1D file from it (below)",
    ),
    (
        "deep2/spec1d.1245.066.12004136.fits",
        "astropy/specutils",
        "17e4938005a07c2cef3637deb7c9cd45fa2f652f",
        "specviz/data/spec1d.1245.066.12004136.fits",
        "BSD-3-Clause",
        keep_hdus(0, 1, 2),
        "DEEP2 spec1d (Bxspf-B and Bxspf-R kept; the Horne extractions cut)",
    ),
    (
        "spex/BD60596_merged.fits",
        "pyspeckit/pyspeckit",
        "8c28151ac12ebd22fe4d3bc72efbc9d35b061420",
        "tests/BD60596_merged.fits",
        "MIT",
        copy,
        "Spextool merged image (APO TripleSpec): rows wavelength (um), flux, error",
    ),
    (
        "radio/gbt_1d.fits",
        "astropy/specutils",
        "f04b663dc8eadc87f19895bc6f859e9fb643bb6d",
        "specutils/io/tests/files/gbt_1d.fits",
        "BSD-3-Clause",
        copy,
        "GBT single-dish spectrum, CTYPE1 = 'VRAD' (km/s) with RESTFRQ",
    ),
]


def _git_show(git_dir: Path, commit: str, path: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
    ).stdout


TABLE_HEAD = "| file | what | repository | commit | path | licence | trimmed |"


def _table_span(text: list[str]) -> tuple[int, int]:
    start = text.index(TABLE_HEAD)
    end = start
    while end < len(text) and text[end].startswith("|"):
        end += 1
    return start, end


def stated_rows() -> dict[str, list[str]]:
    """PROVENANCE.md's table: file name -> its cells."""
    text = (HERE / "PROVENANCE.md").read_text().splitlines()
    start, end = _table_span(text)
    rows = [
        [c.strip() for c in line.strip().strip("|").split(" | ")] for line in text[start + 2 : end]
    ]
    return {cells[0]: cells for cells in rows}


def write_provenance(cuts: dict[str, str]) -> None:
    """Replace the table of PROVENANCE.md (``cuts``: what the files just made say of their cut;
    the others keep the cut stated before); its hand-written sections stay as they are."""
    path = HERE / "PROVENANCE.md"
    text = path.read_text().splitlines()
    start, end = _table_span(text)
    stated = stated_rows()
    rows = [TABLE_HEAD, "|---|---|---|---|---|---|---|"]
    for name, repo, commit, src, lic, _fn, what in SOURCES:
        cut = cuts.get(name) or stated.get(name, ["?"])[-1]
        rows.append(f"| {name} | {what} | {repo} | {commit} | {src} | {lic} | {cut} |")
    path.write_text("\n".join(text[:start] + rows + text[end:]) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mirror", type=Path, help="folder of <owner>+<name>/repo bare git dirs")
    ap.add_argument("--provenance", action="store_true", help="only rewrite PROVENANCE.md")
    ap.add_argument(
        "--only", nargs="+", metavar="FILE", help="remake these files only (names as in SOURCES)"
    )
    args = ap.parse_args(argv)
    cuts: dict[str, str] = {}
    if not args.provenance:
        if args.mirror is None:
            ap.error("--mirror is needed to make the files")
        unknown = set(args.only or ()) - {row[0] for row in SOURCES}
        if unknown:
            ap.error(f"not in SOURCES: {', '.join(sorted(unknown))}")
        warnings.simplefilter("ignore")
        for name, repo, commit, path, _lic, fn, _what in SOURCES:
            if args.only and name not in args.only:
                continue
            git_dir = args.mirror / repo.replace("/", "+") / "repo"
            data, what = fn(_git_show(git_dir, commit, path))
            out = HERE / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            cuts[name] = what
            print(f"{name}: {len(data):,} bytes; {what}")
    write_provenance(cuts)
    return 0


if __name__ == "__main__":
    sys.exit(main())

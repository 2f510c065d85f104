"""Listing a folder with ``expand: true`` (issue #8) against a plain listing.

A plain :class:`vocloud.sources.DirectorySource` listing only walks the folder (``os.scandir`` and
a ``stat`` per file); with ``expand`` every file is opened, memory-mapped and its headers and id
columns parsed (:func:`vocloud.io.read.list_spectra`), so a DESI file gives one row per target.

1. A folder of copies of the real files of ``tests/data/real/``: the DESI coadd (5 targets), the
   DESI spectra file (5 target-exposures) and a LAMOST DR7 file (one spectrum), ``--copies`` of
   each; files and rows listed per second, plain and expanded, best of 3, hot page cache.
2. A release-sized coadd: the real coadd's 5 targets repeated to 500 (unique TARGETIDs, ~60 MB,
   the size of a DESI healpix coadd): ``list_spectra`` of it against reading its bytes, to show
   that listing reads its headers and FIBERMAP, not its flux.

Usage::

    python benchmarks/list_expand.py [--copies 200]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

from vocloud.io.read import list_spectra
from vocloud.sources import DirectorySource

REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "real"
FILES = {
    "desi-coadd": "desi/coadd-5-169-thru20210419.fits",
    "desi-spectra": "desi/spectra-sv3-dark-26065.fits",
    "lamost-dr7": "lamost/spec-58397-EG014118N254444M01_sp03-031.fits",
}


def best(fn, repeat: int = 3) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def folder_of_copies(root: Path, kinds: list[str], copies: int) -> Path:
    d = root / "+".join(kinds)
    for kind in kinds:
        sub = d / kind
        sub.mkdir(parents=True)
        for i in range(copies):
            shutil.copy(REAL / FILES[kind], sub / f"{i:05d}-{Path(FILES[kind]).name}")
    return d


def big_coadd(path: Path, targets: int = 500) -> None:
    """The real coadd with its rows repeated to ``targets`` targets (TARGETIDs made unique)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(REAL / FILES["desi-coadd"]) as hdul:
            reps = -(-targets // len(hdul["FIBERMAP"].data))
            out = [fits.PrimaryHDU(header=hdul[0].header)]
            for h in hdul[1:]:
                if isinstance(h, fits.BinTableHDU) and h.name in ("FIBERMAP", "SCORES"):
                    data = np.tile(h.data, reps)[:targets]
                    if "TARGETID" in data.dtype.names:
                        data["TARGETID"] = np.arange(targets) + 39633297352951412
                    out.append(fits.BinTableHDU(data, header=h.header, name=h.name))
                elif isinstance(h, fits.BinTableHDU):
                    out.append(h.copy())
                elif h.data is not None and h.data.ndim == 2:
                    out.append(fits.ImageHDU(np.tile(h.data, (reps, 1))[:targets], name=h.name))
                else:
                    out.append(h.copy())
            fits.HDUList(out).writeto(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(
            f"| folder ({args.copies} files of each kind) | plain: files/s | expand: files/s "
            "| expand: rows/s | rows |"
        )
        print("|---|---|---|---|---|")
        for kinds in (["lamost-dr7"], ["desi-coadd"], ["desi-spectra"], list(FILES)):
            d = folder_of_copies(root, kinds, args.copies)
            n = args.copies * len(kinds)
            t_plain, plain = best(lambda d=d: DirectorySource(d).list())
            t_exp, exp = best(lambda d=d: DirectorySource(d, expand=True).list())
            assert len(plain) == n
            print(
                f"| {' + '.join(kinds)} | {n / t_plain:,.0f} | {n / t_exp:,.0f} "
                f"| {len(exp) / t_exp:,.0f} | {len(exp)} |"
            )
        big = root / "coadd-500.fits"
        big_coadd(big)
        size = big.stat().st_size
        t_list, addresses = best(lambda: list_spectra(big), 5)
        t_read, _ = best(lambda: big.read_bytes(), 5)
        print(f"\nrelease-sized coadd: {len(addresses)} targets, {size / 1e6:.1f} MB")
        print(
            f"list_spectra: {t_list * 1e3:.2f} ms; reading its bytes: {t_read * 1e3:.2f} ms "
            f"(hot page cache)"
        )


if __name__ == "__main__":
    main()

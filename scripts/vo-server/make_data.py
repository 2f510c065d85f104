"""Write the spectra that the VO test server (vospec.rd) imports, with their labels.

Run with the project venv (it imports :mod:`vocloud.datasets`)::

    .venv/bin/python scripts/vo-server/make_data.py /var/gavo/inputs/vospec --n 1000

Spectra come from :func:`vocloud.datasets.synthesize` in the ``iraf-linear`` layout (Ondřejov
CCD700-like grids around H-alpha: ~1980 px of ~0.235 Å, R 11,000-15,000, the five profile classes of
:data:`vocloud.datasets.CLASSES` plus ~2 % outliers). They are written here as IRAF-style linear
1-D FITS images in the form DaCHS's ``getWCSAxis`` reads (``CTYPE1 = 'WAVE'``, ``CUNIT1 =
'Angstrom'``, ``CRVAL1``/``CDELT1``/``CRPIX1``, no CD matrix) with the header keywords the RD maps:
``OBJECT``, ``RA``, ``DEC``, ``DATE-OBS``, ``EXPTIME``, ``SNR``, ``RESPOWER``, ``VRAD``,
``CLASS``, ``VOSYNID``.

Output under ``ROOT`` (the DaCHS resource directory)::

    data/NNNN/spec-NNNNNNNNN.fits   the spectra (500 per directory)
    labels.csv                      id,class: id is the publisher DID DaCHS gives each spectrum
                                    (ivo://AUTHORITY/~?RESDIR/data/NNNN/spec-NNNNNNNNN.fits)
    spectra.csv                     id, accref and the truth (outlier kind, S/N, RV, R, grid, position)

The files are written to ``data.partial/`` and renamed, so an interrupted run never leaves a
directory that looks complete. The same arguments always give the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from vocloud.datasets import synthesize
from vocloud.datasets.fitswrite import image_cards, image_hdu

PER_DIR = 500
LAYOUT = "iraf-linear"


def accref_of(resdir: str, index: int) -> str:
    """The inputs-relative path (DaCHS accref) of spectrum ``index``."""
    return f"{resdir}/data/{index // PER_DIR:04d}/spec-{index:09d}.fits"


def observation(seed: int, index: int) -> tuple[str, float]:
    """A deterministic DATE-OBS (ISO, seconds) and exposure time (s) for spectrum ``index``."""
    rng = np.random.default_rng([seed, index, 1])
    start = datetime(2005, 1, 1)
    when = start + timedelta(seconds=int(rng.integers(0, 20 * 365 * 86400)))
    return when.strftime("%Y-%m-%dT%H:%M:%S"), float(round(rng.uniform(300.0, 3600.0), 1))


def fits_bytes(spectrum, date_obs: str, exptime: float) -> bytes:
    """A linear IRAF-style 1-D FITS image of one synthetic spectrum."""
    v = spectrum.variant
    flux = np.asarray(spectrum.flux, dtype=np.float32)
    m = spectrum.meta
    cards = image_cards(flux)
    cards += [
        ("CTYPE1", "WAVE"),
        ("CUNIT1", "Angstrom"),
        ("CRVAL1", float(v["CRVAL1"]), "wavelength at CRPIX1 (air)"),
        ("CDELT1", float(v["CDELT1"]), "Angstrom per pixel"),
        ("CRPIX1", float(v["CRPIX1"])),
        ("OBJECT", m["OBJECT"]),
        ("RA", float(m["RA"]), "deg (ICRS)"),
        ("DEC", float(m["DEC"]), "deg (ICRS)"),
        ("DATE-OBS", date_obs, "start of the exposure (UTC)"),
        ("EXPTIME", exptime, "s"),
        ("SNR", float(round(spectrum.snr, 2)), "S/N at the continuum near H-alpha"),
        ("RESPOWER", float(spectrum.resolving_power), "resolving power lambda/dlambda"),
        ("VRAD", float(round(spectrum.rv, 3)), "radial velocity, km/s"),
        ("CLASS", spectrum.cls, "H-alpha profile class (truth)"),
        ("VOSYNID", m["VOSYNID"], "vocloud.datasets spectrum id"),
        ("AIRORVAC", "air"),
        ("TELESCOP", "synthetic (Ondrejov 2m CCD700-like)"),
        ("ORIGIN", "vocloud scripts/vo-server/make_data.py"),
    ]
    return image_hdu(cards, flux)


def write(root: Path, n: int, seed: int, authority: str, resdir: str, batch: int = 250) -> None:
    """Write ``n`` spectra and the tables under ``root`` (replacing a previous ``data/``)."""
    partial = root / "data.partial"
    shutil.rmtree(partial, ignore_errors=True)
    rows = []
    for start in range(0, n, batch):
        for s in synthesize(
            min(batch, n - start), seed=seed, layout=LAYOUT, start=start, outlier_fraction=0.02
        ):
            accref = accref_of(resdir, s.index)
            path = partial / Path(accref).relative_to(f"{resdir}/data")
            path.parent.mkdir(parents=True, exist_ok=True)
            date_obs, exptime = observation(seed, s.index)
            path.write_bytes(fits_bytes(s, date_obs, exptime))
            wl = s.wavelength
            rows.append(
                {
                    "id": f"ivo://{authority}/~?{accref}",
                    "class": s.cls,
                    "accref": accref,
                    "outlier_kind": s.outlier_kind,
                    "target": s.meta["OBJECT"],
                    "ra": s.meta["RA"],
                    "dec": s.meta["DEC"],
                    "snr": round(s.snr, 2),
                    "rv": round(s.rv, 3),
                    "resolving_power": s.resolving_power,
                    "n_pixels": wl.size,
                    "wl_min": round(float(wl[0]), 4),
                    "wl_max": round(float(wl[-1]), 4),
                    "date_obs": date_obs,
                }
            )
    for name, cols in (("labels.csv", ["id", "class"]), ("spectra.csv", list(rows[0]))):
        with open(root / f"{name}.partial", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    shutil.rmtree(root / "data", ignore_errors=True)
    os.replace(partial, root / "data")
    for name in ("labels.csv", "spectra.csv"):
        os.replace(root / f"{name}.partial", root / name)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "root", type=Path, help="the DaCHS resource directory, e.g. /var/gavo/inputs/vospec"
    )
    p.add_argument("--n", type=int, default=1000, help="number of spectra (default 1000)")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--authority", default="vocloud.test", help="the [ivoa] authority of gavo.rc")
    p.add_argument(
        "--resdir", default=None, help="inputs-relative resource directory (default: root's name)"
    )
    a = p.parse_args(argv)
    t = time.perf_counter()
    a.root.mkdir(parents=True, exist_ok=True)
    write(a.root, a.n, a.seed, a.authority, a.resdir or a.root.name)
    print(f"[make_data] {a.n} spectra in {a.root / 'data'} ({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()

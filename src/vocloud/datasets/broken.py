"""Deliberately broken or awkward spectrum files, for the bad-input tests and the demo.

==========================  =====================  ===============================================
file                        kind                   what a reader / pipeline should do
==========================  =====================  ===============================================
``corrupt.fits``            ``corrupt``            read error: random bytes after ``SIMPLE  =  T``
``truncated.fits``          ``truncated``          read error: valid header, data cut short
``unknown-cube.fits``       ``unknown-layout``     read error: a valid 3-D FITS image
``unknown-table.fits``      ``unknown-layout``     read error: a table of TIME, RATE, BACKGROUND
``empty.fits``              ``empty``              read error: 0 bytes
``all-nan.fits``            ``all-nan``            valid iraf-linear, flux all NaN: rejected/flagged
``bad-unit.fits``           ``unparseable-unit``   read error: ``CUNIT1 = 'furlongs per fortnight'``
``mass-unit.fits``          ``non-spectral-unit``  read error: ``CUNIT1 = 'kg'``
``dup.fits``                ``duplicate-id``       valid; same id as ``dup.fits.gz`` (another
``dup.fits.gz``             ``duplicate-id``       spectrum): a source must keep one, say which
``off-grid.fits``           ``off-grid``           reads; covers 4000-5000 Å only (no H-alpha)
``nm.fits``                 ``valid-nm``           reads fine: ``CUNIT1 = 'nm'``, 626.9-673.5 nm
==========================  =====================  ===============================================

All FITS files but ``corrupt``, ``truncated`` and ``empty`` open and verify with astropy.

Examples
--------
>>> import tempfile
>>> tmp = tempfile.TemporaryDirectory()
>>> kinds = make_broken_files(tmp.name)
>>> kinds["empty.fits"], kinds["nm.fits"]
('empty', 'valid-nm')
>>> tmp.cleanup()
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from vocloud.datasets import fitswrite as fw
from vocloud.datasets import profiles as ph
from vocloud.datasets.layouts import ONDREJOV_N, ONDREJOV_START, ONDREJOV_STEP, ORIGIN

BROKEN_SEED = 20240229


def _spectrum_flux(wl_aa: np.ndarray, rng: np.random.Generator, cls: str) -> np.ndarray:
    comps = ph.draw_profile(cls, rng, ph.sigma_lsf(13000.0))
    model = ph.continuum(wl_aa, -0.1, 0.02) * ph.evaluate_profile(
        wl_aa, comps, rv=0.0, sigma_lsf=ph.sigma_lsf(13000.0)
    )
    flux, _ = ph.add_noise(model, 150.0, rng)
    return flux.astype(np.float32)


def _iraf(
    crval: float, cdelt: float, flux: np.ndarray, name: str, cunit: str | None = None
) -> bytes:
    cards = fw.image_cards(flux)
    cards += [("CTYPE1", "WAVE"), ("CRVAL1", crval), ("CDELT1", cdelt), ("CRPIX1", 1.0)]
    if cunit is not None:
        cards.append(("CUNIT1", cunit))
    cards += [
        ("OBJECT", f"BROKEN {name}"),
        ("RA", 10.0),
        ("DEC", 20.0),
        ("SNR", 150.0),
        ("RESPOWER", 13000.0),
        ("VOSYNID", f"broken-{name}"),
        ("ORIGIN", ORIGIN),
    ]
    return fw.image_hdu(cards, flux)


def make_broken_files(path: str | os.PathLike) -> dict[str, str]:
    """Write one file of each kind of bad or awkward input into ``path`` (created).

    Parameters
    ----------
    path : str or path-like
        Directory; existing files of the same names are replaced.

    Returns
    -------
    dict
        File name -> kind (see the module docstring for the kinds and the expected behaviour).
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(BROKEN_SEED)
    n = ONDREJOV_N
    wl = ONDREJOV_START + ONDREJOV_STEP * np.arange(n)
    files: dict[str, tuple[bytes, str]] = {}

    first = fw.format_card("SIMPLE", True).encode("ascii")
    files["corrupt.fits"] = (first + rng.bytes(2 * fw.BLOCK - 80), "corrupt")

    good = _iraf(ONDREJOV_START, ONDREJOV_STEP, _spectrum_flux(wl, rng, "shell"), "truncated")
    files["truncated.fits"] = (good[: fw.BLOCK + 3000], "truncated")

    cube = rng.random((4, 5, 6)).astype(np.float32)
    cube_cards = [*fw.image_cards(cube), ("OBJECT", "BROKEN cube"), ("BUNIT", "counts")]
    files["unknown-cube.fits"] = (fw.image_hdu(cube_cards, cube), "unknown-layout")

    t = np.arange(100, dtype=np.float64)
    table = fw.empty_primary([("OBJECT", "BROKEN table")]) + fw.bintable_hdu(
        [
            ("TIME", t, "s"),
            ("RATE", rng.random(100).astype(np.float32), "count/s"),
            ("BACKGROUND", rng.random(100).astype(np.float32), "count/s"),
        ],
        [("EXTNAME", "LIGHTCURVE")],
    )
    files["unknown-table.fits"] = (table, "unknown-layout")
    files["empty.fits"] = (b"", "empty")

    nan = np.full(n, np.nan, dtype=np.float32)
    files["all-nan.fits"] = (_iraf(ONDREJOV_START, ONDREJOV_STEP, nan, "all-nan"), "all-nan")

    flux = _spectrum_flux(wl, rng, "double-peak")
    files["bad-unit.fits"] = (
        _iraf(ONDREJOV_START, ONDREJOV_STEP, flux, "bad-unit", "furlongs per fortnight"),
        "unparseable-unit",
    )
    files["mass-unit.fits"] = (
        _iraf(ONDREJOV_START, ONDREJOV_STEP, flux, "mass-unit", "kg"),
        "non-spectral-unit",
    )

    dup1 = _iraf(ONDREJOV_START, ONDREJOV_STEP, _spectrum_flux(wl, rng, "single-peak"), "dup")
    dup2 = _iraf(ONDREJOV_START, ONDREJOV_STEP, _spectrum_flux(wl, rng, "absorption"), "dup-gz")
    files["dup.fits"] = (dup1, "duplicate-id")
    files["dup.fits.gz"] = (gzip.compress(dup2, mtime=0), "duplicate-id")

    step = 0.5
    wl_off = 4000.0 + step * np.arange(2001)  # 4000-5000 Å
    off = _iraf(4000.0, step, _spectrum_flux(wl_off, rng, "absorption"), "off-grid")
    files["off-grid.fits"] = (off, "off-grid")

    nm = _iraf(
        ONDREJOV_START / 10, ONDREJOV_STEP / 10, _spectrum_flux(wl, rng, "shell"), "nm", "nm"
    )
    files["nm.fits"] = (nm, "valid-nm")

    for name, (data, _) in files.items():
        (root / name).write_bytes(data)
    return {name: kind for name, (_, kind) in files.items()}

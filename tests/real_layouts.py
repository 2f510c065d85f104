"""Real archive data written in the layouts no public file of which exists: one writer per layout,
shared by tests/unit/test_real_archives.py and benchmarks/read.py.

No SDSS spPlate and no extracted spectrum written by the ESO CRIRES+ pipeline (cr2res) is in any
public repository searched (tests/data/real/PROVENANCE.md, "not found"), so the readers of those
layouts are checked, and measured, on files written here from real data of tests/data/real/ in the
layout the data model documents (docs/layouts.md lists the sources):

- :func:`write_spplate` -- the real SDSS-I coadd of plate 1325, fibre 133, as fibres of an spPlate;
- :func:`write_crires` -- a cr2res ``EXTRACT_1D`` file: the headers, orders per detector and
  wavelength solutions of a real cr2res trace-wave table, real ARCES echelle orders as flux.

The writers live here, beside the real files they read, rather than in ``vocloud.datasets``: that
package ships in the wheel without tests/data/real/, writes synthetic spectra, and its source is
part of the VO-server tier's setup stamp (a change there re-installs the shared DaCHS data).
A test reads what a writer wrote back with astropy itself and compares it with values it takes
from the source file: the writer is shared, the checks are not.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits

REAL = Path(__file__).resolve().parent / "data" / "real"
SDSS_COADD = REAL / "sdss" / "spec-1325-52762-0133.fits"
CR2RES_TW = REAL / "crires" / "cr2res_util_calib_calibrated_collapsed_extr1D_tw.fits"
ARCES = REAL / "iraf" / "evega.0039.rs.ec.dispcor.fits"

#: ANDMASK bit of a pixel without data (an unplugged fibre's every pixel)
SDSS_NODATA = 1 << 24

#: (order index, detector) of the cr2res file whose trace was not extracted: SPEC, ERR, WL all NaN
CRIRES_FAILED = (5, 3)
#: (order index, detector) that holds a trace 2 as well as its trace 1
CRIRES_SECOND_TRACE = (2, 2)
#: (order index, detector) with NaN flux pixels and zero errors the extraction left
CRIRES_BAD_PIXELS = (3, 1)


def write_spplate(
    path: Path, fiberids: Sequence[int] = (132, 133, 134), empty: Collection[int] = (132, 134)
) -> None:
    """Write an SDSS-I spPlate of the fibres ``fiberids`` (a row each, in that order) in the layout
    of the SDSS data model: HDU 0 flux, one row per fibre, with the plate's COEFF0/COEFF1 and the
    real coadd's primary header (that plate's spPlate header); IVAR; ANDMASK; ORMASK; WAVEDISP;
    PLUGMAP (FIBERID, RA, DEC, OBJTYPE); SKY.

    Every fibre is the real coadd of plate 1325, fibre 133 on the plate's wavelength grid, except
    those in ``empty``: no data (ivar 0, ANDMASK NODATA, OBJTYPE SKY), as unplugged fibres are.
    Fibre f sits at the real fibre's position + (f - 133) x 1e-3 degrees.
    """
    with fits.open(SDSS_COADD) as hdul:
        hdr = hdul[0].header.copy()
        c = hdul["COADD"].data
        flux, ivar, andm = c["flux"], c["ivar"], c["and_mask"]
        loglam = c["loglam"].astype(np.float64)
    c0, c1 = hdr["COEFF0"], hdr["COEFF1"]
    first = round(float((loglam[0] - c0) / c1))  # the fibre's first pixel on the plate grid
    npix = first + len(flux) + 5
    fibres = np.asarray(fiberids, dtype=np.int64)
    ra0, dec0, fib0 = hdr["PLUG_RA"], hdr["PLUG_DEC"], hdr["FIBERID"]
    for key in ("FIBERID", "PLUG_RA", "PLUG_DEC", "RA", "DEC"):
        hdr.remove(key, ignore_missing=True)
    filled = ~np.isin(fibres, list(empty))
    img = np.zeros((len(fibres), npix), np.float32)
    iv = np.zeros_like(img)
    am = np.zeros((len(fibres), npix), np.int32)
    img[filled, first : first + len(flux)] = flux
    iv[filled, first : first + len(flux)] = ivar
    am[filled, first : first + len(flux)] = andm
    am[~filled] = SDSS_NODATA
    plug = fits.BinTableHDU.from_columns(
        [
            fits.Column("FIBERID", "J", array=fibres),
            fits.Column("RA", "D", array=ra0 + (fibres - fib0) * 1e-3),
            fits.Column("DEC", "D", array=dec0 + (fibres - fib0) * 1e-3),
            fits.Column("OBJTYPE", "6A", array=np.where(filled, "QSO", "SKY")),
        ],
        name="PLUGMAP",
    )
    fits.HDUList(
        [
            fits.PrimaryHDU(img, header=hdr),
            fits.ImageHDU(iv, name="IVAR"),
            fits.ImageHDU(am, name="ANDMASK"),
            fits.ImageHDU(am, name="ORMASK"),
            fits.ImageHDU(np.ones_like(img), name="WAVEDISP"),
            plug,
            fits.ImageHDU(np.zeros_like(img), name="SKY"),
        ]
    ).writeto(path, output_verify="ignore")


_TABLE_CARDS = ("XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "TFIELDS", "EXTNAME", "TTYPE")
_TABLE_CARDS += ("TFORM", "TUNIT", "TDIM", "TNULL", "TSCAL", "TZERO")


def _tw_solutions() -> tuple[fits.Header, dict, dict[int, fits.Header]]:
    """The TW file's primary header, ``{(index, trace, detector): λ (nm) at pixels 1-2048}``
    (cr2res_trace_get_wl: the ``Wavelength`` polynomial filled from x = 1) and each detector's
    header without its table cards."""
    with fits.open(CR2RES_TW) as hdul:
        primary = hdul[0].header.copy()
        waves, headers = {}, {}
        x = np.arange(1, 2049, dtype=np.float64)
        for det in (1, 2, 3):
            t = hdul[f"CHIP{det}.INT1"]
            for o, tr, coef in zip(t.data["Order"], t.data["TraceNb"], t.data["Wavelength"]):
                waves[int(o), int(tr), det] = np.polynomial.polynomial.polyval(x, coef)
            headers[det] = fits.Header(
                [c for c in t.header.cards if not c.keyword.startswith(_TABLE_CARDS)]
            )
    return primary, waves, headers


def write_crires(
    path: Path,
    *,
    real_orders: bool = True,
    skip_detector: int | None = None,
    nan_cases: bool = True,
    second_trace: bool = True,
) -> None:
    """Write the cr2res EXTRACT_1D layout (cr2res_extract_EXTRACT1D_create and
    cr2res_io_save_table) from the real trace-wave (TW) file: its primary header with ``ESO PRO
    CATG = 'OBS_NODDING_EXTRACTA'``, ``ESO DRS TYPE = 'EXTRACT_1D'``, and what a science frame
    adds (RA/DEC in degrees: the ARCES target's; ``ESO DRS TMID``; ``ESO TEL GEOLAT/GEOLON/
    GEOELEV`` of Paranal); one BINTABLE per detector ``CHIPn.INT1`` of 2048 rows with its TW
    header and, with ``real_orders``, ``ESO QC REALORDERn`` (``ESO INS GRAT1 ZP_ORD`` + n - 1);
    float64 columns ``OO_TT_SPEC``, ``OO_TT_ERR``, ``OO_TT_WL`` (nm, no TUNIT) for each order and
    trace the TW table holds on that detector. SPEC: ARCES order 3 (index - 1) + detector - 1 (a
    different real order each); ERR = sqrt(|SPEC|), made here (the ARCES file has no error band).

    ``skip_detector``: that detector not reduced, a header without a table. ``nan_cases``: the
    trace of :data:`CRIRES_FAILED` not extracted (SPEC, ERR, WL NaN), pixels 5, 700, 1500 of
    :data:`CRIRES_BAD_PIXELS` NaN and its errors 6, 1200 zero. ``second_trace``: a trace 2 on
    :data:`CRIRES_SECOND_TRACE` (ARCES order 100, wavelengths 0.01 nm redder than its trace 1).
    """
    primary_header, waves, det_headers = _tw_solutions()
    with fits.open(ARCES) as hdul:
        arces_header, arces = hdul[0].header, np.asarray(hdul[0].data, dtype=np.float64)
    pos = SkyCoord(arces_header["RA"], arces_header["DEC"], unit=("hourangle", "deg"))
    zp = primary_header["HIERARCH ESO INS GRAT1 ZP_ORD"]
    tables: dict[int, list[fits.Column]] = {1: [], 2: [], 3: []}
    for (idx, trace, det), wl in sorted(waves.items()):
        spec = arces[3 * (idx - 1) + (det - 1)].copy()
        err = np.sqrt(np.abs(spec))
        if nan_cases and (idx, det) == CRIRES_FAILED:
            wl, spec, err = (np.full(2048, np.nan) for _ in range(3))
        if nan_cases and (idx, det) == CRIRES_BAD_PIXELS:
            spec[[5, 700, 1500]] = np.nan
            err[[6, 1200]] = 0.0
        sets = [(trace, wl, spec, err)]
        if second_trace and (idx, det) == CRIRES_SECOND_TRACE:
            other = arces[100]
            sets.append((2, wl + 0.01, other, np.sqrt(np.abs(other))))
        for tr, w, f, e in sets:
            tables[det] += [
                fits.Column(f"{idx:02d}_{tr:02d}_SPEC", "D", array=f),
                fits.Column(f"{idx:02d}_{tr:02d}_ERR", "D", array=e),
                fits.Column(f"{idx:02d}_{tr:02d}_WL", "D", array=w),
            ]
    primary = fits.PrimaryHDU(header=primary_header)
    primary.header.remove("HIERARCH ESO PRO TYPE", ignore_missing=True)
    primary.header.update(
        {
            "RA": pos.ra.deg,
            "DEC": pos.dec.deg,
            "HIERARCH ESO TEL GEOLAT": -24.6268,
            "HIERARCH ESO TEL GEOLON": -70.4045,
            "HIERARCH ESO TEL GEOELEV": 2648.0,
            "HIERARCH ESO PRO CATG": "OBS_NODDING_EXTRACTA",
            "HIERARCH ESO DRS TYPE": "EXTRACT_1D",
            "HIERARCH ESO DRS TMID": primary_header["MJD-OBS"],
        }
    )
    hdus = [primary]
    for det in (1, 2, 3):
        hdr = det_headers[det].copy()
        if real_orders:
            for idx in sorted({k[0] for k in waves if k[2] == det}):
                hdr[f"HIERARCH ESO QC REALORDER{idx}"] = zp + idx - 1
        if det == skip_detector:  # a detector cr2res did not reduce: a header, no table
            hdus.append(fits.ImageHDU(header=hdr, name=f"CHIP{det}.INT1"))
        else:
            table = fits.BinTableHDU.from_columns(tables[det], header=hdr, name=f"CHIP{det}.INT1")
            hdus.append(table)
    fits.HDUList(hdus).writeto(path, output_verify="ignore")

"""DESI (docs/layouts.md): ``desi-coadd`` (``coadd-*``: a row per target) and ``desi-spectra``
(``spectra-*``: a row per target and exposure), the B, R, Z arms as segments, and the
tile-compressed masks those files carry (RICE_1 decoded straight from the heap)."""

from __future__ import annotations

import io
import warnings
from itertools import pairwise

import astropy.units as u
import numpy as np
from astropy.io import fits

from vocloud.io.fitslayouts.base import _all_hdus
from vocloud.io.fitslayouts.select import _address_ids, _select_row
from vocloud.io.fitsparse import HDU, image_data, table_columns
from vocloud.io.spectrum import Spectrum, SpectrumFormatError, make_spectrum

try:  # astropy's own RICE_1 decoder (what CompImageHDU calls): the tiles of a DESI mask decoded
    # without astropy building a header per compressed HDU, which cost more than the decoding
    from astropy.io.fits.hdu.compressed._codecs import Rice1
except ImportError:  # pragma: no cover - another astropy layout: the CompImageHDU path
    Rice1 = None


#: FIBERMAP columns read with a DESI file: the row ids and what each spectrum's meta keeps
DESI_COLUMNS = ("TARGETID", "TARGET_RA", "TARGET_DEC", "EXPID", "NIGHT", "MJD", "TILEID", "FIBER")


def _desi_arrays(buf: bytes | bytearray, ext: HDU, source: str) -> tuple[dict, list]:
    """The FIBERMAP columns and, per arm, (wavelength, flux, ivar, mask) arrays of all targets."""
    hdus = _all_hdus(buf, ext, source)
    by_name = {str(h.header.get("EXTNAME", "")).strip().upper(): h for h in hdus}
    fmap = table_columns(buf, ext, list(DESI_COLUMNS), source)
    if "TARGETID" not in fmap:
        raise SpectrumFormatError(source, "DESI FIBERMAP without a TARGETID column")
    starts = {b.index: a.next_start for a, b in pairwise(hdus)}
    packed = [
        h
        for arm in "BRZ"
        if (h := by_name.get(f"{arm}_MASK")) is not None
        and ("ZIMAGE" in h.header or h.xtension == "BINTABLE")
    ]
    unpacked = _compressed_images(buf, packed, starts, source)
    arms = []
    for arm in ("B", "R", "Z"):
        if f"{arm}_FLUX" not in by_name:
            continue
        wave = image_data(buf, by_name[f"{arm}_WAVELENGTH"], source).astype(np.float64)
        flux = image_data(buf, by_name[f"{arm}_FLUX"], source)
        ivar = image_data(buf, by_name[f"{arm}_IVAR"], source) if f"{arm}_IVAR" in by_name else None
        mask = None
        if f"{arm}_MASK" in by_name:
            mhdu = by_name[f"{arm}_MASK"]
            if mhdu.index in unpacked:
                mask = unpacked[mhdu.index]
            else:
                mask = image_data(buf, mhdu, source)  # uint32 stored as int32 + BZERO
        if flux.ndim == 1:
            flux = flux[None, :]
            ivar = None if ivar is None else ivar[None, :]
            mask = None if mask is None else np.asarray(mask).reshape(1, -1)
        arms.append((wave, flux, ivar, mask))
    if not arms:
        raise SpectrumFormatError(source, "DESI file without B_FLUX, R_FLUX or Z_FLUX")
    return fmap, arms


def _desi_target(
    primary: HDU, fmap: dict, arms: list, row: int, source: str, layout: str
) -> Spectrum:
    """One row of a DESI file (a target of a coadd, a target's exposure of a spectra file): its
    arms one after the other, each a segment (the arms' wavelength grids increase, so nothing is
    sorted)."""
    waves = [a[0] for a in arms]
    ends = np.cumsum([w.shape[0] for w in waves])
    segments = tuple((int(e - w.shape[0]), int(e)) for w, e in zip(waves, ends))
    ivar = None
    if all(a[2] is not None for a in arms):
        ivar = np.concatenate([a[2][row] for a in arms])
    mask = None
    if all(a[3] is not None for a in arms):
        mask = np.concatenate([np.asarray(a[3][row]) != 0 for a in arms])
    meta = primary.meta()
    meta.update(
        RA=float(fmap["TARGET_RA"][row]) if "TARGET_RA" in fmap else None,
        DEC=float(fmap["TARGET_DEC"][row]) if "TARGET_DEC" in fmap else None,
    )
    for key in ("TARGETID", "EXPID", "NIGHT", "TILEID", "FIBER"):
        if key in fmap:
            meta[key] = int(fmap[key][row])
    if "MJD" in fmap:
        meta["MJD"] = float(fmap["MJD"][row])
    return make_spectrum(
        np.concatenate(waves),
        u.AA,
        np.concatenate([a[1][row] for a in arms]),
        ivar=ivar,
        mask=mask,
        meta=meta,
        layout=layout,
        source=source,
        medium="vacuum",
        segments=segments,
    )


def read_desi(
    buf: bytes | bytearray,
    primary: HDU,
    ext: HDU,
    source: str,
    select: str | None = None,
    layout: str = "desi-coadd",
) -> Spectrum:
    """``desi-coadd`` / ``desi-spectra``: a DESI coadd-* or spectra-* file: FIBERMAP + per arm
    (B, R, Z) WAVELENGTH, FLUX, IVAR, MASK images, one row per target (coadd) or per target and
    exposure (spectra: one TARGETID in several rows).

    ``select`` picks the row: ``"TARGETID=<n>"`` (``"TARGETID=<n>,EXPID=<e>"`` in a spectra
    file, where ``TARGETID`` alone is refused when it names several exposures) or a row number;
    a file of one row needs none. The arms become segments (preprocessing takes the one covering
    the cutout). Bad pixels: ``MASK != 0`` or ``ivar == 0``. Medium: vacuum.
    """
    fmap, arms = _desi_arrays(buf, ext, source)
    row = _select_row(_address_ids(layout, fmap), select, source)
    return _desi_target(primary, fmap, arms, row, source, layout)


#: a primary HDU of nothing, to open tile-compressed extensions on their own
_EMPTY_PRIMARY = fits.PrimaryHDU().header.tostring().encode("ascii")


def _rice_rows(buf: bytes | bytearray, hdu: HDU, source: str) -> np.ndarray | None:
    """A RICE_1 tile-compressed integer image of one tile per row (as DESI writes its masks)
    decoded straight from the heap, ``BZERO`` applied (uint32 masks); ``None`` for any other
    kind, which astropy then reads."""
    h = hdu.header
    if (
        Rice1 is None
        or str(h.get("ZCMPTYPE", "")).strip() != "RICE_1"
        or h.get("ZNAXIS") != 2
        or h.get("ZTILE2", 1) != 1
        or h.get("ZTILE1") != h.get("ZNAXIS1")
        or h.get("ZBITPIX") not in (8, 16, 32)
        or h.get("TFIELDS") != 1
        or str(h.get("TTYPE1", "")).strip().upper() != "COMPRESSED_DATA"
        or h.get("BSCALE", 1) != 1
        or any(str(h.get(f"ZNAME{i}", "")).strip() == "NOISEBIT" for i in (1, 2, 3))
    ):
        return None
    form = str(h.get("TFORM1", "")).strip().upper().lstrip("1")
    if form[:1] not in ("P", "Q") or not isinstance(h.get("NAXIS2"), int):
        return None
    params = {str(h.get(f"ZNAME{i}", "")).strip().upper(): h.get(f"ZVAL{i}") for i in (1, 2)}
    bytepix = abs(int(h["ZBITPIX"])) // 8
    blocksize = int(params.get("BLOCKSIZE") or 32)
    ncol, nrow = int(h["ZNAXIS1"]), int(h["NAXIS2"])
    if nrow != h.get("ZNAXIS2") or int(params.get("BYTEPIX") or bytepix) != bytepix:
        return None
    dtype = ">i4" if form[0] == "P" else ">i8"
    if hdu.data_start + 2 * nrow * int(dtype[-1]) > len(buf):
        raise SpectrumFormatError(source, f"truncated FITS: HDU {hdu.index} ends early")
    desc = np.frombuffer(buf, dtype=dtype, count=2 * nrow, offset=hdu.data_start).reshape(nrow, 2)
    heap = hdu.data_start + int(h.get("THEAP", int(h["NAXIS1"]) * nrow))
    try:
        codec = Rice1(blocksize=blocksize, bytepix=bytepix, tilesize=ncol)
    except TypeError:  # a private class whose signature moved: the CompImageHDU path
        return None
    out = np.empty((nrow, ncol), dtype=f"i{bytepix}")
    raw = np.frombuffer(buf, dtype=np.uint8)
    try:
        for r, (n, off) in enumerate(desc.tolist()):
            if off < 0 or n < 0 or heap + off + n > len(buf):
                raise ValueError(f"tile {r} lies outside the file")
            out[r] = codec.decode(raw[heap + off : heap + off + n])
    except Exception as exc:  # cfitsio's decoder raises its own CfitsioException (private)
        raise SpectrumFormatError(
            source, f"corrupt tile-compressed image in HDU {hdu.index}: {exc}"
        ) from None
    bzero = h.get("BZERO", 0)
    if bzero == 1 << (8 * bytepix - 1):  # unsigned integers stored signed
        return out.view(f"u{bytepix}") ^ np.array(bzero, dtype=f"u{bytepix}")
    return out + bzero if bzero else out


def _compressed_images(
    buf: bytes | bytearray, hdus: list[HDU], starts: dict[int, int], source: str
) -> dict[int, np.ndarray]:
    """Tile-compressed images (DESI masks) through astropy, by HDU number: the compressed HDUs
    alone behind an empty primary, opened once (opening the whole file once per mask parsed
    every header of the file each time)."""
    out = {}
    for h in hdus:
        rows = _rice_rows(buf, h, source)
        if rows is not None:
            out[h.index] = rows
    hdus = [h for h in hdus if h.index not in out]
    if not hdus:
        return out
    parts = [_EMPTY_PRIMARY] + [bytes(buf[starts[h.index] : h.next_start]) for h in hdus]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(io.BytesIO(b"".join(parts)), memmap=False) as hdul:
                for i, h in enumerate(hdus, start=1):
                    out[h.index] = np.asarray(hdul[i].data)
                return out
    except Exception as exc:  # astropy's and cfitsio's errors (CfitsioException among them)
        raise SpectrumFormatError(
            source, f"corrupt tile-compressed image: {type(exc).__name__}: {exc}"
        ) from None

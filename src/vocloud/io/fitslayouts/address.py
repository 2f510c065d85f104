"""Files of many spectra (docs/layouts.md, "Files of many spectra"): the address of each
spectrum of a DESI coadd or spectra file, an SDSS spPlate or, by order, an echelle file
(:func:`spectrum_addresses`, from headers and id columns alone), and several spectra read from
one parse of their file (:func:`read_fits_many`)."""

from __future__ import annotations

import numpy as np

from vocloud.io.fitslayouts.crires import CriresFile, crires_orders
from vocloud.io.fitslayouts.desi import _desi_arrays, _desi_target
from vocloud.io.fitslayouts.detect import _locate
from vocloud.io.fitslayouts.dispatch import read_fits
from vocloud.io.fitslayouts.hst import _x1d_order, _x1d_parts
from vocloud.io.fitslayouts.iraf import _multispec, _multispec_beams
from vocloud.io.fitslayouts.sdss import _spplate_arrays, _spplate_fibre
from vocloud.io.fitslayouts.select import (
    ADDRESS_KEYS,
    ORDER_LAYOUTS,
    _address_ids,
    _fragment,
    _one_order,
    _select_order,
    _select_row,
)
from vocloud.io.fitsparse import HDU, table_columns
from vocloud.io.spectrum import Spectrum, SpectrumFormatError

#: what :func:`spectrum_addresses` lists: each spectrum of a file of many, or also each order
LIST_BY = ("spectrum", "order")


def read_fits_many(
    buf: bytes | bytearray, source: str, selects: list[str | None], names: list[str] | None = None
) -> list[Spectrum | SpectrumFormatError]:
    """Several spectra of one file, the file parsed once (DESI coadd and spectra files: hundreds
    of targets; SDSS spPlates: 640-1000 fibres).

    ``names[i]`` is the ``source`` of spectrum ``i`` (its address); each entry is the spectrum or
    the error of that entry. The orders of an echelle file (``ORDER=<m>``: IRAF multispec, HST
    x1d, CRIRES+ extracted) are likewise taken from one parse. Other layouts read the one spectrum the file holds
    for each entry.
    """
    names = names if names is not None else [source] * len(selects)
    layout, primary, ext = _locate(buf, source)
    if layout in ORDER_LAYOUTS and any(sel is not None for sel in selects):
        return _orders_many(buf, layout, primary, ext, source, selects, names)
    if layout == "sdss-spplate":
        plate = _spplate_arrays(buf, primary, source)
        many: list[Spectrum | SpectrumFormatError] = []
        for sel, name in zip(selects, names):
            try:
                row = _select_row({"FIBERID": plate["FIBERID"]}, sel, name)
                many.append(_spplate_fibre(primary, plate, row, name))
            except SpectrumFormatError as exc:
                many.append(exc)
        return many
    if layout not in ADDRESS_KEYS or ext is None:
        out: list[Spectrum | SpectrumFormatError] = []
        for sel, name in zip(selects, names):
            try:
                out.append(read_fits(buf, name, sel))
            except SpectrumFormatError as exc:
                out.append(exc)
        return out
    fmap, arms = _desi_arrays(buf, ext, source)
    ids = _address_ids(layout, fmap)
    out = []
    for sel, name in zip(selects, names):
        try:
            row = _select_row(ids, sel, name)
            out.append(_desi_target(primary, fmap, arms, row, name, layout))
        except SpectrumFormatError as exc:
            out.append(exc)
    return out


def _orders_many(
    buf: bytes | bytearray,
    layout: str,
    primary: HDU,
    ext: HDU | None,
    source: str,
    selects: list[str | None],
    names: list[str],
) -> list[Spectrum | SpectrumFormatError]:
    """Orders of one echelle file (``read_fits_many``): the file parsed once, each order made
    when its entry asks for it."""
    if layout == "iraf-multispec":
        lazy, aps, beams = _multispec(buf, primary, source, ext)
    elif layout == "crires-extracted":
        assert ext is not None
        crires = CriresFile(buf, primary, ext, source)
    else:
        assert ext is not None
        parts, orders = _x1d_parts(buf, primary, ext, source)
    out: list[Spectrum | SpectrumFormatError] = []
    for sel, name in zip(selects, names):
        try:
            if sel is None:
                out.append(read_fits(buf, name))
            elif layout == "iraf-multispec":
                row = _select_order(beams, sel, name)
                one = _one_order(lazy, lazy.take([row]), beams[row], {"APERTURE": int(aps[row])})
                one.source = name
                out.append(one)
            elif layout == "crires-extracted":
                out.append(crires.order(sel, name))
            else:
                out.append(_x1d_order(primary, parts, orders, sel, name))
        except SpectrumFormatError as exc:
            out.append(exc)
    return out


def spectrum_addresses(
    buf: bytes | bytearray, source: str = "<bytes>", by: str = "spectrum"
) -> list[str] | None:
    """The address (``#`` fragment) of each spectrum of a file of many, in file order, or
    ``None`` for a file of one spectrum.

    DESI coadds: ``TARGETID=<id>``; DESI spectra files, where a target has a row per exposure:
    ``TARGETID=<id>,EXPID=<e>``; SDSS spPlates: ``FIBERID=<n>``. With ``by="order"`` an echelle
    file (IRAF multispec, HST x1d with ``SPORDER``, CRIRES+ extracted) is a file of many too, one
    spectrum per order: ``ORDER=<m>`` (the beam number of its ``specN`` string, the row's
    ``SPORDER``, the CRIRES+ ``ESO QC REALORDERn`` or else the cr2res order index). Should a
    file's ids not tell its rows apart, every address of that file is its row number
    (``"<row>"``), so no two spectra ever share one.

    Only headers and id columns are read: no flux, so a memory-mapped file is read only where its
    headers and ids are.

    Parameters
    ----------
    buf : bytes, bytearray or mmap
        The whole (uncompressed) file.
    source : str
        File name for error messages.
    by : {"spectrum", "order"}
        ``"order"``: also split echelle files into their orders.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from vocloud.io.fitsparse import hdu_bytes
    >>> img = fits.PrimaryHDU(np.ones(4, dtype=np.float32))
    >>> img.header.update(CRVAL1=6500.0, CDELT1=1.0)
    >>> spectrum_addresses(hdu_bytes(img)) is None
    True
    >>> ech = fits.PrimaryHDU(np.ones((2, 3), dtype=np.float32))
    >>> ech.header.update(CTYPE1="MULTISPE", WAT0_001="system=multispec",
    ...     WAT2_001='wtype=multispec spec1 = "1 61 0 6500. 1. 3 0. 1. 2." spec2 = "2 60 0 6600. 1.',
    ...     WAT2_002=' 3 0. 3. 4."')
    >>> spectrum_addresses(hdu_bytes(ech)) is None, spectrum_addresses(hdu_bytes(ech), by="order")
    (True, ['ORDER=61', 'ORDER=60'])
    """
    if by not in LIST_BY:
        raise ValueError(f"by: expected one of {', '.join(LIST_BY)}, got {by!r}")
    layout, primary, ext = _locate(buf, source)
    if layout == "sdss-spplate":
        ids = {"FIBERID": _spplate_arrays(buf, primary, source)["FIBERID"]}
    elif layout in ADDRESS_KEYS and ext is not None:
        ids = _address_ids(layout, table_columns(buf, ext, list(ADDRESS_KEYS[layout]), source))
        if "TARGETID" not in ids:
            raise SpectrumFormatError(source, "DESI FIBERMAP without a TARGETID column")
    elif by == "order" and layout == "iraf-multispec":
        hdu = ext if ext is not None else primary
        beams = _multispec_beams(hdu.header, hdu.shape[-2])
        if beams is None:
            return None  # listed as the file: its read says what is wrong
        ids = {"ORDER": beams}
    elif by == "order" and layout == "hst-x1d" and ext is not None:
        orders = table_columns(buf, ext, ["SPORDER"], source).get("SPORDER")
        if orders is None:
            return None
        ids = {"ORDER": np.asarray(orders).reshape(-1)}
    elif by == "order" and layout == "crires-extracted" and ext is not None:
        _, traces, numbers = crires_orders(buf, ext, source)
        ids = {"ORDER": np.array([numbers[i] for i in sorted(traces)], dtype=np.int64)}
    else:
        return None
    n = len(ids[next(iter(ids))])
    if "ORDER" in ids and n < 2:
        return None  # a file of one order is a file of one spectrum
    frags = [_fragment(ids, i) for i in range(n)]
    if len(set(frags)) < n:  # the ids do not tell the rows apart: rows always do
        return [str(i) for i in range(n)]
    return frags

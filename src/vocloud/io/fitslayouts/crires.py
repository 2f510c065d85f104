"""ESO CRIRES+ (docs/layouts.md): ``crires-extracted``, the extracted 1-D spectra of the cr2res
pipeline (``cr2res_obs_nodding_extractedA/B.fits``, ``cr2res_obs_staring_extracted.fits``...,
``ESO DRS TYPE = 'EXTRACT_1D'``): one binary table per detector, ``CHIP1.INT1`` to
``CHIP3.INT1``, of one row per detector column (2048) and a column set per echelle order and
trace, ``OO_TT_SPEC``, ``OO_TT_ERR``, ``OO_TT_WL`` (float64; wavelength in nm). ``OO`` is the
pipeline's order index (negative indices + 100), ``TT`` the trace number; the echelle order
itself is ``ESO QC REALORDER<OO>`` of the detector's header when the pipeline knew the order
zero point. A trace the pipeline could not extract is NaN throughout; a detector it did not
reduce is an extension without a table.

Every (order, detector) of one trace is a segment (trace 1, else the lowest the order has);
``#ORDER=<m>`` gives that order's detectors as the segments of one spectrum.
"""

from __future__ import annotations

import re
from typing import Any

import astropy.units as u
import numpy as np

from vocloud.io.fitslayouts.base import _all_hdus, _join
from vocloud.io.fitslayouts.select import _select_order
from vocloud.io.fitsparse import HDU, table_columns, table_layout
from vocloud.io.spectrum import (
    Spectrum,
    SpectrumFormatError,
    header_medium,
    ivar_from_error,
    make_spectrum,
)

#: the detector tables of a cr2res product (cr2res_io_create_extname: ``CHIP%d.INT1``)
CHIP_EXTNAME = re.compile(r"^CHIP([1-9])\.INT1$")
#: a column of an EXTRACT_1D table (cr2res_dfs_SPEC_colname: ``%02d_%02d_%s``)
COLUMN = re.compile(r"^(\d\d)_(\d\d)_(SPEC|ERR|WL)$")
_NM_TO_AA = u.nm.to(u.AA)


def chip_number(hdu: HDU) -> int | None:
    """The detector number of a ``CHIPn.INT1`` extension, else None."""
    m = CHIP_EXTNAME.match(str(hdu.header.get("EXTNAME", "")).strip().upper())
    return int(m.group(1)) if m else None


def spectrum_columns(hdu: HDU, source: str) -> dict[tuple[int, int], dict[str, str]]:
    """``{(order index, trace): {"SPEC": key, "ERR": key, "WL": key}}`` of a detector table
    (only the column sets with both a ``_SPEC`` and a ``_WL`` column)."""
    sets: dict[tuple[int, int], dict[str, str]] = {}
    if hdu.xtension != "BINTABLE":
        return sets
    for c in table_layout(hdu, source):
        m = COLUMN.match(c.key)
        if m:
            sets.setdefault((int(m.group(1)), int(m.group(2))), {})[m.group(3)] = c.key
    return {k: v for k, v in sets.items() if "SPEC" in v and "WL" in v}


def _real_order(headers: list[dict[str, Any]], idxp: int) -> int | None:
    for h in headers:
        v = h.get(f"ESO QC REALORDER{idxp}")
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def _order_numbers(chips: list[HDU], idxps: list[int]) -> dict[int, int]:
    """Order index -> the number an address uses: the echelle order (``ESO QC REALORDERn``)
    when every order has one, else the pipeline's order index."""
    headers = [c.header for c in chips]
    real = {i: _real_order(headers, i) for i in idxps}
    if all(v is not None for v in real.values()) and len(set(real.values())) == len(real):
        return {i: int(v) for i, v in real.items() if v is not None}
    return {i: i for i in idxps}


def _chips(buf: bytes | bytearray, first: HDU, source: str) -> list[HDU]:
    """The ``CHIPn.INT1`` HDUs from ``first`` (HDU 1, parsed already by the detection) on."""
    return [h for h in _all_hdus(buf, first, source) if chip_number(h) is not None]


def _traces(chips: list[HDU], source: str) -> dict[int, int]:
    """Order index -> the trace read: 1 where the order has it, else its lowest."""
    seen: dict[int, set[int]] = {}
    for chip in chips:
        for idxp, trace in spectrum_columns(chip, source):
            seen.setdefault(idxp, set()).add(trace)
    return {i: (1 if 1 in t else min(t)) for i, t in seen.items()}


def crires_orders(
    buf: bytes | bytearray, ext: HDU, source: str
) -> tuple[list[HDU], dict[int, int], dict[int, int]]:
    """The detector tables from HDU 1 ``ext`` on, the trace read per order index and the order
    number of each index (headers and column names only: what :func:`spectrum_addresses`
    lists)."""
    chips = _chips(buf, ext, source)
    traces = _traces(chips, source)
    return chips, traces, _order_numbers(chips, sorted(traces))


def _segment(
    cols: dict[str, np.ndarray], keys: dict[str, str], meta: dict[str, Any], source: str
) -> Spectrum | None:
    """One (order, detector): pixels with a wavelength (> 0, finite), NaN flux and an error that
    is not positive bad; None for a trace the pipeline left NaN or without wavelengths."""
    wave = np.asarray(cols[keys["WL"]], dtype=np.float64)
    keep = np.isfinite(wave) & (wave > 0)
    flux = np.asarray(cols[keys["SPEC"]], dtype=np.float64)
    if not keep.any() or not np.isfinite(flux[keep]).any():
        return None
    err = cols.get(keys.get("ERR", ""))
    ivar = ivar_from_error(err[keep]) if err is not None else None
    bad = ~np.isfinite(flux[keep])
    if ivar is not None:
        bad |= ivar == 0
    # in Angstrom by astropy's own nm -> AA factor: the same values as the unit conversion that
    # joining the segments would make, without its cost per segment
    return make_spectrum(
        wave[keep] * _NM_TO_AA,
        u.AA,
        flux[keep],
        ivar=ivar,
        mask=bad,
        meta=meta,
        layout="crires-extracted",
        source=source,
    )


class CriresFile:
    """A cr2res EXTRACT_1D file parsed once: its orders, each a list of detector segments
    (read when first asked for)."""

    def __init__(self, buf: bytes | bytearray, primary: HDU, ext: HDU, source: str) -> None:
        self.buf, self.primary, self.source = buf, primary, source
        drs = str(primary.header.get("ESO DRS TYPE", "EXTRACT_1D")).strip().upper()
        if drs != "EXTRACT_1D":  # EXTRACT_2D (cr2res_obs_2d): a row per pixel of the 2-D frame
            raise SpectrumFormatError(
                source, f"cr2res {drs} table: only EXTRACT_1D extracted spectra are read"
            )
        self.chips, self.traces, self.numbers = crires_orders(buf, ext, source)
        self._columns: dict[int, dict[str, np.ndarray]] = {}
        # parsed once per file: the column sets of each detector and the primary's metadata
        self._sets = {c.index: spectrum_columns(c, source) for c in self.chips}
        self._meta = primary.meta()
        if not self.traces:
            raise SpectrumFormatError(
                source, "CRIRES+ extracted file without any OO_TT_SPEC/OO_TT_WL column"
            )

    def _read(self, chip: HDU) -> dict[str, np.ndarray]:
        if chip.index not in self._columns:
            want = [k for ks in self._sets[chip.index].values() for k in ks.values()]
            cols = table_columns(self.buf, chip, want, self.source)
            for k in want:  # the masks would flatten a vector into pixels
                if cols[k].ndim != 1:
                    raise SpectrumFormatError(
                        self.source, f"CRIRES+ column {k} holds {cols[k].shape[1:]} values a row"
                    )
            self._columns[chip.index] = cols
        return self._columns[chip.index]

    def order_parts(self, idxp: int) -> list[Spectrum]:
        """The detectors of order index ``idxp`` as spectra, detector 1 first."""
        parts = []
        for chip in sorted(self.chips, key=lambda c: chip_number(c) or 0):
            keys = self._sets[chip.index].get((idxp, self.traces[idxp]))
            if keys is None:
                continue
            meta = {
                "ORDER": self.numbers[idxp],
                "TRACE": self.traces[idxp],
                "DETECTOR": chip_number(chip),
            }
            part = _segment(self._read(chip), keys, meta, self.source)
            if part is not None:
                parts.append(part)
        return parts

    def medium(self) -> str | None:
        return header_medium(self.primary.header, "vacuum")

    def whole(self, name: str) -> Spectrum:
        """Every order and detector as segments, in increasing wavelength."""
        parts = [p for i in sorted(self.traces) for p in self.order_parts(i)]
        if not parts:
            raise SpectrumFormatError(name, "no extracted CRIRES+ order has flux and wavelengths")
        parts.sort(key=lambda p: float(np.min(p.wavelength_aa)))
        s = _join(parts, self.primary, "crires-extracted", name, self.medium(), self._meta)
        for k in ("ORDER", "TRACE", "DETECTOR"):
            s.meta.pop(k, None)
        return s

    def order(self, select: str, name: str) -> Spectrum:
        """The order ``select`` (``ORDER=<m>`` or ``<row>``, rows in the order-index order)
        addresses: its detectors as segments, ``meta["ORDER"]`` and ``meta["TRACE"]`` set."""
        idxps = sorted(self.traces)
        row = _select_order(np.array([self.numbers[i] for i in idxps]), select, name)
        idxp = idxps[row]
        parts = self.order_parts(idxp)
        if not parts:
            raise SpectrumFormatError(
                name, f"ORDER {self.numbers[idxp]} has no extracted flux with wavelengths"
            )
        parts.sort(key=lambda p: float(np.min(p.wavelength_aa)))
        s = _join(parts, self.primary, "crires-extracted", name, self.medium(), self._meta)
        s.meta.pop("DETECTOR", None)
        s.meta.update(ORDER=self.numbers[idxp], TRACE=self.traces[idxp], ORDER_INDEX=idxp)
        return s


def read_crires_extracted(
    buf: bytes | bytearray, primary: HDU, ext: HDU, source: str, select: str | None = None
) -> Spectrum:
    """``crires-extracted``: ESO CRIRES+ cr2res extracted spectra (module docstring). Medium:
    **vacuum** (cr2res calibrates on the vacuum uranium lists of Redman et al. 2011 and
    Sarmiento et al. 2018), unless a header says otherwise.

    Without ``select`` every (order, detector) is a segment of one spectrum; ``"ORDER=<m>"``
    (or ``"<row>"``) gives one order, its detectors as segments.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from vocloud.io.fitslayouts import read_fits
    >>> from vocloud.io.fitsparse import hdu_bytes
    >>> def chip(n, wl0):
    ...     cols = [fits.Column(f"02_01_{k}", "D", array=a) for k, a in
    ...             (("SPEC", np.ones(3)), ("ERR", [0.5, 0.0, 0.5]), ("WL", wl0 + np.arange(3.0)))]
    ...     hdu = fits.BinTableHDU.from_columns(cols, name=f"CHIP{n}.INT1")
    ...     hdu.header["HIERARCH ESO QC REALORDER2"] = 7
    ...     return hdu
    >>> buf = hdu_bytes(fits.PrimaryHDU(), chip(1, 2000.0), chip(2, 2010.0))
    >>> s = read_fits(buf, "cr2res.fits", "ORDER=7")
    >>> s.layout, s.medium, s.meta["ORDER"], s.segments
    ('crires-extracted', 'vacuum', 7, ((0, 3), (3, 6)))
    >>> s.wavelength_aa[:3], s.ivar[:3]
    (array([20000., 20010., 20020.]), array([4., 0., 4.]))
    """
    f = CriresFile(buf, primary, ext, source)
    return f.whole(source) if select is None else f.order(select, source)

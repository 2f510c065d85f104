"""VOTable spectra (IVOA Spectrum Data Model, as DaCHS and SODA return them).

The spectral and flux FIELDs are found by utype (``spec:Spectrum.Data.SpectralAxis.Value``,
``...FluxAxis.Value``), then by UCD (``em.wl``/``em.freq``/``em.energy``, ``phot.flux*``),
then by name (``spectral``, ``wavelength``..., ``flux``). An error FIELD (utype
``...FluxAxis.Accuracy.StatError``, UCD ``stat.error``, or name ``flux_error``) becomes the
inverse variance. PARAMs become ``Spectrum.meta``. TABLEDATA, BINARY and BINARY2 serialisations
are all read by :func:`astropy.io.votable.parse`; a TABLEDATA body of plain numbers is split out
first and converted in one numpy call (astropy converts it cell by cell, an order of magnitude
slower: docs/performance.md, Reading).

Examples
--------
>>> vot = b'''<?xml version="1.0"?>
... <VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
... <PARAM name="OBJECT" datatype="char" arraysize="*" value="HD 1"/>
... <FIELD name="spectral" datatype="double" unit="nm" ucd="em.wl"/>
... <FIELD name="flux" datatype="float"/>
... <DATA><TABLEDATA><TR><TD>650</TD><TD>1.5</TD></TR><TR><TD>651</TD><TD>1.25</TD></TR>
... </TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>'''
>>> s = read_votable(vot, "x.vot")
>>> s.wavelength, s.flux, s.meta["OBJECT"]
(<Quantity [650., 651.] nm>, array([1.5 , 1.25], dtype=float32), 'HD 1')
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from typing import Any

import numpy as np
from astropy.io.votable import parse

from vocloud.io.spectrum import (
    Spectrum,
    SpectrumFormatError,
    header_medium,
    ivar_from_error,
    make_spectrum,
)
from vocloud.io.spectrum import spectral_unit as _spectral_unit

__all__ = ["read_votable"]

_SPECTRAL_UCDS = ("em.wl", "em.freq", "em.energy", "em.wavenumber")
_SPECTRAL_NAMES = ("spectral", "wavelength", "wave", "lambda", "wl", "loglam")
_ERROR_NAMES = ("flux_error", "fluxerror", "flux_err", "error", "err", "sigma")


def _ucd_words(field: Any) -> list[str]:
    return [w.strip().lower() for w in (field.ucd or "").split(";") if w.strip()]


def _utype(field: Any) -> str:
    return (field.utype or "").lower()


def _is_spectral_ucd(field: Any) -> bool:
    words = _ucd_words(field)
    return bool(words) and any(
        words[0] == w or words[0].startswith(w + ".") for w in _SPECTRAL_UCDS
    )


def _is_flux_ucd(field: Any) -> bool:
    words = _ucd_words(field)
    return (
        bool(words)
        and (words[0].startswith("phot.flux") or words[0].startswith("phot.count"))
        and "stat.error" not in words
    )


def _is_error_ucd(field: Any) -> bool:
    words = _ucd_words(field)
    return "stat.error" in words and any(w.startswith("phot.") for w in words)


def _pick(fields: list[Any], *tests: Any) -> int | None:
    """Index of the first field passing the first test that any field passes."""
    for test in tests:
        for i, f in enumerate(fields):
            if test(f):
                return i
    return None


def _name_is(names: tuple[str, ...]) -> Any:
    return lambda f: (f.name or f.ID or "").strip().lower() in names


def _column(table: Any, index: int, float32_ok: bool) -> np.ndarray:
    """Column ``index`` of the table as a 1-D float array, masked values as NaN."""
    arr = table.array
    col = arr[arr.dtype.names[index]]
    data = np.ma.getdata(col)
    mask = np.ma.getmaskarray(col)
    if data.dtype == object or data.ndim > 1:  # array-valued cells: one row holding the spectrum
        if data.shape[0] != 1:
            raise ValueError(f"{data.shape[0]} rows of array-valued cells")
        data = np.asarray(data[0])
        mask = np.ma.getmaskarray(data) if np.ma.isMaskedArray(data) else None
        data = np.ma.getdata(data)
    ftype = data.dtype if (float32_ok and data.dtype.kind == "f") else np.float64
    out = np.array(data, dtype=ftype)
    if mask is not None and out.shape == mask.shape and mask.any():
        out[mask] = np.nan
    return out


_TD = re.compile(rb"<TD(?:\s[^>]*)?(?:/>|>([^<]*)</TD>)")
_TR = re.compile(rb"<TR[\s>/]")


def _split_tabledata(buf: bytes) -> tuple[bytes, bytes] | None:
    """``(document without the TABLEDATA rows, the rows)`` for a single TABLEDATA, else None."""
    start = buf.find(b"<TABLEDATA>")
    if start < 0 or buf.find(b"<TABLEDATA>", start + 1) >= 0:
        return None
    end = buf.find(b"</TABLEDATA>", start)
    if end < 0 or b"<![CDATA[" in buf[start:end]:
        return None
    return buf[: start + 11] + buf[end:], buf[start + 11 : end]


_STREAM = re.compile(rb"<(BINARY2?)>\s*<STREAM\s+encoding=[\"']base64[\"']\s*>([^<]*)</STREAM>")
_BIN_TYPES = {
    "double": ">f8",
    "float": ">f4",
    "long": ">i8",
    "int": ">i4",
    "short": ">i2",
    "unsignedByte": "u1",
}


def _split_binary(buf: bytes) -> tuple[bytes, str, bytes] | None:
    """``(document without the stream, 'BINARY' or 'BINARY2', base64 text)`` or None."""
    matches = list(_STREAM.finditer(buf))
    if len(matches) != 1:
        return None
    m = matches[0]
    head = buf[: m.start(2)] + buf[m.end(2) :]
    return head, m.group(1).decode(), m.group(2)


def _binary_rows(kind: str, b64: bytes, fields: list[Any]) -> np.ndarray | None:
    """The rows of a BINARY/BINARY2 stream of scalar numeric (or fixed char) fields, or None."""
    dtype: list[tuple[str, Any]] = []
    nfields = len(fields)
    if kind == "BINARY2":
        dtype.append(("__nulls", "u1", ((nfields + 7) // 8,)))
    for i, f in enumerate(fields):
        size = (f.arraysize or "").strip()
        if f.datatype in _BIN_TYPES and not size:
            dtype.append((f"f{i}", _BIN_TYPES[f.datatype]))
        elif f.datatype == "char" and size.isdigit():
            dtype.append((f"f{i}", f"S{size}"))
        else:
            return None
    rec = np.dtype(dtype)
    raw = base64.b64decode(b64)
    if not raw or len(raw) % rec.itemsize:
        return None
    rows = np.frombuffer(raw, dtype=rec)
    out = np.empty((rows.size, nfields), dtype=object)
    for i in range(nfields):
        col = rows[f"f{i}"]
        if col.dtype.kind in "iuf" and kind == "BINARY2":
            null = (rows["__nulls"][:, i // 8] >> (7 - i % 8)) & 1
            if null.any():
                col = col.astype(np.float64)
                col[null.astype(bool)] = np.nan
        out[:, i] = col
    return out


def _tabledata_cells(body: bytes, nfields: int) -> np.ndarray | None:
    """The TABLEDATA cells as a (rows, fields) bytes array, or None when irregular."""
    cells = _TD.findall(body)
    nrows = len(_TR.findall(body))
    if not nrows or len(cells) != nrows * nfields:
        return None
    return np.array(cells, dtype=bytes).reshape(nrows, nfields)


def _cells_column(cells: np.ndarray, index: int, float32_ok: bool) -> np.ndarray:
    if cells.dtype == object:  # decoded binary rows
        out = np.asarray(cells[:, index].tolist(), dtype=np.float64)
        return out.astype(np.float32) if float32_ok else out
    col = np.char.strip(cells[:, index])
    col[col == b""] = b"nan"
    out = col.astype(np.float64)
    return out.astype(np.float32) if float32_ok else out


def _python(value: Any) -> Any:
    """A PARAM value as a plain python object (``None`` when masked or empty)."""
    if value is None or value is np.ma.masked:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ma.MaskedArray):
        if np.ma.getmaskarray(value).all():
            return None
        value = value.filled()
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_votable(buf: bytes | bytearray, source: str = "<bytes>") -> Spectrum:
    """Read a spectrum from the bytes of a VOTable (Spectrum Data Model or similar).

    Parameters
    ----------
    buf : bytes or bytearray
        The whole VOTable document.
    source : str
        File name for error messages.

    Returns
    -------
    Spectrum
        ``layout="votable-sdm"``; wavelength in the FIELD unit (absent: Angstrom).

    Raises
    ------
    SpectrumFormatError
        ``bad VOTable XML: ...``, ``VOTable without a TABLE``, ``VOTable has no spectral
        FIELD``, an unknown unit...
    """
    buf = bytes(buf)
    split: tuple[bytes, Any] | None = None
    tabledata = _split_tabledata(buf)
    if tabledata is not None:
        split = tabledata
    else:
        binary = _split_binary(buf)
        if binary is not None:
            split = (binary[0], (binary[1], binary[2]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vot = parse(io.BytesIO(split[0] if split else buf), verify="ignore")
            tables = [t for t in vot.iter_tables() if t.fields]
            table = tables[0] if tables else None
            params = [p for p in vot.iter_fields_and_params() if type(p).__name__ == "Param"]
    except Exception as exc:  # expat, VOTableSpecError, ValueError, ... : all mean broken XML
        raise SpectrumFormatError(source, f"bad VOTable XML: {type(exc).__name__}: {exc}") from None
    if table is None:
        raise SpectrumFormatError(source, "VOTable without a TABLE with FIELDs")
    fields = list(table.fields)
    names = [f.name or f.ID for f in fields]

    i_wave = _pick(
        fields,
        lambda f: _utype(f).endswith("spectralaxis.value"),
        _is_spectral_ucd,
        _name_is(_SPECTRAL_NAMES),
    )
    i_flux = _pick(
        fields,
        lambda f: _utype(f).endswith("fluxaxis.value"),
        _is_flux_ucd,
        _name_is(("flux",)),
    )
    if i_wave is None:
        raise SpectrumFormatError(source, f"VOTable has no spectral FIELD: fields {names}")
    if i_flux is None:
        raise SpectrumFormatError(source, f"VOTable has no flux FIELD: fields {names}")
    i_ivar = _pick(fields, _name_is(("ivar",)))
    i_err = None
    if i_ivar is None:
        i_err = _pick(
            fields,
            lambda f: _utype(f).endswith("fluxaxis.accuracy.staterror"),
            _is_error_ucd,
            _name_is(_ERROR_NAMES),
        )

    wfield = fields[i_wave]
    unit_text = None if wfield.unit is None else wfield.unit.to_string()
    is_loglam = (wfield.name or "").strip().lower() == "loglam"
    unit = _spectral_unit(None if is_loglam else unit_text, source)
    cells = None
    if split and isinstance(split[1], tuple):
        try:
            cells = _binary_rows(split[1][0], split[1][1], fields)
        except (ValueError, TypeError):
            cells = None
    elif split:
        cells = _tabledata_cells(split[1], len(fields))
    if cells is not None:
        try:
            getter = _cells_column
            needed = [i for i in (i_wave, i_flux, i_ivar, i_err) if i is not None]
            for i in needed:
                _cells_column(cells[:1], i, False)  # numeric? else the full parse below
            source_table: Any = cells
        except ValueError:
            cells = None
    if cells is None:
        if split:  # irregular or non-numeric rows: let astropy read the whole document
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    vot = parse(io.BytesIO(buf), verify="ignore")
                except Exception as exc:
                    raise SpectrumFormatError(
                        source, f"bad VOTable XML: {type(exc).__name__}: {exc}"
                    ) from None
                table = next(t for t in vot.iter_tables() if t.fields)
        getter = _column
        source_table = table
    try:
        wave = getter(source_table, i_wave, False)
        if is_loglam:
            with np.errstate(over="ignore", invalid="ignore"):
                wave = np.power(10.0, wave)
        flux = getter(source_table, i_flux, True)
        ivar = getter(source_table, i_ivar, False) if i_ivar is not None else None
        if i_err is not None:
            ivar = ivar_from_error(getter(source_table, i_err, False))
    except (ValueError, TypeError) as exc:
        raise SpectrumFormatError(source, f"VOTable column not numeric or not 1-D: {exc}") from None

    meta: dict[str, Any] = {}
    for p in params:
        value = _python(p.value)
        if value is not None and (p.name or p.ID):
            meta[str(p.name or p.ID).upper()] = value
    return make_spectrum(
        wave,
        unit,
        flux,
        ivar=ivar,
        meta=meta,
        layout="votable-sdm",
        source=source,
        medium=header_medium(meta),
    )

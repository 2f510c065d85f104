"""CSV (and whitespace- or tab-separated) text spectra.

Layout (docs/layouts.md): ``# KEY = value`` comment lines with metadata, a header line
``wavelength,flux[,ivar]`` where a unit may follow a name in brackets (``wavelength[nm]``, also
``wavelength (nm)``), then one row per pixel. Recognised column names (any case): wavelength
``wavelength``/``wave``/``lambda``/``loglam``/``spectral``/``wl``; ``flux``; ``ivar``, or an
error ``error``/``err``/``flux_error``/``sigma``; mask ``mask``/``andmask``/``and_mask``.
A file without a header line but with numeric rows is read as wavelength (Angstrom), flux.

Examples
--------
>>> text = b"# OBJECT = HD 1\\n# SNR = 42.5\\nwavelength[nm],flux\\n650.0,1.0\\n650.5,2.0\\n"
>>> s = read_csv_text(text, "x.csv")
>>> s.wavelength, s.flux, s.meta
(<Quantity [650. , 650.5] nm>, array([1., 2.]), {'OBJECT': 'HD 1', 'SNR': 42.5})
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
import pandas as pd

from vocloud.io.fitsparse import _parse_value
from vocloud.io.spectrum import (
    Spectrum,
    SpectrumFormatError,
    header_medium,
    ivar_from_error,
    make_spectrum,
    spectral_unit,
)

__all__ = ["read_csv_text"]

_WAVE = ("wavelength", "wave", "lambda", "loglam", "spectral", "wl")
_ERR = ("error", "err", "flux_error", "flux_err", "sigma")
_MASK = ("mask", "andmask", "and_mask")
_NAME_RE = re.compile(r"^\s*([^\[\(]*?)\s*(?:[\[\(]\s*(.*?)\s*[\]\)])?\s*$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?$|^[+-]?(nan|inf)$", re.I)


def _meta_value(text: str) -> Any:
    """A ``# KEY = value`` comment's value; FITS-card style (``'text' / comment``, ``1.5 /
    comment``, as IRAF ``wspectext`` and many archives' ASCII headers write) is read as a card.

    Examples
    --------
    >>> _meta_value(" 'HD 1    '   / target"), _meta_value(" 59257.93 / [d] MJD"), _meta_value("x")
    ('HD 1', 59257.93, 'x')
    """
    s = text.strip()
    if s[:1] == "'" or " /" in s:
        v = _parse_value(s)
        return v.strip() if isinstance(v, str) else v
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    if s in ("T", "True", "true"):
        return True
    if s in ("F", "False", "false"):
        return False
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def _split(line: str, sep: str | None) -> list[str]:
    return [t.strip() for t in (line.split(sep) if sep else line.split())]


def _first(names: list[str], wanted: tuple[str, ...]) -> int | None:
    for w in wanted:
        if w in names:
            return names.index(w)
    return None


def read_csv_text(buf: bytes | bytearray, source: str = "<bytes>") -> Spectrum:
    """Read a spectrum from CSV text.

    Parameters
    ----------
    buf : bytes or bytearray
        The whole file (UTF-8).
    source : str
        File name for error messages.

    Returns
    -------
    Spectrum
        ``layout="csv"``, float64 arrays; metadata from the ``# KEY = value`` lines.

    Raises
    ------
    SpectrumFormatError
        Not text, no wavelength/flux columns, non-numeric values, unknown unit...
    """
    try:
        text = bytes(buf).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpectrumFormatError(
            source, "not a FITS, VOTable or CSV file: binary data, not UTF-8 text"
        ) from None
    meta: dict[str, Any] = {}
    lines = text.splitlines()
    header_at = None
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            key, eq, value = s.lstrip("#").partition("=")
            key = key.strip()
            if eq and key and " " not in key:
                meta[key.upper()] = _meta_value(value)
            continue
        header_at = i
        break
    if header_at is None:
        raise SpectrumFormatError(source, "CSV without a header line or data rows")
    head = lines[header_at]
    sep = "," if "," in head else ("\t" if "\t" in head else ";" if ";" in head else None)
    tokens = _split(head, sep)
    if len(tokens) >= 2 and all(_NUMBER_RE.match(t) for t in tokens):
        names, units, skip = (
            ["wavelength", "flux"] + [""] * (len(tokens) - 2),
            [None] * len(tokens),
            header_at,
        )
    else:
        if len(tokens) < 2:
            raise SpectrumFormatError(
                source, f"not a FITS, VOTable or CSV file: first line {head[:60]!r}"
            )
        names, units = [], []
        for t in tokens:
            m = _NAME_RE.match(t)
            names.append(m.group(1).strip().lower() if m else t.lower())
            units.append(m.group(2) if m and m.group(2) is not None else None)
        skip = header_at + 1
    i_wave = _first(names, _WAVE)
    i_flux = _first(names, ("flux",))
    if i_wave is None or i_flux is None:
        raise SpectrumFormatError(
            source, f"CSV has no wavelength and flux columns: header {tokens}"
        )
    i_ivar = _first(names, ("ivar",))
    i_err = None if i_ivar is not None else _first(names, _ERR)
    i_mask = _first(names, _MASK)
    unit = spectral_unit(None if names[i_wave] == "loglam" else units[i_wave], source)

    body = "\n".join(lines[skip:])
    if not body.strip():
        raise SpectrumFormatError(source, "CSV without data rows")
    try:
        frame = pd.read_csv(
            io.StringIO(body),
            sep=sep if sep else r"\s+",
            header=None,
            comment="#",
            skipinitialspace=True,
            dtype=np.float64,
            engine="c" if sep else "python",
            skip_blank_lines=True,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpectrumFormatError(source, f"CSV data not numeric or ragged: {msg}") from None
    if frame.shape[1] <= max(i_wave, i_flux):
        raise SpectrumFormatError(
            source, f"CSV rows have {frame.shape[1]} values, header has {len(tokens)}"
        )
    data = frame.to_numpy(dtype=np.float64)
    wave = data[:, i_wave]
    if names[i_wave] == "loglam":
        with np.errstate(over="ignore", invalid="ignore"):
            wave = np.power(10.0, wave)
    flux = np.ascontiguousarray(data[:, i_flux])
    ivar = None
    if i_ivar is not None and i_ivar < data.shape[1]:
        ivar = np.ascontiguousarray(data[:, i_ivar])
    elif i_err is not None and i_err < data.shape[1]:
        ivar = ivar_from_error(data[:, i_err])
    mask = None
    if i_mask is not None and i_mask < data.shape[1]:
        mask = data[:, i_mask] != 0
    return make_spectrum(
        wave,
        unit,
        flux,
        ivar=ivar,
        mask=mask,
        meta=meta,
        layout="csv",
        source=source,
        medium=header_medium(meta),
    )

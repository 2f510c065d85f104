"""Fast FITS parsing straight from the bytes of a file: header cards, HDU offsets, data arrays.

This is the hot path of reading millions of archive files: the 80-character cards are parsed
by one regular-expression pass over the whole header, ``HIERARCH`` and ``CONTINUE`` cards
included (2-4x faster than :meth:`astropy.io.fits.Header.fromstring`, with every value
converted), data offsets computed from the header, and :func:`numpy.frombuffer` with big-endian
dtypes. Binary tables of fixed width are decoded with a cached structured dtype; heap
(``P``/``Q``) columns, ``TSCALn`` / ``TZEROn`` and other rarities fall back to
:mod:`astropy.io.fits`.

Examples
--------
>>> import numpy as np
>>> from astropy.io import fits
>>> hdu = fits.PrimaryHDU(np.arange(4, dtype=np.float32))
>>> hdu.header["CRVAL1"] = 6500.0
>>> buf = hdu_bytes(hdu)
>>> h = read_hdu(buf, 0, 0, "<bytes>")
>>> h.header["CRVAL1"], h.shape
(6500.0, (4,))
>>> image_data(buf, h, "<bytes>")
array([0., 1., 2., 3.], dtype=float32)
"""

from __future__ import annotations

import functools
import io
import re
import warnings
from typing import Any

import numpy as np
from astropy.io import fits

from vocloud.io.spectrum import SpectrumFormatError

__all__ = [
    "BLOCK",
    "HDU",
    "STRUCTURAL",
    "Column",
    "hdu_bytes",
    "image_data",
    "image_raw",
    "parse_header",
    "read_hdu",
    "table_columns",
    "table_layout",
]

BLOCK = 2880
"""Size of a FITS block in bytes."""

_CARD = 80

_STRUCTURAL_BASE = frozenset(
    {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "TFIELDS", "THEAP"}
)
STRUCTURAL = frozenset(
    _STRUCTURAL_BASE
    | {f"{p}{i}" for p in ("NAXIS", "TFORM", "TDIM", "TBCOL") for i in range(1, 1000)}
)
"""Header keywords that describe the file structure, left out of ``Spectrum.meta``."""

_IMAGE_DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}

# TFORM code -> (numpy dtype of one element, bytes per element)
_TFORM_DTYPES = {
    "L": ("i1", 1),
    "B": ("u1", 1),
    "I": (">i2", 2),
    "J": (">i4", 4),
    "K": (">i8", 8),
    "E": (">f4", 4),
    "D": (">f8", 8),
    "C": (">c8", 8),
    "M": (">c16", 16),
}
# One card per line: its key part, a valued card's key in columns 1-8 and "= ", a HIERARCH card's
# words up to the first "=", or CONTINUE; then its value: a quoted string ('' an escaped quote;
# possessive, so that an unclosed string runs to the card's end and is never cut at a '' pair),
# or anything up to a "/" comment.
_CARD_RE = re.compile(
    r"\n([^\n]{8}= |HIERARCH[^\n][^=\n]*=|CONTINUE) *('[^'\n]*+(?:''[^'\n]*+)*+'?|[^/\n]*)"
)
_TFORM_RE = re.compile(r"^\s*(\d*)\s*([LXBIJKAEDCMPQ])(.*)$")


class HDU:
    """One header-data unit located in a byte buffer.

    Attributes
    ----------
    index : int
        0 for the primary HDU, 1 for the first extension...
    header : dict
        Every valued card, upper-case key -> ``str``/``int``/``float``/``bool``.
    data_start : int
        Byte offset of the data in the buffer.
    data_size : int
        Data size in bytes, without the padding to 2880.
    next_start : int
        Byte offset of the next HDU (data padded to 2880).
    """

    __slots__ = ("_columns", "data_size", "data_start", "header", "index", "next_start")

    def __init__(self, index: int, header: dict[str, Any], data_start: int, data_size: int) -> None:
        self.index = index
        self.header = header
        self.data_start = data_start
        self.data_size = data_size
        self.next_start = data_start + -(-data_size // BLOCK) * BLOCK
        self._columns: list[Column] | None = None

    @property
    def xtension(self) -> str:
        """``"PRIMARY"``, or the XTENSION value stripped and upper-cased (``"BINTABLE"``...)."""
        if self.index == 0:
            return "PRIMARY"
        return str(self.header.get("XTENSION", "")).strip().upper()

    @property
    def shape(self) -> tuple[int, ...]:
        """Numpy shape of the data array (``NAXISn`` ... ``NAXIS1``); ``()`` without data."""
        h = self.header
        n = h.get("NAXIS", 0)
        return tuple(int(h.get(f"NAXIS{i}", 0)) for i in range(n, 0, -1))

    def meta(self) -> dict[str, Any]:
        """Header cards without the structural ones (``NAXISn``, ``TFORMn``, ``BITPIX``...)."""
        return {k: v for k, v in self.header.items() if k not in STRUCTURAL}

    def __repr__(self) -> str:
        return f"HDU({self.index}, {self.xtension}, shape={self.shape}, data@{self.data_start})"


def _parse_value(text: str) -> Any:
    """Value of a card from column 11 on (after ``'= '``); ``None`` if undefined."""
    s = text.lstrip()
    if s[:1] == "'":
        # quoted string, '' is an escaped quote; trailing blanks are not significant
        j = 1
        while True:
            j = s.find("'", j)
            if j < 0:  # no closing quote: take the rest
                return s[1:].rstrip()
            if s[j + 1 : j + 2] == "'":
                j += 2
                continue
            return s[1:j].replace("''", "'").rstrip()
    slash = s.find("/")
    if slash >= 0:
        s = s[:slash]
    s = s.strip()
    if not s:
        return None
    if s == "T":
        return True
    if s == "F":
        return False
    if "." in s or "E" in s or "e" in s or "D" in s or "N" in s or "n" in s:
        try:
            return float(s)
        except ValueError:
            try:
                return float(s.replace("D", "E").replace("d", "e"))
            except ValueError:
                return s
    try:
        return int(s)
    except ValueError:
        return s


def parse_header(buf: bytes | bytearray, start: int, source: str) -> tuple[dict[str, Any], int]:
    """Parse the header that begins at byte ``start``.

    Parameters
    ----------
    buf : bytes or bytearray
        The whole file.
    start : int
        Offset of the header's first card.
    source : str
        File name for error messages.

    Returns
    -------
    header : dict
        Upper-case keyword -> value (``str``, ``int``, ``float`` or ``bool``). Commentary
        cards (``COMMENT``, ``HISTORY``, blank) and undefined values are left out; long strings
        continued by ``CONTINUE`` cards are joined; ``HIERARCH`` keywords keep their full name.
    data_start : int
        Offset of the first byte after the header (its data).

    Raises
    ------
    SpectrumFormatError
        ``truncated FITS: header ends without END card``.
    """
    # the END card: first "END     " on a card boundary
    pos = start
    while True:
        pos = buf.find(b"END     ", pos)
        if pos < 0:
            raise SpectrumFormatError(source, "truncated FITS: header ends without END card")
        if (pos - start) % _CARD == 0:
            break
        pos += _CARD - (pos - start) % _CARD
    data_start = start + -(-(pos + _CARD - start) // BLOCK) * BLOCK
    raw = bytes(buf[start:pos])
    if not raw.startswith((b"SIMPLE  = ", b"XTENSION= ")):
        raise SpectrumFormatError(
            source, f"corrupt FITS: header at byte {start} starts with {raw[:10]!r}"
        )
    cards = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CARD)
    if (cards - np.uint8(0x20) > 0x5E).any():
        # a byte outside printable ASCII (FITS allows none): a newline would split a card and
        # str.strip() takes other control bytes for blanks, so the card-by-card parser decides
        return _parse_cards_slow(raw.decode("latin-1")), data_start
    # one line per card, then a single regex pass in C over all the cards
    lines = np.empty((len(cards), _CARD + 1), dtype=np.uint8)
    lines[:, 0] = ord("\n")
    lines[:, 1:] = cards
    return _parse_lines(lines.tobytes().decode("ascii")), data_start


def _parse_lines(text: str) -> dict[str, Any]:
    """The cards of ``text`` (each after a newline) as :func:`_parse_cards_slow` reads them."""
    header: dict[str, Any] = {}
    last_key = None  # the last key given a value: where a CONTINUE card appends
    keys = _CARD_KEYS
    for k, v in _CARD_RE.findall(text):
        if v[:1] == "'":
            if len(v) > 1 and v[-1] == "'" and v[-2] != "'":  # 'closed', the usual string
                value: Any = v[1:-1].replace("''", "'").rstrip()
            else:
                v = v[1:]
                # closed: the closing quote ends an odd run of quotes ('' pairs are escapes)
                if (len(v) - len(v.rstrip("'"))) % 2:
                    value = v[:-1].replace("''", "'").rstrip()
                else:
                    value = v.rstrip()  # no closing quote: the rest of the card, as written
        else:
            v = v.strip()
            if not v:
                continue  # undefined value (a CONTINUE card without a string appends nothing)
            if v == "T":
                value = True
            elif v == "F":
                value = False
            elif "." in v or "E" in v or "e" in v or "D" in v or "N" in v or "n" in v:
                try:
                    value = float(v)
                except ValueError:
                    value = _parse_value(v)
            else:
                try:
                    value = int(v)
                except ValueError:
                    value = v
        key = keys.get(k)
        if key is None:
            key = _card_key(k)
            if len(keys) < 100_000:  # archives repeat a few thousand keywords
                keys[k] = key
        if not key and k == "CONTINUE":
            if last_key is not None:
                prev = header[last_key]
                if isinstance(value, str) and isinstance(prev, str) and prev.endswith("&"):
                    header[last_key] = prev[:-1] + value
            continue
        header[key] = value
        last_key = key
    return header


def _card_key(k: str) -> str:
    """The header key of a card's key part as :data:`_CARD_RE` finds it ("" for CONTINUE)."""
    if k[8:10] == "= ":
        return k[:8].rstrip().upper()
    if k == "CONTINUE":
        return ""
    return " ".join(k[9:-1].split()).upper()  # HIERARCH: its words, single blanks


_CARD_KEYS: dict[str, str] = {}
"""A card's key part as written -> its header key (:func:`_card_key`)."""


def _parse_cards_slow(text: str) -> dict[str, Any]:
    """Card-by-card parser: the reference of :func:`_parse_lines` (tests compare the two) and
    the parser of headers with bytes outside printable ASCII."""
    header: dict[str, Any] = {}
    last_key = None
    for i in range(0, len(text) - _CARD + 1, _CARD):
        key = text[i : i + 8]
        if text[i + 8 : i + 10] == "= ":
            key = key.rstrip()
            value = _parse_value(text[i + 10 : i + _CARD])
        elif key == "HIERARCH":
            card = text[i + 9 : i + _CARD]
            eq = card.find("=")
            if eq < 0:
                continue
            key = " ".join(card[:eq].split())
            value = _parse_value(card[eq + 1 :])
        elif key == "CONTINUE":
            prev = header.get(last_key) if last_key is not None else None
            if isinstance(prev, str) and prev.endswith("&"):
                more = _parse_value(text[i + 8 : i + _CARD])
                if isinstance(more, str):
                    header[last_key] = prev[:-1] + more
            continue
        else:
            continue  # COMMENT, HISTORY, blank and other commentary cards
        if value is None:
            continue
        key = key.upper()
        header[key] = value
        last_key = key
    return header


def _data_size(header: dict[str, Any], source: str) -> int:
    """Size in bytes of the data described by ``header`` (without padding)."""
    try:
        naxis = int(header.get("NAXIS", 0))
        if naxis == 0:
            return 0
        bitpix = int(header["BITPIX"])
        size = 1
        for i in range(1, naxis + 1):
            size *= int(header[f"NAXIS{i}"])
        pcount = int(header.get("PCOUNT", 0))
        gcount = int(header.get("GCOUNT", 1))
    except (KeyError, TypeError, ValueError) as exc:
        raise SpectrumFormatError(source, f"corrupt FITS header: bad or missing {exc}") from None
    if bitpix not in _IMAGE_DTYPES:
        raise SpectrumFormatError(source, f"corrupt FITS header: BITPIX = {bitpix}")
    if size < 0 or pcount < 0:
        raise SpectrumFormatError(source, "corrupt FITS header: negative NAXISn or PCOUNT")
    return abs(bitpix) // 8 * gcount * (pcount + size)


def read_hdu(buf: bytes | bytearray, start: int, index: int, source: str) -> HDU:
    """Parse the HDU whose header begins at ``start`` and check that its data is all there.

    Raises
    ------
    SpectrumFormatError
        ``truncated FITS: ...`` when the header or the data is cut short.
    """
    header, data_start = parse_header(buf, start, source)
    size = _data_size(header, source)
    if data_start + size > len(buf):
        raise SpectrumFormatError(
            source, f"truncated FITS: data needs {data_start + size} bytes, file has {len(buf)}"
        )
    return HDU(index, header, data_start, size)


def image_raw(buf: bytes | bytearray, hdu: HDU) -> np.ndarray:
    """The image of ``hdu`` as stored: a read-only big-endian view of ``buf``, no scaling."""
    shape = hdu.shape
    count = int(np.prod(shape)) if shape else 0
    dtype = _IMAGE_DTYPES[int(hdu.header["BITPIX"])]
    return np.frombuffer(buf, dtype=dtype, count=count, offset=hdu.data_start).reshape(shape)


def image_data(buf: bytes | bytearray, hdu: HDU, source: str) -> np.ndarray:
    """The image of ``hdu`` as a native-endian float array (BSCALE/BZERO/BLANK applied).

    Float images keep their precision (float32 or float64); 8 and 16-bit integer images become
    float32, 32 and 64-bit ones float64, with ``BLANK`` pixels set to NaN.
    """
    h = hdu.header
    bitpix = int(h["BITPIX"])
    raw = image_raw(buf, hdu)
    bscale = h.get("BSCALE", 1)
    bzero = h.get("BZERO", 0)
    if bitpix < 0:
        data = raw.astype(raw.dtype.newbyteorder("="))
        if bscale != 1 or bzero != 0:
            data *= data.dtype.type(bscale)
            data += data.dtype.type(bzero)
        return data
    ftype = np.float32 if bitpix <= 16 else np.float64
    data = raw.astype(ftype)
    if bscale != 1 or bzero != 0:
        data *= ftype(bscale)
        data += ftype(bzero)
    blank = h.get("BLANK")
    if isinstance(blank, int):
        data[raw == blank] = np.nan
    return data


class Column:
    """Description of one binary-table column.

    Attributes
    ----------
    name : str
        ``TTYPEn`` as written (``"col<n>"`` when absent).
    key : str
        Upper-case name, the key of :func:`table_columns` results.
    code : str
        TFORM letter (``"E"``, ``"D"``, ``"J"``...).
    repeat : int
        Elements per row.
    unit : str or None
        ``TUNITn``.
    """

    __slots__ = ("code", "key", "name", "repeat", "unit")

    def __init__(self, name: str, code: str, repeat: int, unit: str | None) -> None:
        self.name = name
        self.key = name.upper()
        self.code = code
        self.repeat = repeat
        self.unit = unit

    def __repr__(self) -> str:
        return f"Column({self.name!r}, {self.repeat}{self.code}, unit={self.unit!r})"


def table_layout(hdu: HDU, source: str) -> list[Column]:
    """The columns of a BINTABLE HDU from its ``TFIELDS``, ``TTYPEn``, ``TFORMn``, ``TUNITn``."""
    if hdu._columns is not None:
        return hdu._columns
    h = hdu.header
    nfields = h.get("TFIELDS", 0)
    if not isinstance(nfields, int) or isinstance(nfields, bool) or not 0 <= nfields <= 999:
        raise SpectrumFormatError(source, f"corrupt FITS table: TFIELDS = {nfields!r}")
    key = tuple(
        (h.get(f"TTYPE{i}"), h.get(f"TFORM{i}"), h.get(f"TUNIT{i}")) for i in range(1, nfields + 1)
    )
    cols = _columns(key)
    if isinstance(cols, str):
        raise SpectrumFormatError(source, cols)
    hdu._columns = list(cols)
    return hdu._columns


@functools.lru_cache(maxsize=256)
def _columns(key: tuple[tuple[Any, Any, Any], ...]) -> tuple[Column, ...] | str:
    """Columns from (TTYPE, TFORM, TUNIT) triples (cached: archives repeat a few layouts)."""
    cols = []
    for i, (ttype, tform, tunit) in enumerate(key, start=1):
        m = _TFORM_RE.match(str(tform)) if tform is not None else None
        if m is None:
            return f"corrupt FITS table: TFORM{i} = {tform!r}"
        repeat = int(m.group(1)) if m.group(1) else 1
        name = str(ttype if ttype is not None else "").strip() or f"col{i}"
        cols.append(Column(name, m.group(2), repeat, None if tunit is None else str(tunit)))
    return tuple(cols)


@functools.lru_cache(maxsize=256)
def _row_dtype(forms: tuple[tuple[str, str, int], ...], itemsize: int) -> np.dtype | None:
    """Structured big-endian dtype of one table row, or ``None`` when the table needs astropy."""
    names, formats, offsets = [], [], []
    offset = 0
    for key, code, repeat in forms:
        if code in "PQX":
            return None
        if code == "A":
            base, width = f"S{max(repeat, 1)}", repeat
            if repeat and key not in names:
                names.append(key)
                formats.append(base)
                offsets.append(offset)
            offset += width
            continue
        base, size = _TFORM_DTYPES[code]
        if repeat and key not in names:
            names.append(key)
            formats.append(base if repeat == 1 else (base, (repeat,)))
            offsets.append(offset)
        offset += size * repeat
    if offset != itemsize:
        return None
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": itemsize})


def _native(col: np.ndarray, code: str) -> np.ndarray:
    if code == "L":
        return np.asarray(col) == ord("T")
    if code == "A":
        return np.char.decode(np.asarray(col), "latin-1")
    return col.astype(col.dtype.newbyteorder("="))


def table_columns(
    buf: bytes | bytearray, hdu: HDU, keys: list[str], source: str
) -> dict[str, np.ndarray]:
    """Read columns of a BINTABLE HDU as native-endian arrays.

    Parameters
    ----------
    buf : bytes or bytearray
        The whole file.
    hdu : HDU
        A ``BINTABLE`` HDU of ``buf``.
    keys : list of str
        Upper-case column names wanted; names that the table lacks are left out of the result.
    source : str
        File name for error messages.

    Returns
    -------
    dict
        Upper-case name -> array of shape ``(NAXIS2,)`` or ``(NAXIS2, repeat)``; ``L`` columns
        become bool, ``A`` columns str.
    """
    h = hdu.header
    cols = table_layout(hdu, source)
    by_key = {}
    for c in cols:
        by_key.setdefault(c.key, c)
    wanted = [k for k in keys if k in by_key]
    # scaled columns need astropy; others are read straight even beside them (an SDSS SPALL
    # table has one scaled column among 236: all of it through astropy was slow)
    want = set(wanted)
    exotic = any(
        f"TSCAL{i}" in h or f"TZERO{i}" in h for i, c in enumerate(cols, start=1) if c.key in want
    )
    dtype = None
    if not exotic:
        try:
            itemsize = int(h["NAXIS1"])
            nrows = int(h["NAXIS2"])
        except (KeyError, TypeError, ValueError):
            raise SpectrumFormatError(source, "corrupt FITS table: bad NAXIS1/NAXIS2") from None
        forms = tuple((c.key, c.code, c.repeat) for c in cols)
        dtype = _row_dtype(forms, itemsize)
    if dtype is None:
        return _table_columns_astropy(buf, hdu, [by_key[k] for k in wanted], source)
    rows = np.frombuffer(buf, dtype=dtype, count=nrows, offset=hdu.data_start)
    return {k: _native(rows[k], by_key[k].code) for k in wanted}


def _table_columns_astropy(
    buf: bytes | bytearray, hdu: HDU, cols: list[Column], source: str
) -> dict[str, np.ndarray]:
    """Slow but general path: :mod:`astropy.io.fits` decodes the table (heap, scaling...)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(io.BytesIO(bytes(buf)), memmap=False, lazy_load_hdus=True) as hdul:
                data = hdul[hdu.index].data
                out = {}
                for c in cols:
                    col = data.field(c.name)
                    if col.dtype == object:  # variable-length arrays
                        col = np.array([np.asarray(v) for v in col])
                    col = np.array(col)
                    if col.dtype.kind in "fiuc" and not col.dtype.isnative:
                        col = col.astype(col.dtype.newbyteorder("="))
                    out[c.key] = col
                return out
    except SpectrumFormatError:
        raise
    except Exception as exc:  # astropy raises many types on broken tables
        raise SpectrumFormatError(
            source, f"corrupt FITS table in HDU {hdu.index}: {type(exc).__name__}: {exc}"
        ) from None


def hdu_bytes(*hdus: Any) -> bytes:
    """Bytes of a FITS file made of astropy HDUs (a convenience for tests and examples).

    Examples
    --------
    >>> from astropy.io import fits
    >>> len(hdu_bytes(fits.PrimaryHDU())) % 2880
    0
    """
    out = io.BytesIO()
    hdu_list = list(hdus)
    if not hdu_list or not isinstance(hdu_list[0], fits.PrimaryHDU):
        hdu_list.insert(0, fits.PrimaryHDU())
    fits.HDUList(hdu_list).writeto(out)
    return out.getvalue()

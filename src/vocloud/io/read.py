"""``read_spectrum``: one entry point for every spectrum layout, detected from the content.

The bytes are read once; gzip is recognised by its magic bytes (``1f 8b``), FITS by
``SIMPLE``, VOTable by a leading ``<`` and a ``VOTABLE`` element, anything else that is text
is read as CSV. The FITS layouts are then told apart by their headers
(:mod:`vocloud.io.fitslayouts`).

Examples
--------
>>> s = read_spectrum(b"wavelength,flux\\n6500,1.0\\n6501,0.5\\n", name="tiny.csv")
>>> s.layout, s.wavelength_aa, s.flux
('csv', array([6500., 6501.]), array([1. , 0.5]))
>>> read_spectrum(b"", name="nothing.fits")
Traceback (most recent call last):
...
vocloud.io.spectrum.SpectrumFormatError: nothing.fits: empty file
"""

from __future__ import annotations

import mmap
import os
import sys
import zlib
from typing import BinaryIO

from vocloud.io.csvtext import read_csv_text
from vocloud.io.fallback import HAS_SPECUTILS, read_with_specutils
from vocloud.io.fitslayouts import (
    FITS_LAYOUTS,
    LIST_BY,
    read_fits,
    read_fits_many,
    spectrum_addresses,
)
from vocloud.io.spectrum import Spectrum, SpectrumFormatError
from vocloud.io.votable import read_votable

__all__ = [
    "LAYOUTS",
    "MAX_FILE_SIZE",
    "file_content",
    "list_spectra",
    "read_bytes",
    "read_many",
    "read_spectrum",
    "size_text",
    "sniff_format",
    "split_address",
]

LAYOUTS: tuple[str, ...] = (*FITS_LAYOUTS, "votable-sdm", "csv")
"""Names of the layouts :func:`read_spectrum` detects (see docs/layouts.md)."""

_GZIP_MAGIC = b"\x1f\x8b"

MAX_FILE_SIZE = 1_000_000_000
"""Default limit (bytes) on one file's content, as read and after gunzip: the largest spectra
of the archives vocloud knows are a few MB, while a worker holds its block's files and their
float copies in memory; past this a file is recorded failed (``gzip expands past 1 GB``) instead
of taking its worker's memory. Set per experiment with ``run: {max_file_size: ...}``."""


def size_text(n: int) -> str:
    """A byte count for messages.

    Examples
    --------
    >>> size_text(1_000_000_000), size_text(2_500_000), size_text(512)
    ('1 GB', '2.5 MB', '512 bytes')
    """
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{n} bytes"


def _gunzip(buf: bytes | memoryview, source: str, limit: int = MAX_FILE_SIZE) -> bytes:
    """Decompress every gzip member of ``buf``, stopping as soon as the output passes ``limit``
    (a small file can expand to many GB: a "gzip bomb")."""
    parts: list[bytes] = []
    size = 0
    data = bytes(buf)
    try:
        while data:
            d = zlib.decompressobj(wbits=31)
            while data:
                out = d.decompress(data, limit + 1 - size)
                size += len(out)
                parts.append(out)
                if size > limit:
                    raise SpectrumFormatError(
                        source,
                        f"gzip expands past {size_text(limit)} (the per-file read limit, "
                        "run: max_file_size)",
                    )
                data = d.unconsumed_tail
                if d.eof:
                    break
            if not d.eof:
                raise EOFError("compressed stream ends before its end marker")
            data = d.unused_data
            if not data.strip(b"\x00"):
                break
            if data[:2] != _GZIP_MAGIC:
                raise OSError("Not a gzipped file (trailing garbage)")
        return b"".join(parts)
    except (OSError, EOFError, zlib.error) as exc:
        raise SpectrumFormatError(source, f"corrupt gzip: {exc}") from None


def sniff_format(buf: bytes | memoryview) -> str:
    """``"fits"``, ``"votable"``, ``"csv"`` or ``"unknown"`` from the first bytes (uncompressed).

    Examples
    --------
    >>> sniff_format(b"SIMPLE  =                    T")
    'fits'
    >>> sniff_format(b'<?xml version="1.0"?><VOTABLE>')
    'votable'
    >>> sniff_format(b"\\x00\\x01\\x02")
    'unknown'
    """
    head = bytes(buf[:8192])
    if head.startswith(b"SIMPLE"):
        return "fits"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        return "votable" if b"votable" in head.lower() else "unknown"
    if b"\x00" in head:
        return "unknown"
    return "csv"


def read_bytes(
    buf: bytes | bytearray | memoryview,
    source: str = "<bytes>",
    select: str | None = None,
    *,
    max_size: int = MAX_FILE_SIZE,
) -> Spectrum:
    """Read a spectrum from the bytes of a whole file (gzip-compressed or not).

    Parameters
    ----------
    buf : bytes, bytearray or memoryview
        The file content.
    source : str
        Name used in error messages and in ``Spectrum.source``.
    select : str, optional
        Which spectrum of a file of many: the part of its address after ``#`` (:func:`list_spectra`).
    max_size : int
        Limit in bytes on the content, as given and after gunzip (:data:`MAX_FILE_SIZE`).

    Returns
    -------
    Spectrum

    Raises
    ------
    SpectrumFormatError
        For anything that is not a readable spectrum.
    """
    if isinstance(buf, memoryview):
        buf = buf.tobytes()
    if len(buf) == 0:
        raise SpectrumFormatError(source, "empty file")
    if len(buf) > max_size:
        raise SpectrumFormatError(source, _too_large(len(buf), max_size))
    if buf[:2] == _GZIP_MAGIC:
        buf = _gunzip(buf, source, max_size)
        if len(buf) == 0:
            raise SpectrumFormatError(source, "empty file (after gunzip)")
    kind = sniff_format(buf)
    try:
        if kind == "fits":
            try:
                return read_fits(buf, source, select)
            except SpectrumFormatError as exc:
                if not _fallback_applies(exc.reason):
                    raise
                return _fallback(buf, source, exc)
        if select is not None:
            raise SpectrumFormatError(
                source, f"file holds one spectrum ({kind}): there is no spectrum #{select}"
            )
        if kind == "votable":
            return read_votable(buf, source)
        if kind == "csv":
            return read_csv_text(buf, source)
    except SpectrumFormatError:
        raise
    except (
        IndexError,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        UnicodeError,
        OSError,
        EOFError,
        OverflowError,
        ZeroDivisionError,
    ) as exc:
        raise SpectrumFormatError(
            source, f"corrupt {kind} file: {type(exc).__name__}: {exc}"
        ) from None
    head = bytes(buf[:40]).lstrip()
    what = "HTML/XML without a VOTABLE element" if head.startswith(b"<") else "binary data"
    raise SpectrumFormatError(source, f"not a FITS, VOTable or CSV file ({what})")


def _too_large(size: int, limit: int) -> str:
    return f"file is {size_text(size)}, over the per-file read limit of {size_text(limit)} (run: max_file_size)"


def file_content(
    f: BinaryIO, source: str, max_size: int = MAX_FILE_SIZE, *, map_from: int | None = None
) -> bytes | mmap.mmap:
    """The content of the open file ``f``, refused over ``max_size`` before it is read; a file
    of ``map_from`` bytes or more is mapped read-only instead, so only the pages a parser looks at
    are read (a file system without mmap: read).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryFile() as f:
    ...     _ = f.write(b"SIMPLE  =")
    ...     _ = f.seek(0)
    ...     file_content(f, "x.fits"), type(file_content(f, "x.fits", map_from=1)).__name__
    (b'SIMPLE  =', 'mmap')
    >>> with tempfile.TemporaryFile() as f:
    ...     _ = f.write(b"SIMPLE  =")
    ...     _ = f.seek(0)
    ...     file_content(f, "x.fits", max_size=4)
    Traceback (most recent call last):
    ...
    vocloud.io.spectrum.SpectrumFormatError: x.fits: file is 9 bytes, over the per-file read limit of 4 bytes (run: max_file_size)
    """
    size = os.fstat(f.fileno()).st_size
    if size > max_size:  # refused before it is read into memory
        raise SpectrumFormatError(source, _too_large(size, max_size))
    if map_from is not None and size >= map_from:
        try:  # the map outlives the descriptor, closed with the last array viewing it
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # a file system without mmap; an empty file
            pass
    return f.read()


def read_spectrum(
    path_or_bytes: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    name: str | None = None,
    select: str | None = None,
    max_size: int = MAX_FILE_SIZE,
) -> Spectrum:
    """Read one spectrum of any layout vocloud knows (:data:`LAYOUTS`), gzip-compressed or not.

    A file of many spectra is addressed as ``path#TARGETID=<n>`` (DESI coadd),
    ``path#TARGETID=<n>,EXPID=<e>`` (DESI spectra file), ``path#FIBERID=<n>`` (SDSS spPlate) or
    ``path#<row>`` (or with ``select``); one order of an echelle file (IRAF multispec, HST x1d,
    CRIRES+) as ``path#ORDER=<m>``; :func:`list_spectra` lists them.

    The layout is detected from the content (magic bytes and headers), never from the name.
    FITS files are parsed straight from their bytes (about as fast as ``read`` +
    ``numpy.frombuffer``), VOTables with :mod:`astropy.io.votable`, CSV with pandas.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike, bytes, bytearray or memoryview
        A file path, or the content of a file.
    name : str, optional
        Name used in error messages and ``Spectrum.source``; defaults to the path, or
        ``"<bytes>"`` for bytes.
    select : str, optional
        Which spectrum of a file of many (the part of its address after ``#``).
    max_size : int
        Limit in bytes on the file, as stored and after gunzip (:data:`MAX_FILE_SIZE`): a
        larger one is refused before it is read or as soon as its decompression passes it.

    Returns
    -------
    Spectrum
        ``wavelength`` (float64 Quantity in the file's spectral unit, Angstrom when it names
        none), ``flux`` (float32 or float64 as in the file), ``ivar``, ``mask`` (``True`` =
        bad), ``meta`` (header keywords / PARAMs), ``layout`` and ``source``.

    Raises
    ------
    SpectrumFormatError
        For an unreadable file (``cannot read: ...``), an empty, truncated or corrupt one, an
        unknown layout or unit, an all-NaN flux... The message names the file and the reason.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from vocloud.io.fitsparse import hdu_bytes
    >>> img = np.zeros((5, 4), dtype=np.float32)
    >>> img[0] = [1, 2, 3, 4]
    >>> img[2] = 10 ** (3.5682 + 1e-4 * np.arange(4))
    >>> hdu = fits.PrimaryHDU(img)
    >>> hdu.header.update(TELESCOP="LAMOST", COEFF0=3.5682, COEFF1=1e-4)
    >>> s = read_spectrum(hdu_bytes(hdu), name="spec-1.fits")
    >>> s.layout, s.flux, s.mask
    ('lamost-dr7', array([1., 2., 3., 4.], dtype=float32), array([False, False, False, False]))
    >>> read_spectrum(b"SIMPLE  =                    T", name="cut.fits")
    Traceback (most recent call last):
    ...
    vocloud.io.spectrum.SpectrumFormatError: cut.fits: truncated FITS: header ends without END card
    """
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        return read_bytes(
            path_or_bytes, name if name is not None else "<bytes>", select, max_size=max_size
        )
    if not isinstance(path_or_bytes, str | os.PathLike):
        raise TypeError(f"read_spectrum needs a path or bytes, not {type(path_or_bytes).__name__}")
    source = name if name is not None else os.fspath(path_or_bytes)
    path_or_bytes, fragment = split_address(os.fspath(path_or_bytes))
    select = select if select is not None else fragment
    try:
        with open(path_or_bytes, "rb") as f:
            buf = file_content(f, source, max_size)
    except OSError as exc:
        raise SpectrumFormatError(
            source, f"cannot read: {exc.strerror or type(exc).__name__}"
        ) from None
    return read_bytes(buf, source, select, max_size=max_size)


def read_many(
    buf: bytes | bytearray | memoryview | mmap.mmap,
    names: list[str],
    selects: list[str | None],
    *,
    max_size: int = MAX_FILE_SIZE,
) -> list[Spectrum | SpectrumFormatError]:
    """The spectra ``selects`` (the parts of their addresses after ``#``, or ``None``) of one file's bytes,
    the file decompressed and parsed once; ``names`` are their sources (addresses). Each entry
    is the spectrum or its error, so one bad address spoils no other. ``max_size`` as in
    :func:`read_bytes`."""
    source = names[0].rpartition("#")[0] or names[0] if names else "<bytes>"
    if isinstance(buf, memoryview):
        buf = buf.tobytes()
    try:
        if len(buf) > max_size:
            raise SpectrumFormatError(source, _too_large(len(buf), max_size))
        if len(buf) and buf[:2] == _GZIP_MAGIC:
            buf = _gunzip(buf, source, max_size)
        if sniff_format(buf) == "fits":
            return read_fits_many(buf, source, list(selects), list(names))
    except SpectrumFormatError as exc:
        return [SpectrumFormatError(n, exc.reason) for n in names]
    out: list[Spectrum | SpectrumFormatError] = []
    for name, sel in zip(names, selects):
        try:
            out.append(read_bytes(buf, name, sel, max_size=max_size))
        except SpectrumFormatError as exc:
            out.append(exc)
    return out


def list_spectra(path: str | os.PathLike[str], by: str = "spectrum") -> list[str]:
    """The addresses of the spectra in one file: ``[path]``, or one ``path#<fragment>`` per
    spectrum of a file of many, in file order: ``#TARGETID=<id>`` per target of a DESI coadd,
    ``#TARGETID=<id>,EXPID=<e>`` per target and exposure of a DESI spectra file,
    ``#FIBERID=<n>`` per fibre of an SDSS spPlate
    (:func:`~vocloud.io.fitslayouts.spectrum_addresses`). With ``by="order"``, also
    ``#ORDER=<m>`` per order of an echelle file (IRAF multispec: the beam number ``m`` of each
    ``specN`` string, the echelle order number; HST x1d: ``SPORDER``), which is otherwise one
    spectrum of all its orders.

    These addresses are unique and stable ids for a spectra list, and :func:`read_spectrum`
    reads them. Only the headers and the id columns are read (the file is memory-mapped, so its
    flux never is), except in a gzip-compressed file, which is decompressed whole.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    by : {"spectrum", "order"}
        What one address is: a spectrum (default), or also one order of an echelle file.

    Returns
    -------
    list of str

    Raises
    ------
    SpectrumFormatError
        When the file cannot be read or is not a FITS file vocloud can parse the headers of.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from astropy.io import fits
    >>> ech = fits.PrimaryHDU(np.ones((2, 3), dtype=np.float32))
    >>> ech.header.update(CTYPE1="MULTISPE", WAT0_001="system=multispec",
    ...     WAT2_001='wtype=multispec spec1 = "1 61 0 6500. 1. 3 0. 1. 2." spec2 = "2 60 0 6600. 1.',
    ...     WAT2_002=' 3 0. 3. 4."')
    >>> path = os.path.join(tempfile.mkdtemp(), "ech.fits")
    >>> ech.writeto(path)
    >>> [a.rpartition("/")[2] for a in list_spectra(path, by="order")]
    ['ech.fits#ORDER=61', 'ech.fits#ORDER=60']
    >>> read_spectrum(list_spectra(path, by="order")[1]).wavelength_aa
    array([6600., 6601., 6602.])
    >>> list_spectra(path) == [path]
    True
    """
    if by not in LIST_BY:
        raise ValueError(f"by: expected one of {', '.join(LIST_BY)}, got {by!r}")
    source = os.fspath(path)
    try:
        with open(source, "rb") as f:  # mapped: only headers and id columns are read
            buf = file_content(f, source, sys.maxsize, map_from=0)
    except OSError as exc:
        raise SpectrumFormatError(source, f"cannot read: {exc.strerror or exc}") from None
    if len(buf) == 0:
        return [source]  # its read says "empty file"
    if buf[:2] == _GZIP_MAGIC:
        buf = _gunzip(buf, source)
    if sniff_format(buf) != "fits":
        return [source]
    frags = spectrum_addresses(buf, source, by)
    return [source] if frags is None else [f"{source}#{f}" for f in frags]


def _fallback_applies(reason: str) -> bool:
    """A layout no fast reader knows, or a variant they refuse as unsupported; not a file of a
    known layout that lacks its wavelength solution (specutils would invent one)."""
    if "is not supported" in reason:
        return True
    return reason.startswith("unknown FITS layout") and "without" not in reason


def _fallback(buf: bytes | bytearray, source: str, exc: SpectrumFormatError) -> Spectrum:
    """A FITS file the fast readers do not know: specutils' loaders, when installed."""
    if not HAS_SPECUTILS:
        raise exc
    try:
        return read_with_specutils(buf, source)
    except SpectrumFormatError as again:
        raise SpectrumFormatError(source, f"{exc.reason}; {again.reason}") from None


def split_address(path: str) -> tuple[str, str | None]:
    """``(file, selection)`` of a spectrum address ``file#TARGETID=<n>[,EXPID=<e>]``,
    ``file#FIBERID=<n>`` or ``file#<row>``.

    A path that exists as it is, or has no ``#``, is a file of its own.

    Examples
    --------
    >>> split_address("coadd-1.fits#TARGETID=39633297352951412")
    ('coadd-1.fits', 'TARGETID=39633297352951412')
    >>> split_address("spec-1.fits")
    ('spec-1.fits', None)
    """
    if "#" not in path or os.path.exists(path):
        return path, None
    base, _, frag = path.rpartition("#")
    return base, frag or None

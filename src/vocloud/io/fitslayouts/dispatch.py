"""``read_fits``: the one table (:data:`READERS`) from a detected layout to its reader."""

from __future__ import annotations

from collections.abc import Callable

from vocloud.io.fitslayouts.crires import read_crires_extracted
from vocloud.io.fitslayouts.deep2 import read_deep2_spec1d
from vocloud.io.fitslayouts.desi import read_desi
from vocloud.io.fitslayouts.detect import _locate
from vocloud.io.fitslayouts.eso import read_eso_sdp
from vocloud.io.fitslayouts.hst import read_hst_x1d
from vocloud.io.fitslayouts.iraf import read_iraf, read_iraf_multispec
from vocloud.io.fitslayouts.lamost import read_lamost_dr7, read_lamost_dr8, read_lamost_mrs
from vocloud.io.fitslayouts.ondrejov import read_ondrejov_ssa
from vocloud.io.fitslayouts.sdss import read_sdss_coadd, read_sdss_spplate, read_sdss_spspec
from vocloud.io.fitslayouts.select import ADDRESS_KEYS, ORDER_LAYOUTS
from vocloud.io.fitslayouts.spex import read_spex_merged
from vocloud.io.fitslayouts.tables import read_two_column
from vocloud.io.fitsparse import HDU
from vocloud.io.spectrum import Spectrum, SpectrumFormatError

Reader = Callable[[bytes | bytearray, HDU, HDU | None, str, str | None], Spectrum]
"""How :func:`read_fits` calls a reader: ``(buf, primary, ext, source, select)``, ``ext`` the
HDU after the primary when the layout lives there (else ``None``), ``select`` the address."""


def _image(read: Callable[..., Spectrum]) -> Reader:
    """The reader of an image layout: ``read(buf, primary, source, image)``, no address."""
    return lambda buf, primary, ext, source, select: read(buf, primary, source, ext)


def _table(read: Callable[..., Spectrum]) -> Reader:
    """The reader of a table layout: ``read(buf, primary, table, source)``, no address."""
    return lambda buf, primary, ext, source, select: read(buf, primary, ext, source)


READERS: dict[str, Reader] = {
    "iraf-linear": _image(read_iraf),
    "iraf-log": _image(read_iraf),
    "iraf-multispec": lambda buf, primary, ext, source, select: read_iraf_multispec(
        buf, primary, source, ext, select
    ),
    "lamost-dr7": _image(read_lamost_dr7),
    "lamost-dr8": _table(read_lamost_dr8),
    "lamost-mrs": _table(read_lamost_mrs),
    "sdss-coadd": _table(read_sdss_coadd),
    "sdss-spspec": _image(read_sdss_spspec),
    "sdss-spplate": lambda buf, primary, ext, source, select: read_sdss_spplate(
        buf, primary, source, select
    ),
    "desi-coadd": lambda buf, primary, ext, source, select: read_desi(
        buf, primary, ext, source, select, "desi-coadd"
    ),
    "desi-spectra": lambda buf, primary, ext, source, select: read_desi(
        buf, primary, ext, source, select, "desi-spectra"
    ),
    "hst-x1d": read_hst_x1d,
    "eso-sdp": _table(read_eso_sdp),
    "crires-extracted": read_crires_extracted,
    "deep2-spec1d": _table(read_deep2_spec1d),
    "spex-merged": _image(read_spex_merged),
    "ondrejov-ssa": _table(read_ondrejov_ssa),
    "two-column": _table(read_two_column),
}
"""The reader of each of :data:`~vocloud.io.fitslayouts.detect.FITS_LAYOUTS`: the one place a
layout is tied to its reader (a new layout is a detection rule in ``detect.py``, its reader in
its family's module and a row here)."""


def read_fits(
    buf: bytes | bytearray, source: str = "<bytes>", select: str | None = None
) -> Spectrum:
    """Read a spectrum from the bytes of an uncompressed FITS file of any known layout.

    Parameters
    ----------
    buf : bytes or bytearray
        The whole file.
    source : str
        File name for error messages.
    select : str, optional
        Which spectrum of a file of many (``"TARGETID=<n>"``, ``"TARGETID=<n>,EXPID=<e>"``,
        ``"FIBERID=<n>"`` or a row number: :func:`spectrum_addresses`), or which order of an
        echelle file (``"ORDER=<m>"``). A file of one spectrum refuses any.

    Returns
    -------
    Spectrum

    Raises
    ------
    SpectrumFormatError
        For a truncated or corrupt file, an unknown layout, or an address that names no
        spectrum or several.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from vocloud.io.fitsparse import hdu_bytes
    >>> img = fits.PrimaryHDU(np.ones((2, 3), dtype=np.float32))
    >>> img.header.update(CTYPE1="MULTISPE", WAT0_001="system=multispec",
    ...     WAT2_001='wtype=multispec spec1 = "1 61 0 6500. 1. 3 0. 1. 2." spec2 = "2 60 0 6600. 1.',
    ...     WAT2_002=' 3 0. 3. 4."')
    >>> s = read_fits(hdu_bytes(img), "ech.fits", "ORDER=60")
    >>> s.wavelength_aa, s.meta["ORDER"], s.meta["APERTURE"], s.segments
    (array([6600., 6601., 6602.]), 60, 2, ((0, 3),))
    >>> read_fits(hdu_bytes(img), "ech.fits", "ORDER=7")
    Traceback (most recent call last):
    ...
    vocloud.io.spectrum.SpectrumFormatError: ech.fits: no ORDER 7 in the file (it holds orders 60-61)
    """
    layout, primary, ext = _locate(buf, source)
    if select is not None and layout not in ORDER_LAYOUTS and layout not in ADDRESS_KEYS:
        raise SpectrumFormatError(
            source, f"file holds one spectrum (layout {layout}): there is no spectrum #{select}"
        )
    return READERS[layout](buf, primary, ext, source, select)

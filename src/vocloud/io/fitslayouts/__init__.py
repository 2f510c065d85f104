"""FITS spectrum layouts (docs/layouts.md): detection from the headers and one reader per layout,
one module per archive family.

Every reader takes the bytes of the whole (uncompressed) file and the parsed HDUs
(:mod:`vocloud.io.fitsparse`), and returns a :class:`~vocloud.io.spectrum.Spectrum`; anything it
cannot make sense of raises :class:`~vocloud.io.spectrum.SpectrumFormatError` with the reason.

- ``detect``: which layout a file is (:func:`detect_fits_layout`, :data:`FITS_LAYOUTS`)
- ``dispatch``: :func:`read_fits`, the one table from a layout to its reader
- ``iraf``: ``iraf-linear``, ``iraf-log``, ``iraf-multispec``
- ``lamost``: ``lamost-dr7``, ``lamost-dr8``, ``lamost-mrs``
- ``sdss``: ``sdss-coadd``, ``sdss-spspec``, ``sdss-spplate``
- ``desi``: ``desi-coadd``, ``desi-spectra`` (and their tile-compressed masks)
- ``hst``: ``hst-x1d``; ``eso``: ``eso-sdp``; ``crires``: ``crires-extracted`` (ESO CRIRES+
  cr2res); ``deep2``: ``deep2-spec1d``; ``spex``: ``spex-merged``
- ``ondrejov``: ``ondrejov-ssa``
- ``tables``: ``two-column`` (and the reading by column names that ``ondrejov-ssa``,
  ``lamost-dr8``, ``lamost-mrs`` and ``sdss-coadd`` share)
- ``select``: which row or order an address (``#TARGETID=<id>``, ``#ORDER=<m>``...) picks
- ``address``: files of many: :func:`spectrum_addresses`, :func:`read_fits_many`
- ``base``: what the readers share

Examples
--------
>>> import numpy as np
>>> from astropy.io import fits
>>> from vocloud.io.fitsparse import hdu_bytes
>>> hdu = fits.PrimaryHDU(np.ones(5, dtype=np.float32))
>>> hdu.header.update(CRVAL1=6500.0, CDELT1=0.25, CRPIX1=1.0, CTYPE1="WAVE")
>>> s = read_fits(hdu_bytes(hdu), "x.fits")
>>> s.layout, s.wavelength_aa[:3]
('iraf-linear', array([6500.  , 6500.25, 6500.5 ]))
"""

from __future__ import annotations

from vocloud.io.fitslayouts.address import LIST_BY, read_fits_many, spectrum_addresses
from vocloud.io.fitslayouts.detect import FITS_LAYOUTS, detect_fits_layout
from vocloud.io.fitslayouts.dispatch import read_fits
from vocloud.io.fitslayouts.iraf import read_iraf
from vocloud.io.fitslayouts.lamost import read_lamost_dr7, read_lamost_dr8
from vocloud.io.fitslayouts.sdss import read_sdss_coadd
from vocloud.io.fitslayouts.select import ORDER_LAYOUTS
from vocloud.io.fitslayouts.tables import read_two_column

__all__ = [
    "FITS_LAYOUTS",
    "LIST_BY",
    "ORDER_LAYOUTS",
    "detect_fits_layout",
    "read_fits",
    "read_fits_many",
    "read_iraf",
    "read_lamost_dr7",
    "read_lamost_dr8",
    "read_sdss_coadd",
    "read_two_column",
    "spectrum_addresses",
]

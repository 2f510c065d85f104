"""Reading spectra of every layout vocloud knows (FITS images and tables, VOTable SDM, CSV)."""

from vocloud.io.read import LAYOUTS, read_spectrum
from vocloud.io.spectrum import Spectrum, SpectrumFormatError

__all__ = ["LAYOUTS", "Spectrum", "SpectrumFormatError", "read_spectrum"]

"""Sources of spectra lists: every source returns a :class:`~vocloud.spectralist.SpectraList`."""

from vocloud.sources.base import Source, source_from_config
from vocloud.sources.directory import DirectorySource
from vocloud.sources.files import FTPSource, HTTPIndexSource
from vocloud.sources.votable import VOTableSource

__all__ = [
    "DirectorySource",
    "FTPSource",
    "HTTPIndexSource",
    "Source",
    "VOTableSource",
    "source_from_config",
]

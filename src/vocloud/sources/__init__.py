"""Sources of spectra lists: every source returns a :class:`~vocloud.spectralist.SpectraList`."""

from vocloud.sources.base import Source, source_from_config
from vocloud.sources.directory import DirectorySource
from vocloud.sources.files import FTPSource, HTTPIndexSource
from vocloud.sources.obscore import ObsCoreSource, obscore_query
from vocloud.sources.ssap import SSAPSource
from vocloud.sources.tap import TAPSource, TruncatedResultWarning, VOServiceError
from vocloud.sources.votable import VOTableSource

__all__ = [
    "DirectorySource",
    "FTPSource",
    "HTTPIndexSource",
    "ObsCoreSource",
    "SSAPSource",
    "Source",
    "TAPSource",
    "TruncatedResultWarning",
    "VOServiceError",
    "VOTableSource",
    "obscore_query",
    "source_from_config",
]

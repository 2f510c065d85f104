"""Synthetic spectra archives for the demo, the tests and the benchmarks.

H-alpha spectra of Be stars in the five profile classes of the Ondřejov studies
(:data:`CLASSES`) plus rare outliers, written in every file layout vocloud reads
(:data:`LAYOUTS`, see ``docs/layouts.md``), deterministically from a seed and in parallel.

- :func:`synthesize` -- spectra in memory (:class:`SyntheticSpectrum`), no files;
- :func:`make_archive` -- a directory of files with ``index.csv``/``index.vot``, ``truth.csv``
  and ``labels.csv`` (:class:`ArchiveInfo`);
- :func:`make_broken_files` -- one file of each kind of bad input;
- :func:`to_bytes` -- the file content of one synthetic spectrum.

Examples
--------
>>> from vocloud.datasets import CLASSES, LAYOUTS, synthesize
>>> len(CLASSES), len(LAYOUTS)
(5, 8)
>>> s = synthesize(4, seed=1, layout="mixed")
>>> all(x.cls in CLASSES + ("outlier",) for x in s)
True
"""

from vocloud.datasets.archive import ArchiveInfo, make_archive, measure_write_time, read_index
from vocloud.datasets.broken import make_broken_files
from vocloud.datasets.layouts import EXTENSIONS, LAYOUTS, to_bytes
from vocloud.datasets.profiles import CLASSES, HALPHA_AIR, OUTLIER, OUTLIER_KINDS
from vocloud.datasets.synth import SyntheticSpectrum, synthesize

__all__ = [
    "CLASSES",
    "EXTENSIONS",
    "HALPHA_AIR",
    "LAYOUTS",
    "OUTLIER",
    "OUTLIER_KINDS",
    "ArchiveInfo",
    "SyntheticSpectrum",
    "make_archive",
    "make_broken_files",
    "measure_write_time",
    "read_index",
    "synthesize",
    "to_bytes",
]

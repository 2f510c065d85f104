"""A folder of spectrum files, walked recursively and filtered by glob patterns."""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from vocloud.sources.expand import expand_spectra, parse_expand
from vocloud.spectralist import COMPRESSION_SUFFIXES, SpectraList


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob with ``**`` (any number of folders) into a regular expression on POSIX paths."""
    parts = pattern.split("/")
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append("(?:.*/)?" if not last else ".*")
        else:
            rx = fnmatch.translate(part)[4:-3]  # strip '(?s:' and ')\Z'
            rx = rx.replace(".*", "[^/]*")
            out.append(rx + ("" if last else "/"))
    return re.compile("(?s:" + "".join(out) + r")\Z")


class DirectorySource:
    """Spectra files in a folder.

    Parameters
    ----------
    path : str or Path
        The folder.
    pattern : str or list of str
        Glob pattern(s) relative to ``path``; ``**`` matches any number of folders
        (default ``"**/*"``: every file). Hidden files and folders are skipped.
    recursive : bool
        Walk sub-folders (default). With ``False`` only the top folder is listed.
    expand : bool or str
        ``False`` (default): one row per file, no file is opened. ``True`` (or ``"spectra"``):
        a file of many spectra (DESI coadd and spectra files, SDSS spPlate) gives one row per
        spectrum, addressed ``file#<fragment>`` (:func:`vocloud.sources.expand.expand_spectra`;
        its headers and id columns are read, not its flux). ``"orders"``: also one row per
        order of an echelle file (IRAF multispec, HST x1d, CRIRES+), ``file#ORDER=<m>``.

    Notes
    -----
    A spectrum's ``id`` is its POSIX path relative to ``path`` without a compression suffix
    (``.gz``, ``.bz2``, ``.xz``): ``a/x.fits`` and ``a/x.fits.gz`` are the same spectrum, and the
    second is recorded as a duplicate when both are present. With ``expand`` the id (and
    ``access_url``, ``path``) of a spectrum of a file of many ends with its ``#<fragment>``,
    e.g. ``night1/coadd-1.fits#TARGETID=39633297352951412``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.fits").write_bytes(b"")
    >>> DirectorySource(d, pattern="*.fits").list()["id"].tolist()
    ['a.fits']
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        pattern: str | list[str] = "**/*",
        recursive: bool = True,
        expand: bool | str = False,
    ) -> None:
        self.path = Path(path)
        self.expand = parse_expand(expand, "source.directory")
        self.pattern = [pattern] if isinstance(pattern, str) else list(pattern)
        self.recursive = bool(recursive)
        self._regexes = [_pattern_regex(p) for p in self.pattern]

    def describe(self) -> dict[str, Any]:
        """JSON-able description for provenance."""
        return {
            "directory": str(self.path.resolve()),
            "pattern": self.pattern,
            "recursive": self.recursive,
            "expand": self.expand,
        }

    def _walk(self):
        root = str(self.path)
        stack = [""]
        while stack:
            rel = stack.pop()
            try:
                it = os.scandir(os.path.join(root, rel) if rel else root)
            except OSError as exc:
                if not rel:
                    raise FileNotFoundError(f"source directory {root!r}: {exc.strerror}") from None
                continue
            with it:
                for entry in it:
                    if entry.name.startswith("."):
                        continue
                    relpath = f"{rel}/{entry.name}" if rel else entry.name
                    if entry.is_dir(follow_symlinks=True):
                        if self.recursive:
                            stack.append(relpath)
                    elif any(rx.match(relpath) for rx in self._regexes):
                        st = entry.stat()
                        yield relpath, entry.path, st.st_size, st.st_mtime_ns

    def list(self) -> SpectraList:
        """Walk the folder and return the spectra list, sorted by path.

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, ``access_url`` (absolute path), ``path`` (relative), ``size`` (bytes),
            ``mtime_ns`` (of the file); with ``expand``, one row per spectrum of a file of many.
        """
        rows = sorted(self._walk())
        ids = []
        for relpath, *_ in rows:
            stem = relpath
            for suf in COMPRESSION_SUFFIXES:
                if stem.endswith(suf):
                    stem = stem[: -len(suf)]
                    break
            ids.append(stem)
        spectra = pd.DataFrame(
            {
                "id": pd.Series(ids, dtype=object),
                "access_url": pd.Series([os.path.abspath(r[1]) for r in rows], dtype=object),
                "path": pd.Series([r[0] for r in rows], dtype=object),
                "size": pd.Series([r[2] for r in rows], dtype="int64"),
                "mtime_ns": pd.Series([r[3] for r in rows], dtype="int64"),
            }
        )
        return spectra if self.expand is None else expand_spectra(spectra, self.expand)

"""The source protocol and the factory that builds a source from an experiment file entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class Source(Protocol):
    """Anything that lists spectra.

    A source is cheap to build; :meth:`list` does the work (a directory walk, a TAP query ...).
    """

    def list(self) -> pd.DataFrame:
        """Return the spectra list: one row per spectrum, columns ``id`` and ``access_url`` at least."""
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON-able description of the source, kept in the store's provenance."""
        ...


def source_from_config(entry: dict[str, Any] | Source, base_dir: str | Path = ".") -> Source:
    """Build a source from the ``source:`` entry of an experiment file.

    Parameters
    ----------
    entry : dict or Source
        E.g. ``{"directory": "./spectra", "pattern": "**/*.fits"}``; a ready source is returned as is.
    base_dir : str or Path
        Relative paths are relative to this folder (the experiment file's folder).

    Examples
    --------
    >>> src = source_from_config({"directory": "."})
    >>> type(src).__name__
    'DirectorySource'
    """
    if isinstance(entry, Source):
        return entry
    if not isinstance(entry, dict):
        raise ValueError(f"source: expected a mapping like {{directory: ./spectra}}, got {entry!r}")
    kinds = [k for k in ("directory", "votable", "http", "ftp") if k in entry]
    if len(kinds) != 1:
        raise ValueError(
            "source: name exactly one kind of source (known: directory, votable, http, ftp), "
            f"got keys {sorted(entry)}"
        )
    if kinds[0] in ("http", "ftp"):
        from vocloud.sources.files import FTPSource, HTTPIndexSource

        opts = dict(entry)
        url = str(opts.pop(kinds[0]))
        unknown = set(opts) - {"pattern", "recursive", "timeout", "max_files"}
        if unknown:
            raise ValueError(
                f"source.{kinds[0]}: unknown keys {sorted(unknown)} "
                "(known: pattern, recursive, timeout, max_files)"
            )
        cls = HTTPIndexSource if kinds[0] == "http" else FTPSource
        return cls(url, **opts)
    if kinds[0] == "votable":
        from vocloud.sources.votable import VOTableSource

        opts = dict(entry)
        loc = Path(opts.pop("votable"))
        unknown = set(opts) - {"access_column", "id_column"}
        if unknown:
            raise ValueError(
                f"source.votable: unknown keys {sorted(unknown)} (known: access_column, id_column)"
            )
        return VOTableSource(loc if loc.is_absolute() else Path(base_dir) / loc, **opts)
    from vocloud.sources.directory import DirectorySource

    opts = dict(entry)
    path = Path(opts.pop("directory"))
    if not path.is_absolute():
        path = Path(base_dir) / path
    unknown = set(opts) - {"pattern", "recursive"}
    if unknown:
        raise ValueError(
            f"source.directory: unknown keys {sorted(unknown)} (known: pattern, recursive)"
        )
    return DirectorySource(path, **opts)

"""The source protocol and the factory that builds a source from an experiment file entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from vocloud.sources.directory import DirectorySource
from vocloud.sources.files import FTPSource, HTTPIndexSource
from vocloud.sources.obscore import ObsCoreSource
from vocloud.sources.ssap import SSAPSource
from vocloud.sources.tap import TAPSource
from vocloud.sources.votable import VOTableSource


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


_COMMON_VO = ("maxrec", "access_column", "id_column")
_VO_KEYS = {
    "tap": ("query", "mode", "upload", "uploads", "timeout", *_COMMON_VO),
    "obscore": (
        "collection",
        "pos",
        "radius",
        "band",
        "band_unit",
        "target",
        "where",
        "columns",
        "table",
        "mode",
        "upload",
        "uploads",
        "timeout",
        *_COMMON_VO,
    ),
    "ssap": ("pos", "size", "band", "band_unit", "time", "target", "params", *_COMMON_VO),
}


def _vo_source(kind: str, entry: dict[str, Any], base_dir: str | Path) -> Source:
    opts = dict(entry)
    url = opts.pop(kind)
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"source.{kind}: expected the service URL, got {url!r}")
    unknown = set(opts) - set(_VO_KEYS[kind])
    if unknown:
        raise ValueError(
            f"source.{kind}: unknown keys {sorted(unknown)} (known: {', '.join(_VO_KEYS[kind])})"
        )
    if "upload" in opts:
        opts["uploads"] = {**opts.pop("upload"), **opts.get("uploads", {})}
    if kind == "tap":
        if "query" not in opts:
            raise ValueError("source.tap: a 'query' (ADQL) is needed")
        return TAPSource(url, opts.pop("query"), base_dir=base_dir, **opts)
    if kind == "obscore":
        return ObsCoreSource(url, base_dir=base_dir, **opts)

    return SSAPSource(url, **opts)


def source_from_config(entry: dict[str, Any] | Source, base_dir: str | Path = ".") -> Source:
    """Build a source from the ``source:`` entry of an experiment file.

    Parameters
    ----------
    entry : dict or Source
        E.g. ``{"directory": "./spectra", "pattern": "**/*.fits", "expand": True}``,
        ``{"tap": URL, "query": ADQL}``, ``{"obscore": URL, "collection": ...}``,
        ``{"ssap": URL, "pos": [ra, dec], "size": 1.0}``; a ready source is returned as is.
    base_dir : str or Path
        Relative paths are relative to this folder (the experiment file's folder).

    Examples
    --------
    >>> src = source_from_config({"directory": "."})
    >>> type(src).__name__, src.expand
    ('DirectorySource', None)
    >>> source_from_config({"directory": ".", "expand": "orders"}).expand
    'order'
    >>> src = source_from_config({"ssap": "http://localhost:8080/ssa", "pos": [1, 2], "size": 1})
    >>> type(src).__name__, src.size
    ('SSAPSource', 1.0)
    """
    if isinstance(entry, Source):
        return entry
    if not isinstance(entry, dict):
        raise ValueError(f"source: expected a mapping like {{directory: ./spectra}}, got {entry!r}")
    known = ("directory", "votable", "http", "ftp", "tap", "obscore", "ssap")
    kinds = [k for k in known if k in entry]
    if len(kinds) != 1:
        raise ValueError(
            f"source: name exactly one kind of source (known: {', '.join(known)}), "
            f"got keys {sorted(entry)}"
        )
    if kinds[0] in _VO_KEYS:
        return _vo_source(kinds[0], entry, base_dir)
    if kinds[0] in ("http", "ftp"):
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
        opts = dict(entry)
        raw = str(opts.pop("votable"))
        unknown = set(opts) - {"access_column", "id_column", "expand"}
        if unknown:
            raise ValueError(
                f"source.votable: unknown keys {sorted(unknown)} "
                "(known: access_column, id_column, expand)"
            )
        if "://" in raw:  # a URL
            return VOTableSource(raw, **opts)
        loc = Path(raw)
        return VOTableSource(loc if loc.is_absolute() else Path(base_dir) / loc, **opts)

    opts = dict(entry)
    path = Path(opts.pop("directory"))
    if not path.is_absolute():
        path = Path(base_dir) / path
    unknown = set(opts) - {"pattern", "recursive", "expand"}
    if unknown:
        raise ValueError(
            f"source.directory: unknown keys {sorted(unknown)} (known: pattern, recursive, expand)"
        )
    return DirectorySource(path, **opts)

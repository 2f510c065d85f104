"""A spectra list from a VOTable (e.g. made in TOPCAT, or saved from a TAP/SSAP query).

The access and id columns are found by utype, then UCD, then name; every other column passes
through to the spectra list.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

_ACCESS_UTYPES = ("access.reference",)
_ACCESS_UCDS = ("meta.ref.url", "meta.ref.uri")
_ACCESS_NAMES = ("access_url", "accref", "url", "access_reference", "path", "file", "filename")
_ID_UTYPES = ("curation.publisherdid", "dataid.creatordid")
_ID_UCDS = ("meta.ref.ivoid", "meta.id;meta.main", "meta.id")
_ID_NAMES = ("id", "obs_publisher_did", "ssa_pubdid", "publisher_did", "obs_id", "specid")
_FORMAT_NAMES = ("access_format", "ssa_format", "format", "mime")


def _field_meta(table: Any) -> list[tuple[str, str, str]]:
    """(name, lower-case utype, lower-case UCD) of each FIELD."""
    return [(f.name or f.ID, (f.utype or "").lower(), (f.ucd or "").lower()) for f in table.fields]


def _find(fields: list[tuple[str, str, str]], utypes, ucds, names) -> str | None:
    for name, utype, _ in fields:
        if any(utype.endswith(u) for u in utypes):
            return name
    for ucd_wanted in ucds:
        for name, _, ucd in fields:
            if ucd == ucd_wanted or ucd.split(";")[0] == ucd_wanted:
                return name
    lower = {name.lower(): name for name, _, _ in fields}
    for n in names:
        if n in lower:
            return lower[n]
    return None


def _as_text(values: np.ndarray) -> list[str]:
    out = []
    for v in values:
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out.append("" if v is None or v is np.ma.masked else str(v).strip())
    return out


class VOTableSource:
    """Spectra listed in a VOTable file (TABLEDATA, BINARY or BINARY2).

    Parameters
    ----------
    location : str or Path
        The VOTable file.
    access_column, id_column : str, optional
        Column names, when the automatic search (utype ``...Access.Reference`` / UCD
        ``meta.ref.url`` / names such as ``access_url``; utype ``...PublisherDID`` / UCD
        ``meta.ref.ivoid`` / names such as ``obs_publisher_did``) is not what you want.

    Notes
    -----
    Relative paths in the access column are relative to the VOTable's folder; ``file://`` URLs
    become paths. Without an id column, the access reference is the id.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astropy.table import Table
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> t = Table({"obs_publisher_did": ["ivo://x?1"], "access_url": ["a.fits"], "s_ra": [10.0]})
    >>> t.write(d / "list.xml", format="votable")
    >>> VOTableSource(d / "list.xml").list()[["id", "path"]].values.tolist()
    [['ivo://x?1', 'a.fits']]
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        *,
        access_column: str | None = None,
        id_column: str | None = None,
    ) -> None:
        self.location = Path(location)
        self.access_column = access_column
        self.id_column = id_column

    def describe(self) -> dict[str, Any]:
        """JSON-able description for provenance."""
        return {
            "votable": str(self.location.resolve()),
            "access_column": self.access_column,
            "id_column": self.id_column,
        }

    def list(self) -> pd.DataFrame:
        """Read the VOTable and return the spectra list (``id``, ``access_url``, ``path``, ...).

        Raises
        ------
        ValueError
            When the file is not a VOTable with a table, or no access column is found (the
            message lists the columns).
        """
        import warnings

        from astropy.io.votable import parse

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                vot = parse(str(self.location), verify="ignore")
                table = next((t for t in vot.iter_tables() if t.fields), None)
        except FileNotFoundError:
            raise FileNotFoundError(f"VOTable list {self.location}: no such file") from None
        except Exception as exc:
            raise ValueError(f"{self.location}: not a readable VOTable: {exc}") from None
        if table is None:
            raise ValueError(f"{self.location}: the VOTable holds no table")
        fields = _field_meta(table)
        names = [f[0] for f in fields]
        access = self.access_column or _find(fields, _ACCESS_UTYPES, _ACCESS_UCDS, _ACCESS_NAMES)
        if access is None or access not in names:
            raise ValueError(
                f"{self.location}: no access column (utype Access.Reference, UCD meta.ref.url, "
                f"or a name like access_url); columns: {names}"
            )
        ident = self.id_column or _find(fields, _ID_UTYPES, _ID_UCDS, _ID_NAMES)
        arr = table.array
        refs = _as_text(arr[access])
        base = self.location.resolve().parent
        urls, paths = [], []
        for ref in refs:
            parsed = urlparse(ref)
            if parsed.scheme == "file":
                local = unquote(parsed.path)
                urls.append(local)
                paths.append(local)
            elif parsed.scheme in ("http", "https", "ftp"):
                urls.append(ref)
                paths.append(ref)
            else:
                p = Path(ref)
                urls.append(str(p if p.is_absolute() else base / p))
                paths.append(ref)
        ids = _as_text(arr[ident]) if ident and ident in names else list(paths)
        ids = [i or p for i, p in zip(ids, paths)]
        df = pd.DataFrame(
            {
                "id": pd.Series(ids, dtype=object),
                "access_url": pd.Series(urls, dtype=object),
                "path": pd.Series(paths, dtype=object),
            }
        )
        fmt = _find(fields, ("access.format",), ("meta.code.mime",), _FORMAT_NAMES)
        if fmt:
            df["access_format"] = _as_text(arr[fmt])
        for name in names:
            if name in (access, ident, fmt) or name in df.columns:
                continue
            col = arr[name]
            if col.ndim == 1:
                data = np.ma.filled(col, np.nan) if col.dtype.kind == "f" else np.ma.getdata(col)
                df[name] = _as_text(data) if data.dtype.kind in "OSU" else data
        return df

"""From a VOTable of query results (TAP, ObsCore, SSAP, a saved list) to a spectra list.

Columns are found by utype, then UCD, then name, so the same code reads ObsCore, SSA and
TOPCAT-made tables. A DataLink service descriptor (``<RESOURCE type="meta"
utype="adhoc:service">`` with the DataLink standardID) in the VOTable gives each row a
``datalink_url`` (the service's access URL with ``ID=<the row's id>``); so does an access URL
whose format is a DataLink document (ObsCore's ``access_format`` =
``application/x-votable+xml;content=datalink``) or a column named ``datalink``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urljoin, urlparse

import numpy as np
import pandas as pd
import pyvo.dal.adhoc  # noqa: F401  (teaches astropy's Resource to keep its GROUPs)
from astropy.io.votable import parse

ACCESS_UTYPES = ("access.reference",)
ACCESS_UCDS = ("meta.ref.url", "meta.ref.uri")
ACCESS_NAMES = ("access_url", "accref", "url", "access_reference", "path", "file", "filename")
ID_UTYPES = ("curation.publisherdid", "dataid.creatordid")
ID_UCDS = ("meta.ref.ivoid", "meta.id;meta.main", "meta.id")
ID_NAMES = ("id", "obs_publisher_did", "ssa_pubdid", "publisher_did", "obs_id", "specid")
FORMAT_NAMES = ("access_format", "ssa_format", "format", "mime")
DATALINK_NAMES = ("datalink_url", "datalink")
#: Prefix of the DataLink standardID in service descriptors.
DATALINK_STANDARD = "ivo://ivoa.net/std/datalink"
#: The MIME type of a DataLink document.
DATALINK_MIME = "application/x-votable+xml;content=datalink"

_RA_UTYPES = ("target.pos.spoint", "char.spatialaxis.coverage.location.value")
_RA_NAMES = ("s_ra", "ra", "ssa_ra", "ra_deg")
_DEC_NAMES = ("s_dec", "dec", "ssa_dec", "dec_deg")
_POS_NAMES = ("ssa_location", "ssa_targetpos", "location")
_EM_MIN_NAMES = ("em_min", "ssa_specstart")
_EM_MAX_NAMES = ("em_max", "ssa_specend")
_TARGET_NAMES = ("target_name", "ssa_targname", "target", "object")


def field_meta(table: Any) -> list[tuple[str, str, str]]:
    """(name, lower-case utype, lower-case UCD) of each FIELD of an astropy VOTable table."""
    return [(f.name or f.ID, (f.utype or "").lower(), (f.ucd or "").lower()) for f in table.fields]


def find_column(
    fields: list[tuple[str, str, str]],
    utypes: tuple[str, ...],
    ucds: tuple[str, ...],
    names: tuple[str, ...],
) -> str | None:
    """The first column matching a utype suffix, else a UCD, else a name (case-insensitive).

    Examples
    --------
    >>> fields = [("accref", "ssa:access.reference", "meta.ref.url"), ("x", "", "")]
    >>> find_column(fields, ACCESS_UTYPES, ACCESS_UCDS, ACCESS_NAMES)
    'accref'
    >>> find_column(fields, (), (), ("y",)) is None
    True
    >>> ids = [("creator", "ssa:dataid.creatordid", ""), ("pub", "ssa:curation.publisherdid", "")]
    >>> find_column(ids, ID_UTYPES, ID_UCDS, ID_NAMES)
    'pub'
    """
    for wanted in utypes:  # in the order of preference
        for name, utype, _ in fields:
            if utype.endswith(wanted):
                return name
    for ucd_wanted in ucds:
        for name, _, ucd in fields:
            if ucd == ucd_wanted or ucd.split(";")[0] == ucd_wanted:
                return name
    lower = {name.lower(): name for name, _, _ in fields}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def as_text(values: Any) -> list[str]:
    """Column values as stripped strings (bytes decoded, masked and None as ``""``).

    Examples
    --------
    >>> as_text(np.array([b" a ", "b"], dtype=object))
    ['a', 'b']
    """
    out = []
    for v in values:
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out.append("" if v is None or v is np.ma.masked else str(v).strip())
    return out


def datalink_service(votable: Any) -> tuple[str, str, dict[str, str]] | None:
    """The DataLink service descriptor of a parsed VOTable, if it has one.

    Returns
    -------
    (access_url, id_field_ref, constant_params) or None
        ``id_field_ref`` is the ID (or name) of the FIELD whose values go into the ``ID``
        parameter; ``constant_params`` are the other input parameters with a fixed value.
    """
    for res in votable.resources:
        if res.type != "meta" or (res.utype or "").lower() != "adhoc:service":
            continue
        params = {p.name: p for p in res.params}
        std = params.get("standardID")
        if std is None or not str(std.value).lower().startswith(DATALINK_STANDARD):
            continue
        access = params.get("accessURL")
        if access is None:
            continue
        ref = None
        const: dict[str, str] = {}
        for group in getattr(res, "groups", []):
            if group.name != "inputParams":
                continue
            for p in group.entries:
                if not hasattr(p, "ref"):
                    continue
                if p.ref:
                    if p.name.upper() == "ID":
                        ref = p.ref
                elif p.value not in (None, "") and np.isscalar(p.value):
                    const[p.name] = str(p.value)
        if ref is not None:
            return str(access.value), ref, const
    return None


def _field_name(table: Any, ref: str) -> str | None:
    for f in table.fields:
        if f.ID == ref or f.name == ref:
            return f.name or f.ID
    return None


def _scalar_column(col: Any) -> Any:
    data = np.ma.filled(col, np.nan) if col.dtype.kind == "f" else np.ma.getdata(col)
    return as_text(data) if data.dtype.kind in "OSU" else data


def _position(arr: Any, fields: list[tuple[str, str, str]]) -> tuple[Any, Any]:
    """s_ra, s_dec (degrees) from scalar columns or an [ra, dec] array column."""
    names = {n.lower(): n for n, _, _ in fields}
    ra = next((names[n] for n in _RA_NAMES if n in names), None)
    dec = next((names[n] for n in _DEC_NAMES if n in names), None)
    if ra is None:
        for n, _, ucd in fields:
            if ucd.startswith("pos.eq.ra") and arr[n].ndim == 1:
                ra = n
                break
    if dec is None:
        for n, _, ucd in fields:
            if ucd.startswith("pos.eq.dec") and arr[n].ndim == 1:
                dec = n
                break
    if ra is not None and dec is not None:
        return (
            np.asarray(np.ma.filled(arr[ra].astype(float), np.nan)),
            np.asarray(np.ma.filled(arr[dec].astype(float), np.nan)),
        )
    pos = next((names[n] for n in _POS_NAMES if n in names), None)
    if pos is None:
        pos = next((n for n, utype, _ in fields if utype.endswith(_RA_UTYPES)), None)
    if pos is not None and arr[pos].ndim == 2 and arr[pos].shape[1] == 2:
        xy = np.ma.filled(arr[pos].astype(float), np.nan)
        return np.asarray(xy[:, 0]), np.asarray(xy[:, 1])
    return None, None


def spectra_frame(
    votable: Any,
    table: Any,
    *,
    where: str,
    base: Path | None = None,
    base_url: str | None = None,
    access_column: str | None = None,
    id_column: str | None = None,
) -> pd.DataFrame:
    """The spectra list of one table of a parsed VOTable.

    Parameters
    ----------
    votable : astropy.io.votable.tree.VOTableFile
        The whole document (its service descriptors give ``datalink_url``).
    table : astropy.io.votable.tree.TableElement
        The table listing the spectra.
    where : str
        Names the list in error messages (a file or a service URL).
    base : Path, optional
        Folder that relative paths in the access column are relative to (local lists).
    base_url : str, optional
        URL that relative references are relative to (a list downloaded from there).
    access_column, id_column : str, optional
        Override the automatic column search.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``access_url``, ``path``, and where found ``access_format``, ``datalink_url``,
        ``s_ra``, ``s_dec``, ``em_min``, ``em_max`` (metres), ``target``, then every other scalar
        column as it is.

    Raises
    ------
    ValueError
        When no access column is found (the message lists the columns).
    """
    fields = field_meta(table)
    names = [f[0] for f in fields]
    access = access_column or find_column(fields, ACCESS_UTYPES, ACCESS_UCDS, ACCESS_NAMES)
    if access is None or access not in names:
        raise ValueError(
            f"{where}: no access column (utype Access.Reference, UCD meta.ref.url, "
            f"or a name like access_url); columns: {names}"
        )
    ident = id_column or find_column(fields, ID_UTYPES, ID_UCDS, ID_NAMES)
    if id_column and id_column not in names:
        raise ValueError(f"{where}: no column {id_column!r}; columns: {names}")
    arr = table.array
    refs = as_text(arr[access])
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
        elif base_url is not None:
            full = urljoin(base_url, ref)
            urls.append(full)
            paths.append(full)
        else:
            p = Path(ref)
            urls.append(str(p if p.is_absolute() or base is None else base / p))
            paths.append(ref)
    ids = as_text(arr[ident]) if ident and ident in names else list(paths)
    ids = [i or p for i, p in zip(ids, paths)]
    df = pd.DataFrame(
        {
            "id": pd.Series(ids, dtype=object),
            "access_url": pd.Series(urls, dtype=object),
            "path": pd.Series(paths, dtype=object),
        }
    )
    used = {access, ident}
    fmt = find_column(fields, ("access.format",), ("meta.code.mime",), FORMAT_NAMES)
    formats = as_text(arr[fmt]) if fmt else [""] * len(df)
    if fmt:
        df["access_format"] = formats
        used.add(fmt)

    links: list[str | None] = [None] * len(df)
    service = datalink_service(votable)
    if service is not None:
        url, ref, const = service
        col = _field_name(table, ref)
        if col is not None:
            for i, v in enumerate(as_text(arr[col])):
                if v:
                    links[i] = url + ("&" if "?" in url else "?") + urlencode({"ID": v, **const})
    dl_col = find_column(fields, (), (), DATALINK_NAMES)
    if dl_col is not None:
        used.add(dl_col)
        for i, v in enumerate(as_text(arr[dl_col])):
            if links[i] is None and v.startswith(("http://", "https://")):
                links[i] = v
    for i, f in enumerate(formats):
        if links[i] is None and "content=datalink" in f.replace(" ", "").lower():
            links[i] = urls[i]
    if any(v is not None for v in links):
        df["datalink_url"] = pd.Series(links, dtype=object)

    ra, dec = _position(arr, fields)
    if ra is not None:
        df["s_ra"], df["s_dec"] = ra, dec
    lower = {n.lower(): n for n in names}
    for out, candidates in (("em_min", _EM_MIN_NAMES), ("em_max", _EM_MAX_NAMES)):
        name = next((lower[n] for n in candidates if n in lower), None)
        if name is not None and arr[name].ndim == 1:
            df[out] = np.asarray(np.ma.filled(arr[name].astype(float), np.nan))
            used.add(name)
    target = next((lower[n] for n in _TARGET_NAMES if n in lower), None)
    if target is not None and arr[target].ndim == 1:
        df["target"] = as_text(arr[target])
        used.add(target)
    for name in names:
        if name in used or name in df.columns:
            continue
        col = arr[name]
        if col.ndim == 1:
            df[name] = _scalar_column(col)
    return df


def parse_votable(source: Any, where: str) -> tuple[Any, Any]:
    """Parse a VOTable (path, URL-less bytes stream) and return (document, first table).

    Raises
    ------
    ValueError
        When it is not a VOTable or holds no table.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vot = parse(source, verify="ignore")
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(f"{where}: not a readable VOTable: {exc}") from None
    table = next((t for t in vot.iter_tables() if t.fields), None)
    if table is None:
        raise ValueError(f"{where}: the VOTable holds no table")
    return vot, table

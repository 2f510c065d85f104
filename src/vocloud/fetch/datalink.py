"""DataLink resolution in batches, and SODA cutouts, inside the Dask tasks.

A spectra list from TAP, ObsCore or SSAP gives each spectrum a ``datalink_url``
(``<service>?ID=<publisher DID>``). A task resolves the DataLink URLs of its spectra with one
request per :data:`BATCH` IDs (the DataLink standard allows many ``ID`` parameters in one call;
pyvo builds the query and reads the answer), then fetches, per spectrum:

- ``cutout="server"``: the SODA cutout around the experiment's line (``BAND`` in metres, built by
  pyvo from the service descriptor), or the whole spectrum (``#this``) when the service offers no
  SODA with a BAND parameter;
- ``cutout="local"``: the whole spectrum (``#this``), cut by the preprocessing;
- ``cutout="none"``: ``access_url`` as it is, resolving DataLink only where the access URL is
  itself a DataLink document.

Every request goes through :func:`vocloud.fetch.fetch` (retries, timeouts, the raw cache, the
per-server concurrency limit), so a rerun fetches nothing, and each failure is one spectrum's
:class:`~vocloud.fetch.FetchError` with its reason.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import astropy.units as u
import numpy as np
import pyvo
from astropy.io.votable import parse
from pyvo.dal.adhoc import DatalinkQuery, DatalinkResults, SodaQuery

from vocloud.fetch.download import fetch, fetch_many
from vocloud.fetch.errors import FetchError
from vocloud.fetch.options import DEFAULT_OPTIONS, FetchOptions

#: IDs per DataLink request.
BATCH = 1000
#: Prefix of the standardID of a synchronous SODA service.
SODA_SYNC = "ivo://ivoa.net/std/soda#sync"


@dataclass(frozen=True)
class Links:
    """What DataLink says about one spectrum.

    Attributes
    ----------
    id : str
        The ID asked for.
    this_url : str or None
        The whole dataset (semantics ``#this``).
    soda_url : str or None
        A ready SODA cutout URL (with ``ID`` and ``BAND``), when a band was asked for and the
        service offers SODA with BAND.
    """

    id: str
    this_url: str | None
    soda_url: str | None = None


def split_datalink_url(url: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(service URL, ID, other parameters) of a DataLink URL.

    Examples
    --------
    >>> split_datalink_url("http://h/dl/dlmeta?ID=ivo%3A%2F%2Fx%3Fa.fits&RESPONSEFORMAT=votable")
    ('http://h/dl/dlmeta', 'ivo://x?a.fits', (('RESPONSEFORMAT', 'votable'),))
    """
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ids = [v for k, v in pairs if k.upper() == "ID"]
    if len(ids) != 1:
        raise ValueError(f"{url}: a DataLink URL needs exactly one ID parameter")
    rest = tuple(sorted((k, v) for k, v in pairs if k.upper() != "ID"))
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return base, ids[0], rest


def _parse_links(
    body: bytes, where: str, band: tuple[float, float] | None
) -> tuple[dict[str, Links | str], str | None]:
    """Links per ID of one DataLink answer (or an error text per ID); a document-level error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vot = parse(io.BytesIO(body), verify="ignore")
            res = DatalinkResults(vot, url=where)
    except pyvo.dal.DALQueryError as exc:
        return {}, f"DataLink error: {exc.reason or exc}"
    except Exception as exc:
        return {}, f"bad DataLink VOTable: {type(exc).__name__}: {exc}"
    table = res.resultstable.array
    names = res.fieldnames
    if "ID" not in names or "semantics" not in names:
        return {}, f"bad DataLink VOTable: columns {list(names)}"
    sems = [str(s).strip() for s in np.ma.filled(table["semantics"], "")]
    ids = [str(s).strip() for s in np.ma.filled(table["ID"], "")]
    errs = (
        [str(s).strip() for s in np.ma.filled(table["error_message"], "")]
        if "error_message" in names
        else [""] * len(ids)
    )
    urls = (
        [str(s).strip() for s in np.ma.filled(table["access_url"], "")]
        if "access_url" in names
        else [""] * len(ids)
    )
    defs = (
        [str(s).strip() for s in np.ma.filled(table["service_def"], "")]
        if "service_def" in names
        else [""] * len(ids)
    )
    soda_services: dict[str, object] = {}
    for svc in res.iter_adhocservices():
        std = next((p.value for p in svc.params if p.name == "standardID"), "")
        if str(std).lower().startswith(SODA_SYNC) and svc.ID:
            soda_services[svc.ID] = svc
    this: dict[str, str] = {}
    soda: dict[str, str] = {}
    errors: dict[str, str] = {}
    for i, ident in enumerate(ids):
        if errs[i] and not urls[i] and not defs[i]:
            errors.setdefault(ident, errs[i])
            continue
        if sems[i] == "#this" and urls[i] and ident not in this:
            this[ident] = urls[i]
        elif band is not None and defs[i] in soda_services and ident not in soda:
            svc = soda_services[defs[i]]
            if not _has_band(svc):
                continue
            q = SodaQuery.from_resource(
                res.getrecord(i), svc, band=u.Quantity(band, u.AA), session=None
            )
            soda[ident] = q.queryurl + "?" + urlencode(dict(q), doseq=True)
    out: dict[str, Links | str] = {}
    for ident in dict.fromkeys(ids):  # each ID once, in the order of the answer
        if ident in this or ident in soda:
            out[ident] = Links(ident, this.get(ident), soda.get(ident))
        else:
            out[ident] = "DataLink: " + (errors.get(ident) or "no #this link for this ID")
    return out, None


def _has_band(svc: object) -> bool:
    for group in getattr(svc, "groups", []):
        if group.name == "inputParams":
            return any(getattr(p, "name", "").upper() == "BAND" for p in group.entries)
    return False


def _resolve_batch(
    base: str,
    extra: tuple[tuple[str, str], ...],
    ids: list[str],
    options: FetchOptions,
    band: tuple[float, float] | None,
) -> dict[str, Links | FetchError]:
    """Resolve one batch of IDs; IDs the answer leaves out are asked for again."""
    out: dict[str, Links | FetchError] = {}
    todo = list(ids)
    while todo:
        query = DatalinkQuery(base, id=todo, **dict(extra))
        try:
            body = fetch(query.queryurl, options, data=dict(query))
        except FetchError as exc:
            for i in todo:
                out[i] = FetchError(exc.url, f"DataLink: {exc.reason}", exc.status, exc.transient)
            return out
        links, error = _parse_links(body, base, band)
        if error is not None:
            for i in todo:
                out[i] = FetchError(base, error)
            return out
        got = [i for i in todo if i in links]
        for i in got:
            v = links[i]
            out[i] = v if isinstance(v, Links) else FetchError(f"{base}?ID={i}", v)
        if not got:  # no progress: the service does not know these IDs
            for i in todo:
                out[i] = FetchError(f"{base}?ID={i}", "DataLink: no links for this ID")
            return out
        todo = [i for i in todo if i not in links]
    return out


def resolve_datalinks(
    urls: Sequence[str],
    options: FetchOptions = DEFAULT_OPTIONS,
    *,
    band: tuple[float, float] | None = None,
) -> list[Links | FetchError]:
    """Resolve many DataLink URLs, :data:`BATCH` IDs per request, batches in parallel.

    Parameters
    ----------
    urls : sequence of str
        DataLink URLs (``<service>?ID=<id>``), e.g. a spectra list's ``datalink_url`` column.
    options : FetchOptions
        Retries, timeout, cache and concurrency for the DataLink requests.
    band : (low, high), optional
        Angstrom: also build SODA cutout URLs for this range.

    Returns
    -------
    list of Links or FetchError
        One item per URL, in order; an error names the ID and the reason (``DataLink: HTTP 500
        ...``, ``bad DataLink VOTable ...``, ``DataLink: NotFoundFault ...``).

    Examples
    --------
    >>> resolve_datalinks([])
    []

    A failure is a reason per URL, never an exception (nothing listens on loopback port 9):

    >>> for r in resolve_datalinks(["http://127.0.0.1:9/dl?ID=ivo://x/1", "http://h/dl"],
    ...                            FetchOptions(retries=0)):
    ...     print(r)
    http://127.0.0.1:9/dl: DataLink: connection refused
    http://h/dl: a DataLink URL needs exactly one ID parameter

    A spectra list's DataLink column, resolved against its archive's service (a DataLink
    service is needed: the VO tier's DaCHS, or the loopback one of tests/unit/test_datalink.py):

    >>> links = resolve_datalinks(spectra["datalink_url"], band=(6400, 6700))  # doctest: +SKIP
    """
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    keys: list[tuple[tuple[str, tuple[tuple[str, str], ...]], str] | FetchError] = []
    for url in urls:
        try:
            base, ident, extra = split_datalink_url(url)
        except ValueError as exc:
            keys.append(FetchError(url, str(exc).split(": ", 1)[-1]))
            continue
        ids = groups.setdefault((base, extra), [])
        ids.append(ident)
        keys.append(((base, extra), ident))
    jobs = []
    for (base, extra), ids in groups.items():
        unique = list(dict.fromkeys(ids))
        for k in range(0, len(unique), BATCH):
            jobs.append((base, extra, unique[k : k + BATCH]))
    results: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Links | FetchError]] = {}
    if jobs:
        with ThreadPoolExecutor(min(len(jobs), options.concurrency)) as pool:
            done = list(pool.map(lambda j: (j[0], j[1], _resolve_batch(*j, options, band)), jobs))
        for base, extra, got in done:
            results.setdefault((base, extra), {}).update(got)
    out: list[Links | FetchError] = []
    for k in keys:
        if isinstance(k, FetchError):
            out.append(k)
        else:
            group, ident = k
            out.append(results[group][ident])
    return out


def fetch_spectra(
    datalink_urls: Sequence[str],
    access_urls: Sequence[str],
    options: FetchOptions = DEFAULT_OPTIONS,
    *,
    band: tuple[float, float] | None = None,
) -> list[bytes | FetchError]:
    """Fetch spectra that have DataLink URLs, as ``options.cutout`` says.

    Parameters
    ----------
    datalink_urls, access_urls : sequence of str
        Per spectrum, its DataLink URL and its access URL.
    options : FetchOptions
        Its ``cutout`` picks SODA cutouts (``"server"``), whole files (``"local"``) or the
        access URLs as they are (``"none"``).
    band : (low, high), optional
        The cutout range in Angstrom (for ``"server"``).

    Returns
    -------
    list of bytes or FetchError
        One item per spectrum, in order: the bytes, or the reason it could not be fetched.

    Examples
    --------
    >>> fetch_spectra([], [])
    []
    """
    n = len(datalink_urls)
    out: list[bytes | FetchError | None] = [None] * n
    targets: dict[int, str] = {}
    need: list[int] = []
    for i, (dl, acc) in enumerate(zip(datalink_urls, access_urls)):
        if options.cutout == "none" and acc and acc != dl:
            targets[i] = acc
        else:
            need.append(i)
    links = resolve_datalinks(
        [datalink_urls[i] for i in need],
        options,
        band=band if options.cutout == "server" else None,
    )
    for i, link in zip(need, links):
        if isinstance(link, FetchError):
            out[i] = link
        elif options.cutout == "server" and link.soda_url:
            targets[i] = link.soda_url
        elif link.this_url:
            targets[i] = link.this_url
        else:
            out[i] = FetchError(datalink_urls[i], "DataLink: no #this link for this ID")
    order = sorted(targets)
    for i, got in zip(order, fetch_many([targets[i] for i in order], options)):
        out[i] = got
    return [o if o is not None else FetchError("<unknown>", "not fetched") for o in out]

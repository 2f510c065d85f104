"""Spectra lists from a TAP service: an ADQL query, sync or async, with optional table uploads.

Every VO call goes through pyvo. A result cut at MAXREC is not an error: the rows returned are
listed and a :class:`TruncatedResultWarning` says how many.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pyvo
from astropy.table import Table

from vocloud.sources.columns import spectra_frame

#: Modes of :class:`TAPSource`.
TAP_MODES = ("sync", "async")


class TruncatedResultWarning(UserWarning):
    """A VO query returned fewer rows than match: its result was cut at MAXREC."""


class VOServiceError(RuntimeError):
    """A VO service refused or failed a query; the message names the service and the reason."""


def _upload_table(value: Any, base_dir: Path) -> Any:
    """An astropy Table from a Table, DataFrame, sequence of ids, or a CSV/VOTable/FITS file."""
    if isinstance(value, Table):
        return value
    if isinstance(value, pd.DataFrame):
        return Table.from_pandas(value)
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        if not path.is_absolute():
            path = base_dir / path
        if not path.exists():
            raise FileNotFoundError(f"TAP upload table {path}: no such file")
        suffix = path.suffix.lower()
        if suffix in (".csv", ".txt"):
            return Table.read(path, format="ascii.csv")
        if suffix in (".xml", ".vot", ".votable"):
            return Table.read(path, format="votable")
        return Table.read(path)
    if isinstance(value, list | tuple):
        return Table({"id": [str(v) for v in value]})
    raise ValueError(
        f"TAP upload: expected a table, a DataFrame, a list of ids or a file, not {type(value).__name__}"
    )


def results_to_spectra(
    results: Any,
    where: str,
    *,
    access_column: str | None = None,
    id_column: str | None = None,
    maxrec: int | None = None,
) -> pd.DataFrame:
    """The spectra list of pyvo query results (TAP, SSA); warns when the result was cut.

    Parameters
    ----------
    results : pyvo.dal.DALResults
        The results (their ``votable`` is read: service descriptors give ``datalink_url``).
    where : str
        Names the service in messages.
    access_column, id_column : str, optional
        Override the automatic column search.
    maxrec : int, optional
        The MAXREC asked for, named in the warning.
    """
    status = str((getattr(results, "status", None) or ("",))[0] or "").lower()
    if status == "overflow":
        asked = f"MAXREC={maxrec}" if maxrec else "the service's MAXREC limit"
        warnings.warn(
            TruncatedResultWarning(
                f"{where}: result truncated at {asked}: {len(results)} rows returned and more "
                "match; raise maxrec (mode: async for large results) or narrow the query"
            ),
            stacklevel=3,
        )
    vot = results.votable
    table = results.resultstable
    return spectra_frame(vot, table, where=where, access_column=access_column, id_column=id_column)


#: Query errors that a service reports for its own passing trouble, not for the query: DaCHS
#: (2.7) gives each sync query a UWS job row with a 100 ms lock timeout and answers "Could not
#: access the jobs table. This probably means there is a stale lock on it." when it is busy.
TRANSIENT_QUERY_ERRORS = ("could not access the jobs table", "stale lock")

#: Seconds to wait before each retry of a query that failed for a transient reason.
QUERY_BACKOFF = (0.5, 2.0, 5.0)


def _transient(exc: Exception) -> bool:
    """A failure worth another try: a service-side query error we know, HTTP 5xx, no answer."""
    reason = str(getattr(exc, "reason", None) or exc).lower()
    if isinstance(exc, pyvo.dal.DALQueryError):
        return any(m in reason for m in TRANSIENT_QUERY_ERRORS)
    if isinstance(exc, pyvo.dal.DALServiceError):
        code = getattr(exc, "code", None)
        if code is not None:
            return int(code) >= 500
        return any(m in reason for m in ("timed out", "connection reset", "connection aborted"))
    return False


def run_query(fn: Any, where: str, *, retries: int = len(QUERY_BACKOFF)) -> Any:
    """Call a pyvo query, again after a transient failure; failures become VOServiceError.

    pyvo's own overflow warning is replaced by ours (with the count). A service's passing
    trouble (HTTP 5xx, a reset, a timeout, a known server-side lock error) is retried up to
    ``retries`` times with backoff; a refused query (ADQL error, 4xx) is not.

    Examples
    --------
    >>> calls = []
    >>> def flaky():
    ...     import pyvo
    ...     calls.append(1)
    ...     if len(calls) == 1:
    ...         raise pyvo.dal.DALServiceError("Service Unavailable", code=503)
    ...     return "rows"
    >>> import vocloud.sources.tap as tap
    >>> tap.QUERY_BACKOFF, saved = (0.0,), tap.QUERY_BACKOFF
    >>> run_query(flaky, "TAP http://example.org/tap", retries=1), len(calls)
    ('rows', 2)
    >>> tap.QUERY_BACKOFF = saved
    """

    for attempt in range(retries + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", pyvo.dal.exceptions.DALOverflowWarning)
                return fn()
        except (pyvo.dal.DALQueryError, pyvo.dal.DALServiceError, pyvo.dal.DALFormatError) as exc:
            if attempt < retries and _transient(exc):
                time.sleep(QUERY_BACKOFF[min(attempt, len(QUERY_BACKOFF) - 1)])
                continue
            tries = f" (after {attempt + 1} attempts)" if attempt else ""
            if isinstance(exc, pyvo.dal.DALQueryError):
                raise VOServiceError(
                    f"{where}: query refused: {exc.reason or exc}{tries}"
                ) from None
            reason = str(exc.reason or exc)
            if "Connection refused" in reason or "NewConnectionError" in reason:
                reason = "connection refused (is the service running?)"
            elif "timed out" in reason.lower():
                reason = f"timeout ({reason})"
            raise VOServiceError(f"{where}: failed: {reason}{tries}") from None
    raise AssertionError("unreachable")  # pragma: no cover


class TAPSource:
    """Spectra listed by an ADQL query to a TAP service.

    Parameters
    ----------
    url : str
        The TAP service, e.g. ``http://localhost:8080/tap``.
    query : str
        ADQL returning one row per spectrum, with an access URL column (ObsCore ``access_url``,
        SSA ``accref``, or any column with UCD ``meta.ref.url``) and, where possible, a
        publisher DID.
    mode : {"sync", "async"}
        ``"async"`` for long queries (UWS job; waits up to ``timeout`` seconds).
    maxrec : int, optional
        The most rows wanted; a result cut there (or at the service's limit) warns with
        :class:`TruncatedResultWarning`.
    uploads : dict, optional
        Tables to upload, by name (``TAP_UPLOAD.<name>`` in the query): astropy Tables,
        DataFrames, lists of ids (one column ``id``), or CSV/VOTable files.
    timeout : float
        Seconds to wait for an async job.
    access_column, id_column : str, optional
        Override the automatic column search.
    base_dir : str or Path
        Folder that relative upload file names are relative to.

    Examples
    --------
    >>> src = TAPSource("http://localhost:8080/tap",
    ...                 "SELECT * FROM ivoa.obscore WHERE dataproduct_type='spectrum'")
    >>> src.describe()["mode"]
    'sync'
    >>> spectra = src.list()  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        query: str,
        *,
        mode: str = "sync",
        maxrec: int | None = None,
        uploads: dict[str, Any] | None = None,
        timeout: float = 600.0,
        access_column: str | None = None,
        id_column: str | None = None,
        base_dir: str | os.PathLike[str] = ".",
    ) -> None:
        if mode not in TAP_MODES:
            raise ValueError(
                f"source.tap: mode must be one of {', '.join(TAP_MODES)}, not {mode!r}"
            )
        if not isinstance(query, str) or not query.strip():
            raise ValueError("source.tap: a non-empty ADQL 'query' is needed")
        if maxrec is not None and (isinstance(maxrec, bool) or int(maxrec) < 1):
            raise ValueError(f"source.tap: maxrec must be a positive integer, not {maxrec!r}")
        self.url = url
        self.query = query
        self.mode = mode
        self.maxrec = None if maxrec is None else int(maxrec)
        self.uploads = dict(uploads or {})
        self.timeout = float(timeout)
        self.access_column = access_column
        self.id_column = id_column
        self.base_dir = Path(base_dir)

    def describe(self) -> dict[str, Any]:
        """JSON-able description for provenance (the query is kept: the store's provenance names its source query)."""
        return {
            "tap": self.url,
            "query": self.query,
            "mode": self.mode,
            "maxrec": self.maxrec,
            "uploads": sorted(self.uploads),
        }

    def list(self) -> pd.DataFrame:
        """Run the query and return the spectra list.

        Raises
        ------
        VOServiceError
            When the service refuses the query (e.g. an ADQL error) or fails.
        """
        where = f"TAP {self.url}"
        uploads = {k: _upload_table(v, self.base_dir) for k, v in self.uploads.items()} or None
        service = pyvo.dal.TAPService(self.url)
        if self.mode == "sync":
            res = run_query(
                lambda: service.run_sync(self.query, maxrec=self.maxrec, uploads=uploads), where
            )
        else:
            res = run_query(
                lambda: service.run_async(
                    self.query, maxrec=self.maxrec, uploads=uploads, timeout=self.timeout
                ),
                where,
            )
        return results_to_spectra(
            res,
            where,
            access_column=self.access_column,
            id_column=self.id_column,
            maxrec=self.maxrec,
        )

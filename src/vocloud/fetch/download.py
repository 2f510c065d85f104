"""Downloads: :func:`fetch` (one URL: the raw cache, credentials per host, the per-server limit and
retries with a doubling back-off) and :func:`fetch_many` (a block of URLs in parallel threads)."""

from __future__ import annotations

import contextvars
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from vocloud.fetch.cache import cache_key, cache_path, cache_read, cache_write
from vocloud.fetch.credentials import MissingPasswordError, configured_login
from vocloud.fetch.errors import Fail, FetchError, Retry
from vocloud.fetch.ftp import ftp_attempt
from vocloud.fetch.http import HTTP_SCHEMES, http_attempt
from vocloud.fetch.limits import server_slot
from vocloud.fetch.options import DEFAULT_OPTIONS, FetchOptions
from vocloud.fetch.urls import redact, same_server, scrub, server_name, split_credentials

__all__ = ["MAX_THREADS", "fetch", "fetch_many"]

log = logging.getLogger(__name__)

#: Most threads :func:`fetch_many` starts, whatever the number of hosts.
MAX_THREADS = 64
SCHEMES = (*HTTP_SCHEMES, "ftp")


def fetch(
    url: str,
    options: FetchOptions = DEFAULT_OPTIONS,
    *,
    params: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
) -> bytes:
    """Download one URL (http, https or ftp), with retries and the optional raw cache.

    Parameters
    ----------
    url : str
        The URL; it may hold ``user:password@`` (never shown nor hashed).
    options : FetchOptions
        Retries, timeout, back-off, cache folder and credentials per host.
    params : mapping or None
        Query parameters (http/https only), added to the URL and to the cache key.
    data : mapping or None
        Form fields sent with a POST (http/https only; a value may be a list, sent repeated),
        added to the cache key. Used for DataLink requests with many IDs.

    Returns
    -------
    bytes
        The body, exactly as sent (``Accept-Encoding: identity`` is asked for).

    Raises
    ------
    FetchError
        If the URL has an unsupported scheme, or the last attempt failed. Its reason says why,
        e.g. ``"HTTP 404 Not Found"``, ``"HTTP 503 Service Unavailable (after 4 attempts)"``,
        ``"timeout after 30 s"``, ``"connection reset"``, ``"truncated body: got N of M bytes"``.
        A login whose ``password_env`` is not set fails at once (``transient``: a rerun retries).

    Examples
    --------
    >>> fetch("file:///etc/hostname")
    Traceback (most recent call last):
    ...
    vocloud.fetch.errors.FetchError: file:///etc/hostname: unsupported URL scheme 'file'

    From an HTTP server on loopback (vocloud.testing.StaticServer):

    >>> import tempfile, pathlib
    >>> from vocloud.testing import StaticServer
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "1.fits").write_bytes(b"SIMPLE  =                    T")
    >>> server = StaticServer(folder).start()
    >>> fetch(server.url + "1.fits", FetchOptions(retries=1))[:6]
    b'SIMPLE'
    >>> fetch(server.url + "2.fits", FetchOptions(retries=1))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vocloud.fetch.errors.FetchError: http://127.0.0.1:.../2.fits: HTTP 404 ...
    >>> server.close()
    """
    shown = redact(url)
    try:
        clean, user, password = split_credentials(url)
        parts = urlsplit(clean)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise FetchError(shown, f"invalid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise FetchError(shown, f"unsupported URL scheme {scheme!r}")
    if not parts.hostname:
        raise FetchError(shown, "no host in the URL")
    if (params or data is not None) and scheme == "ftp":
        raise FetchError(shown, "query parameters are not supported for ftp")

    path: str | None = None
    if options.cache_dir is not None:
        key_params = dict(params or {})
        if data is not None:
            key_params["\x00POST"] = sorted((str(k), str(v)) for k, v in data.items())
        path = cache_path(options.cache_dir, cache_key(url, key_params))
        cached = cache_read(path, shown)
        if cached is not None:
            return cached

    # Credentials: the URL's own for that server only, else those configured for each host.
    secrets: list[str | None] = [user, password]
    url_login = (user, password or "") if user is not None else None

    def auth_for(target: str) -> tuple[str, str] | None:
        t = urlsplit(target)
        if url_login is not None and same_server(parts, t):
            return url_login
        login = configured_login("http", t, options.credentials)
        if login is not None and login[1] not in secrets:
            secrets.extend(login)
        return login

    if scheme == "ftp" and user is None:
        try:
            login = configured_login("ftp", parts, options.credentials)
        except MissingPasswordError as exc:
            raise FetchError(shown, str(exc), None, True) from None
        if login is not None:
            user, password = login
            secrets = [user, password]

    server = server_name(parts)
    attempts = options.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            with server_slot(server, options.concurrency):
                if scheme == "ftp":
                    body = ftp_attempt(clean, user, password, options.timeout)
                else:
                    body = http_attempt(clean, auth_for, params, options.timeout, data)
        except MissingPasswordError as exc:
            # not retried: a variable is not set by waiting (a rerun of the experiment retries)
            raise FetchError(shown, str(exc), None, True) from None
        except Fail as exc:
            reason = exc.reason if attempt == 1 else f"{exc.reason} (after {attempt} attempts)"
            raise FetchError(shown, scrub(reason, secrets), exc.status) from None
        except Retry as exc:
            if attempt == attempts:
                reason = exc.reason if attempt == 1 else f"{exc.reason} (after {attempt} attempts)"
                raise FetchError(shown, scrub(reason, secrets), exc.status, True) from None
            delay = options.backoff * 2 ** (attempt - 1)
            log.debug(
                "fetch %s: %s; retry %d of %d in %g s",
                shown,
                scrub(exc.reason, secrets),
                attempt,
                options.retries,
                delay,
            )
            if delay > 0:
                time.sleep(delay)
            continue
        if path is not None:
            cache_write(path, body)
        return body
    raise AssertionError("unreachable")  # pragma: no cover


def _fetch_or_error(url: str, options: FetchOptions) -> bytes | FetchError:
    try:
        return fetch(url, options)
    except FetchError as exc:
        return exc
    except Exception as exc:  # a bug or an odd library error must not sink the whole block
        log.exception("unexpected error fetching %s", redact(url))
        return FetchError(redact(url), f"unexpected error: {type(exc).__name__}")


def fetch_many(
    urls: Sequence[str], options: FetchOptions = DEFAULT_OPTIONS
) -> list[bytes | FetchError]:
    """Download many URLs in parallel threads, at most ``options.concurrency`` per server.

    Parameters
    ----------
    urls : sequence of str
        The URLs; the same URL given twice is downloaded once.
    options : FetchOptions
        As for :func:`fetch`; ``concurrency`` threads per server are started, and the
        requests of all of them (and of other tasks of the run) share the per-server limit.

    Returns
    -------
    list of bytes or FetchError
        One item per URL, in the order of ``urls``: the body, or the error (never raised).

    Examples
    --------
    >>> fetch_many([])
    []
    >>> fetch_many(["file:///etc/hostname"])
    [FetchError('file:///etc/hostname', "unsupported URL scheme 'file'", None)]
    """
    results: list[bytes | FetchError | None] = [None] * len(urls)
    positions: dict[str, list[int]] = {}
    for i, u in enumerate(urls):
        positions.setdefault(u, []).append(i)
    queues: dict[str, deque[str]] = {}
    for u in positions:
        try:
            host = urlsplit(redact(u)).netloc.lower()
        except ValueError:
            host = ""
        queues.setdefault(host, deque()).append(u)

    def work(queue: deque[str]) -> None:
        while True:
            try:
                u = queue.popleft()
            except IndexError:
                return
            res = _fetch_or_error(u, options)
            for i in positions[u]:
                results[i] = res

    jobs: list[tuple[Callable[[deque[str]], None], deque[str]]] = []
    for queue in queues.values():
        jobs.extend((work, queue) for _ in range(min(options.concurrency, len(queue))))
    if len(jobs) == 1:
        work(jobs[0][1])
    elif jobs:
        with ThreadPoolExecutor(min(len(jobs), MAX_THREADS), "vocloud-fetch") as pool:
            # each thread runs in a copy of this one's context, so it sees the Dask worker
            futures = [pool.submit(contextvars.copy_context().run, fn, q) for fn, q in jobs]
            for future in futures:
                future.result()
    return [r if r is not None else FetchError("<unknown>", "not fetched") for r in results]

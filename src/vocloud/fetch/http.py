"""One http(s) download: a ``requests.Session`` per thread, redirects followed by hand (credentials
never carried to another server nor down to http), the body checked against Content-Length."""

from __future__ import annotations

import http
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from vocloud._version import __version__
from vocloud.fetch.errors import Fail, Retry, connection_reason, seconds
from vocloud.fetch.urls import redact

__all__ = ["HTTP_SCHEMES", "MAX_REDIRECTS", "http_attempt", "session"]

log = logging.getLogger(__name__)

#: Most redirects followed for one request.
MAX_REDIRECTS = 10
#: The schemes :func:`http_attempt` follows redirects to.
HTTP_SCHEMES = ("http", "https")
_CHUNK = 1 << 16
_USER_AGENT = f"vocloud/{__version__}"
_local = threading.local()


def session() -> requests.Session:
    """The ``requests.Session`` of this thread (made on first use)."""
    s = getattr(_local, "session", None)
    if s is None:
        s = requests.Session()
        s.headers["User-Agent"] = _USER_AGENT
        # The raw bytes are wanted (and cached), and Content-Length then counts them.
        s.headers["Accept-Encoding"] = "identity"
        _local.session = s
    return s


def _phrase(status: int, server_reason: str | None) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return server_reason or "(unknown status)"


def http_attempt(
    url: str,
    auth_for: Callable[[str], tuple[str, str] | None],
    params: Mapping[str, Any] | None,
    timeout: float,
    data: Mapping[str, Any] | None = None,
) -> bytes:
    """One GET (POST with ``data``) of ``url`` (credentials already removed), following redirects.

    ``auth_for(u)`` gives the credentials for each URL of the chain (or None); none are sent
    once the chain went from https down to http.
    """
    s = session()
    first_scheme = urlsplit(url).scheme.lower()
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        downgrade = first_scheme == "https" and urlsplit(current).scheme.lower() != "https"
        send_auth = None if downgrade else auth_for(current)
        try:
            first = current is url
            r = s.request(
                "POST" if data is not None and first else "GET",
                current,
                params=params if first else None,
                data=data if first else None,
                auth=send_auth,
                timeout=(timeout, timeout),
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise Retry(connection_reason(exc, timeout)) from None
        with r:
            status = r.status_code
            if r.is_redirect:
                target = urljoin(r.url, r.headers["location"])
                scheme = urlsplit(target).scheme.lower()
                if scheme not in HTTP_SCHEMES:
                    raise Fail(f"redirect to unsupported URL scheme {scheme!r}", status)
                log.debug("redirect %s -> %s", redact(r.url), redact(target))
                current = target
                continue
            if status >= 400:
                reason = f"HTTP {status} {_phrase(status, r.reason)}"
                if status >= 500:
                    raise Retry(reason, status)
                raise Fail(reason, status)
            if status >= 300:
                raise Fail(f"HTTP {status} {_phrase(status, r.reason)} (no Location)", status)
            return _read_body(r, timeout)
    raise Fail(f"too many redirects (more than {MAX_REDIRECTS})")


def _read_body(r: requests.Response, timeout: float) -> bytes:
    """The body of ``r``, checked against its Content-Length."""
    expected: int | None = None
    header = r.headers.get("content-length")
    if header is not None:
        try:
            expected = int(header)
        except ValueError:
            expected = None
    parts: list[bytes] = []
    received = 0
    broken: BaseException | None = None
    try:
        for chunk in r.iter_content(_CHUNK):
            parts.append(chunk)
            received += len(chunk)
    except requests.RequestException as exc:
        broken = exc
    # Bytes off the wire (Content-Length counts them, whatever the content encoding).
    try:
        wire = int(r.raw.tell())
    except Exception:
        wire = received
    if expected is not None and wire < expected:
        if broken is not None and connection_reason(broken, timeout).startswith("timeout"):
            raise Retry(f"timeout after {seconds(timeout)} (got {wire} of {expected} bytes)")
        raise Retry(f"truncated body: got {wire} of {expected} bytes", r.status_code)
    if broken is not None:
        raise Retry(connection_reason(broken, timeout), r.status_code)
    return b"".join(parts)

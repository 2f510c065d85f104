"""What can go wrong with a download: :class:`FetchError` (public), and the outcome of one attempt
(:class:`Retry`: worth another attempt; :class:`Fail`: final), with the reason shown to users."""

from __future__ import annotations

import socket

import requests

__all__ = ["Fail", "FetchError", "Retry", "connection_reason", "seconds"]


class FetchError(Exception):
    """A URL could not be fetched.

    Parameters
    ----------
    url : str
        The URL, without credentials.
    reason : str
        What went wrong, e.g. ``"HTTP 404 Not Found"`` or ``"timeout after 30 s"``.
    status : int or None
        The HTTP status (or FTP reply code) of the last answer, if there was one.
    transient : bool
        Whether the failure may go away by itself: the attempts ended on a 5xx answer, a
        timeout, a reset or refused connection, a truncated body or a temporary FTP error
        (the failures :func:`fetch` retries), or the environment variable of a configured
        password was not set (``password_env``). False for 4xx answers, bad URLs and redirects.
        A rerun of an experiment retries the spectra whose download failed this way.

    Examples
    --------
    >>> err = FetchError("http://example.org/a.fits", "HTTP 404 Not Found", 404)
    >>> str(err)
    'http://example.org/a.fits: HTTP 404 Not Found'
    >>> err.status, err.transient
    (404, False)
    """

    def __init__(
        self, url: str, reason: str, status: int | None = None, transient: bool = False
    ) -> None:
        # args kept so that the error pickles (Dask)
        super().__init__(url, reason, status, *((True,) if transient else ()))
        self.url = url
        self.reason = reason
        self.status = status
        self.transient = transient

    def __str__(self) -> str:
        return f"{self.url}: {self.reason}"


class Retry(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason, status)
        self.reason = reason
        self.status = status


class Fail(Exception):
    """One attempt failed for good (no retry)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason, status)
        self.reason = reason
        self.status = status


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, its causes and contexts, and exceptions held in their args (urllib3 style)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 32:
        e = todo.pop()
        if any(e is s for s in seen):
            continue
        seen.append(e)
        todo.extend(a for a in e.args if isinstance(a, BaseException))
        for nxt in (e.__cause__, e.__context__, getattr(e, "reason", None)):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return seen


def seconds(t: float) -> str:
    return f"{t:g} s"


def connection_reason(exc: BaseException, timeout: float) -> str:
    chain = _chain(exc)
    if any(isinstance(e, requests.Timeout | TimeoutError | socket.timeout) for e in chain):
        return f"timeout after {seconds(timeout)}"
    if any(type(e).__name__ in ("ReadTimeoutError", "ConnectTimeoutError") for e in chain):
        return f"timeout after {seconds(timeout)}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
        type(e).__name__ == "NameResolutionError" for e in chain
    ):
        return "cannot resolve host name"
    return "connection reset"

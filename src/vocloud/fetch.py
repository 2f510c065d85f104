"""Fetch remote spectra (http, https, ftp) with retries, a per-host concurrency limit and a raw cache.

Spectra lists may hold remote access URLs; they are fetched inside Dask tasks with :func:`fetch`
(one URL) or :func:`fetch_many` (a block of URLs, downloaded in parallel threads).

* http/https use :mod:`requests` (one ``Session`` per thread, body streamed, ``Content-Length``
  checked). Redirects are followed by hand (at most :data:`MAX_REDIRECTS`), only to http/https,
  and credentials are not sent on to another host.
* ftp uses :mod:`ftplib`, anonymous unless the URL, the ``credentials`` option or the
  environment give a user for the URL's host.
* Retries (``FetchOptions.retries``) on 5xx answers, timeouts, connection errors and truncated
  bodies, with a doubling back-off; never on 4xx answers.
* Credentials never appear in error messages, logs, cache keys or cache file names: the URL is
  always shown and hashed without them.

Credentials (HTTP Basic, FTP login) are sent only to the host they are for. For each request,
the first of these that applies is used (see :mod:`vocloud.credentials`):

1. ``user:password@`` in the URL itself: for that URL only (and a redirect to the same host and
   port, or from http on port 80 to https on port 443 of the same host);
2. ``FetchOptions.credentials`` (``fetch: credentials:`` in the experiment file), per host or
   ``host:port``: ``{user: alice, password_env: ARCHIVE_PASSWORD}``, the password read from the
   environment where the request is made, or ``{user: bob, password: secret}``;
3. ``VOCLOUD_HTTP_USER`` / ``VOCLOUD_HTTP_PASSWORD`` (http, https) and ``VOCLOUD_FTP_USER`` /
   ``VOCLOUD_FTP_PASSWORD`` (ftp), for the hosts listed in ``VOCLOUD_HTTP_HOSTS`` /
   ``VOCLOUD_FTP_HOSTS`` only (comma-separated host or host:port). Without the hosts variable
   they are sent to no host, and one warning per process says so;
4. for http(s), ``~/.netrc`` (per host, as :mod:`requests` reads it).

Each redirect is checked anew: a redirect never takes credentials to a host they were not given
for, nor from https down to http.
"""

from __future__ import annotations

import contextvars
import ftplib
import functools
import hashlib
import http
import logging
import os
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import SplitResult, unquote, urlencode, urljoin, urlsplit, urlunsplit

import requests

from vocloud._version import __version__
from vocloud.credentials import Credentials, MissingPasswordError, env_login

__all__ = [
    "DEFAULT_OPTIONS",
    "MAX_REDIRECTS",
    "Credentials",
    "FetchError",
    "FetchOptions",
    "cache_key",
    "fetch",
    "fetch_many",
]

log = logging.getLogger(__name__)

#: Most redirects followed for one request.
MAX_REDIRECTS = 10
#: Most threads :func:`fetch_many` starts, whatever the number of hosts.
MAX_THREADS = 64
_CHUNK = 1 << 16
_HTTP_SCHEMES = ("http", "https")
_SCHEMES = (*_HTTP_SCHEMES, "ftp")
_USER_AGENT = f"vocloud/{__version__}"


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


#: Values of :attr:`FetchOptions.cutout`.
CUTOUT_MODES = ("server", "local", "none")


@dataclass(frozen=True)
class FetchOptions:
    """How remote spectra are fetched.

    Parameters
    ----------
    concurrency : int
        Parallel requests per server (``host:port``) for the whole run: inside a
        dask.distributed worker a cluster-wide :class:`distributed.Semaphore` per server bounds
        the requests of all tasks together; elsewhere a semaphore of the process does.
    retries : int
        Extra attempts on 5xx answers, timeouts, connection errors and truncated bodies; none on
        4xx answers.
    timeout : float
        Seconds, for the connection and for each read (not for the whole download).
    backoff : float
        Seconds waited before the first retry, doubled for each further retry.
    cache_dir : str or None
        Folder of an on-disk cache of the raw downloads; None: no cache.
    cutout : {"server", "local", "none"}
        For spectra with a DataLink service (TAP, ObsCore and SSAP lists): ``"server"`` asks the
        service's SODA endpoint for a cutout around the experiment's line (BAND in metres) and
        falls back to the whole file when the service offers no SODA; ``"local"`` fetches the
        whole file (DataLink ``#this``) and cuts it locally; ``"none"`` fetches ``access_url`` as
        it is, resolving DataLink only when the access URL is a DataLink document.
    credentials : Credentials or mapping
        Logins per host (``host`` or ``host:port``): ``{"archive.example.org": {"user": "alice",
        "password_env": "ARCHIVE_PASSWORD"}}`` (the password read from that environment
        variable when the request is made) or ``{"user": ..., "password": ...}``. Sent only to
        the matching host (HTTP Basic or FTP login); never shown by ``repr``, in errors or logs.

    Examples
    --------
    >>> FetchOptions.from_dict({"retries": 1, "timeout": 5})  # doctest: +NORMALIZE_WHITESPACE
    FetchOptions(concurrency=8, retries=1, timeout=5.0, backoff=0.5, cache_dir=None,
                 cutout='server', credentials=Credentials({}))
    >>> FetchOptions.from_dict({"credentials": {"ftp.example.org:21": {"user": "bob",
    ...                                                                "password": "secret"}}})
    ...                                                     # doctest: +NORMALIZE_WHITESPACE
    FetchOptions(concurrency=8, retries=3, timeout=30.0, backoff=0.5, cache_dir=None,
                 cutout='server', credentials=Credentials({'ftp.example.org:21': {'user': 'bob',
                 'password': '***'}}))
    >>> FetchOptions.from_dict({"retry": 1})
    Traceback (most recent call last):
    ...
    ValueError: unknown fetch option(s): 'retry'; valid options: 'concurrency', 'retries', 'timeout', 'backoff', 'cache_dir', 'cutout', 'credentials'
    """

    concurrency: int = 8
    retries: int = 3
    timeout: float = 30.0
    backoff: float = 0.5
    cache_dir: str | None = None
    cutout: str = "server"
    credentials: Credentials = field(default_factory=Credentials)

    def __post_init__(self) -> None:
        object.__setattr__(self, "credentials", Credentials.from_config(self.credentials))
        if self.cutout not in CUTOUT_MODES:
            raise ValueError(
                f"fetch option 'cutout' must be one of {', '.join(CUTOUT_MODES)}, not {self.cutout!r}"
            )
        for name, low in (("concurrency", 1), ("retries", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"fetch option {name!r} must be an integer >= {low}, not {value!r}"
                )
        for name, positive in (("timeout", True), ("backoff", False)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"fetch option {name!r} must be a number, not {value!r}")
            if (
                not (value > 0 if positive else value >= 0)
                or value != value
                or value == float("inf")
            ):
                bound = "> 0" if positive else ">= 0"
                raise ValueError(f"fetch option {name!r} must be finite and {bound}, not {value!r}")
            object.__setattr__(self, name, float(value))
        if self.cache_dir is not None:
            if not isinstance(self.cache_dir, str | os.PathLike) or not os.fspath(self.cache_dir):
                raise ValueError(
                    f"fetch option 'cache_dir' must be a path or None, not {self.cache_dir!r}"
                )
            object.__setattr__(self, "cache_dir", str(os.fspath(self.cache_dir)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> FetchOptions:
        """Options from a mapping (e.g. a ``fetch:`` section of a configuration).

        Parameters
        ----------
        d : mapping or None
            Option names and values; missing ones keep their default.

        Returns
        -------
        FetchOptions

        Raises
        ------
        ValueError
            If a key is not an option (all unknown keys are named) or a value is invalid.
        """
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise ValueError(f"fetch options must be a mapping, not {type(d).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = [k for k in d if k not in names]
        if unknown:
            raise ValueError(
                f"unknown fetch option(s): {', '.join(repr(k) for k in unknown)}; "
                f"valid options: {', '.join(repr(n) for n in names)}"
            )
        return cls(**d)


#: The options used when none are given.
DEFAULT_OPTIONS = FetchOptions()


# --------------------------------------------------------------------------------------- URLs
def _split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without ``user:password@``, and the (unquoted) user and password."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None, None
    user, colon, password = userinfo.partition(":")
    clean = urlunsplit(parts._replace(netloc=hostport))
    return clean, unquote(user), (unquote(password) if colon else None)


def _redact(url: str) -> str:
    """``url`` without credentials, safe to print; never raises."""
    try:
        return _split_credentials(url)[0]
    except ValueError:
        return "<invalid URL>"


def _scrub(text: str, secrets: Sequence[str | None]) -> str:
    """``text`` with every (non-trivial) secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) > 1:
            text = text.replace(secret, "***")
    return text


def cache_key(url: str, params: Mapping[str, Any] | None = None) -> str:
    """The cache key of a URL: sha256 (hex) of the URL without credentials and the sorted params.

    Parameters
    ----------
    url : str
        The URL; ``user:password@`` is removed before hashing.
    params : mapping or None
        Query parameters added by :func:`fetch`; their order does not matter.

    Returns
    -------
    str
        64 hex digits; the cache file is ``<cache_dir>/<key[:2]>/<key>``.

    Examples
    --------
    >>> k = cache_key("https://user:secret@example.org/spec/1.fits")
    >>> k == cache_key("https://example.org/spec/1.fits")
    True
    >>> len(k)
    64
    >>> cache_key("http://h/x", {"b": 2, "a": 1}) == cache_key("http://h/x", {"a": 1, "b": 2})
    True
    >>> cache_key("http://h/x", {"a": 1}) == cache_key("http://h/x")
    False
    """
    text = _redact(url)
    if params:
        text += "\n" + urlencode(sorted((str(k), str(v)) for k, v in params.items()))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# -------------------------------------------------------------------------------------- cache
def _cache_path(cache_dir: str, key: str) -> str:
    return os.path.join(cache_dir, key[:2], key)


def _cache_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then replace)."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    except OSError as exc:
        log.warning("cannot write to the fetch cache %s: %s", folder, exc)
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot write to the fetch cache %s: %s", folder, exc)
        try:
            os.unlink(tmp)
        except OSError:
            pass


# ------------------------------------------------------------------------------------ attempts
class _Retry(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason, status)
        self.reason = reason
        self.status = status


class _Fail(Exception):
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


def _seconds(t: float) -> str:
    return f"{t:g} s"


def _connection_reason(exc: BaseException, timeout: float) -> str:
    chain = _chain(exc)
    if any(isinstance(e, requests.Timeout | TimeoutError | socket.timeout) for e in chain):
        return f"timeout after {_seconds(timeout)}"
    if any(type(e).__name__ in ("ReadTimeoutError", "ConnectTimeoutError") for e in chain):
        return f"timeout after {_seconds(timeout)}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
        type(e).__name__ == "NameResolutionError" for e in chain
    ):
        return "cannot resolve host name"
    return "connection reset"


_local = threading.local()


def _session() -> requests.Session:
    """The ``requests.Session`` of this thread (made on first use)."""
    s = getattr(_local, "session", None)
    if s is None:
        s = requests.Session()
        s.headers["User-Agent"] = _USER_AGENT
        # The raw bytes are wanted (and cached), and Content-Length then counts them.
        s.headers["Accept-Encoding"] = "identity"
        _local.session = s
    return s


def _port(parts: SplitResult) -> int | None:
    """The port of a URL, its own or its scheme's default; None for a bad or unknown one."""
    try:
        return parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None


def _same_server(origin: SplitResult, target: SplitResult) -> bool:
    """Whether a redirect stays on the server of ``origin`` (or goes from http:80 to https:443)."""
    if (origin.hostname or "").lower() != (target.hostname or "").lower():
        return False
    a, b = _port(origin), _port(target)
    if a == b:
        return a is not None
    upgrade = origin.scheme.lower() == "http" and target.scheme.lower() == "https"
    return upgrade and (a, b) == (80, 443)


def _configured_login(
    kind: str, parts: SplitResult, options: FetchOptions
) -> tuple[str, str] | None:
    """The credentials for a URL (without ``user:password@``) from the options or the environment.

    Raises
    ------
    MissingPasswordError
        The login configured for the host reads its password from an unset variable.
    """
    host = (parts.hostname or "").lower()
    port = _port(parts)
    if not host:
        return None
    login = options.credentials.lookup(host, port)
    if login is not None:
        shown = f"[{host}]" if ":" in host else host
        return login.resolve(shown if port is None else f"{shown}:{port}")
    return env_login(kind, host, port)


def _phrase(status: int, server_reason: str | None) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return server_reason or "(unknown status)"


def _http_attempt(
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
    session = _session()
    first_scheme = urlsplit(url).scheme.lower()
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        downgrade = first_scheme == "https" and urlsplit(current).scheme.lower() != "https"
        send_auth = None if downgrade else auth_for(current)
        try:
            first = current is url
            r = session.request(
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
            raise _Retry(_connection_reason(exc, timeout)) from None
        with r:
            status = r.status_code
            if r.is_redirect:
                target = urljoin(r.url, r.headers["location"])
                scheme = urlsplit(target).scheme.lower()
                if scheme not in _HTTP_SCHEMES:
                    raise _Fail(f"redirect to unsupported URL scheme {scheme!r}", status)
                log.debug("redirect %s -> %s", _redact(r.url), _redact(target))
                current = target
                continue
            if status >= 400:
                reason = f"HTTP {status} {_phrase(status, r.reason)}"
                if status >= 500:
                    raise _Retry(reason, status)
                raise _Fail(reason, status)
            if status >= 300:
                raise _Fail(f"HTTP {status} {_phrase(status, r.reason)} (no Location)", status)
            return _read_body(r, timeout)
    raise _Fail(f"too many redirects (more than {MAX_REDIRECTS})")


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
        if broken is not None and _connection_reason(broken, timeout).startswith("timeout"):
            raise _Retry(f"timeout after {_seconds(timeout)} (got {wire} of {expected} bytes)")
        raise _Retry(f"truncated body: got {wire} of {expected} bytes", r.status_code)
    if broken is not None:
        raise _Retry(_connection_reason(broken, timeout), r.status_code)
    return b"".join(parts)


def _ftp_attempt(url: str, user: str | None, password: str | None, timeout: float) -> bytes:
    """One download of an ftp URL (credentials already removed from ``url``); anonymous without
    a ``user``."""
    secrets = [user, password]
    parts = urlsplit(url)
    path = unquote(parts.path)
    if path.startswith("/"):
        path = path[1:]  # RFC 1738: relative to the login folder ("/%2F..." for an absolute one)
    if not path or path.endswith("/"):
        raise _Fail("no file name in the ftp URL")
    ftp = ftplib.FTP(timeout=timeout)
    try:
        try:
            ftp.connect(parts.hostname or "", parts.port or 21)
            if user is None:
                ftp.login()  # anonymous
            else:
                ftp.login(user, password or "")
            ftp.voidcmd("TYPE I")
            size: int | None
            try:
                size = ftp.size(path)
            except ftplib.Error:
                size = None
            chunks: list[bytes] = []
            ftp.retrbinary(f"RETR {path}", chunks.append, blocksize=_CHUNK)
        except ftplib.error_perm as exc:
            msg = _scrub(str(exc).strip(), secrets)
            code = int(msg[:3]) if msg[:3].isdigit() else None
            raise _Fail(f"FTP {msg}", code) from None
        except ftplib.error_temp as exc:
            msg = _scrub(str(exc).strip(), secrets)
            code = int(msg[:3]) if msg[:3].isdigit() else None
            raise _Retry(f"FTP {msg}", code) from None
        except ftplib.Error as exc:
            raise _Retry(f"FTP {_scrub(str(exc).strip(), secrets)}") from None
        except (OSError, EOFError) as exc:
            raise _Retry(_connection_reason(exc, timeout)) from None
    finally:
        try:
            ftp.close()
        except OSError:
            pass
    data = b"".join(chunks)
    if size is not None and len(data) < size:
        raise _Retry(f"truncated body: got {len(data)} of {size} bytes")
    return data


# ----------------------------------------------------------------------------- per-server limit
#: Names of the cluster-wide semaphores: ``vocloud-fetch/<host>:<port>/<limit>``.
SEMAPHORE_PREFIX = "vocloud-fetch"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}
_slots_lock = threading.Lock()
_local_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_cluster_slots: dict[tuple[int, str], Any] = {}
_warned = False


def _server_name(parts: SplitResult) -> str:
    """``host:port`` of a URL: what the concurrency limit counts per."""
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    return f"{(parts.hostname or '').lower()}:{port}"


@functools.cache
def _distributed() -> tuple[Any, Any, Any]:
    from distributed import get_worker
    from distributed.core import Status
    from distributed.worker import Worker

    return get_worker, Worker, Status.running


def _current_worker() -> Any | None:
    """The dask.distributed worker running this code, or None outside a worker."""
    get_worker, worker_class, running = _distributed()
    try:
        return get_worker()
    except ValueError:
        pass
    # A thread the task started itself does not see the task's worker; any running worker of
    # this process talks to the same scheduler.
    for w in list(worker_class._instances):
        if w.status == running:
            return w
    return None


def _cluster_semaphore(server: str, limit: int) -> Any | None:
    """The cluster-wide semaphore of ``server`` (made once per worker process), or None."""
    worker = _current_worker()
    if worker is None:
        return None
    name = f"{SEMAPHORE_PREFIX}/{server}/{limit}"
    key = (id(worker), name)
    sem = _cluster_slots.get(key)
    if sem is None:
        from distributed import Semaphore

        with _slots_lock:
            sem = _cluster_slots.get(key)
            if sem is None:
                sem = Semaphore(
                    max_leases=limit, name=name, scheduler_rpc=worker.scheduler, loop=worker.loop
                )
                sem.register()
                _cluster_slots[key] = sem
    return sem


def _local_semaphore(server: str, limit: int) -> threading.BoundedSemaphore:
    key = (server, limit)
    sem = _local_slots.get(key)
    if sem is None:
        with _slots_lock:
            sem = _local_slots.setdefault(key, threading.BoundedSemaphore(limit))
    return sem


class _server_slot:
    """Holds one of the ``limit`` request slots of ``server`` for the length of a ``with``.

    Inside a dask.distributed worker the slot is a lease of a :class:`distributed.Semaphore`
    named after the server, shared by every task of the cluster; elsewhere (or when the
    scheduler cannot be asked) it is a semaphore of this process.
    """

    __slots__ = ("_cluster", "_local", "limit", "server")

    def __init__(self, server: str, limit: int) -> None:
        self.server = server
        self.limit = limit
        self._cluster: Any | None = None
        self._local: threading.BoundedSemaphore | None = None

    def __enter__(self) -> None:
        global _warned
        try:
            sem = _cluster_semaphore(self.server, self.limit)
            if sem is not None:
                sem.acquire()
                self._cluster = sem
                return
        except Exception as exc:
            if not _warned:
                _warned = True
                log.warning(
                    "the per-server download limit of the cluster is not available (%s: %s); "
                    "limiting the downloads of this process only",
                    type(exc).__name__,
                    exc,
                )
        self._local = _local_semaphore(self.server, self.limit)
        self._local.acquire()

    def __exit__(self, *exc: object) -> None:
        if self._cluster is not None:
            sem, self._cluster = self._cluster, None
            try:
                sem.release()
            except Exception as exc:  # the lease times out on the scheduler by itself
                log.warning("cannot release a download slot of %s: %s", self.server, exc)
        elif self._local is not None:
            local, self._local = self._local, None
            local.release()


# ------------------------------------------------------------------------------------- public
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
    vocloud.fetch.FetchError: file:///etc/hostname: unsupported URL scheme 'file'
    >>> data = fetch("https://example.org/spec/1.fits", FetchOptions(retries=1))  # doctest: +SKIP
    """
    shown = _redact(url)
    try:
        clean, user, password = _split_credentials(url)
        parts = urlsplit(clean)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise FetchError(shown, f"invalid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
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
        path = _cache_path(options.cache_dir, cache_key(url, key_params))
        try:
            with open(path, "rb") as f:
                cached = f.read()
            log.debug("fetch cache hit %s", shown)
            return cached
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot read the fetch cache for %s: %s", shown, exc)

    # Credentials: the URL's own for that server only, else those configured for each host.
    secrets: list[str | None] = [user, password]
    url_login = (user, password or "") if user is not None else None

    def auth_for(target: str) -> tuple[str, str] | None:
        t = urlsplit(target)
        if url_login is not None and _same_server(parts, t):
            return url_login
        login = _configured_login("http", t, options)
        if login is not None and login[1] not in secrets:
            secrets.extend(login)
        return login

    if scheme == "ftp" and user is None:
        try:
            login = _configured_login("ftp", parts, options)
        except MissingPasswordError as exc:
            raise FetchError(shown, str(exc), None, True) from None
        if login is not None:
            user, password = login
            secrets = [user, password]

    server = _server_name(parts)
    attempts = options.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            with _server_slot(server, options.concurrency):
                if scheme == "ftp":
                    body = _ftp_attempt(clean, user, password, options.timeout)
                else:
                    body = _http_attempt(clean, auth_for, params, options.timeout, data)
        except MissingPasswordError as exc:
            # not retried: a variable is not set by waiting (a rerun of the experiment retries)
            raise FetchError(shown, str(exc), None, True) from None
        except _Fail as exc:
            reason = exc.reason if attempt == 1 else f"{exc.reason} (after {attempt} attempts)"
            raise FetchError(shown, _scrub(reason, secrets), exc.status) from None
        except _Retry as exc:
            if attempt == attempts:
                reason = exc.reason if attempt == 1 else f"{exc.reason} (after {attempt} attempts)"
                raise FetchError(shown, _scrub(reason, secrets), exc.status, True) from None
            delay = options.backoff * 2 ** (attempt - 1)
            log.debug(
                "fetch %s: %s; retry %d of %d in %g s",
                shown,
                _scrub(exc.reason, secrets),
                attempt,
                options.retries,
                delay,
            )
            if delay > 0:
                time.sleep(delay)
            continue
        if path is not None:
            _cache_write(path, body)
        return body
    raise AssertionError("unreachable")  # pragma: no cover


def _fetch_or_error(url: str, options: FetchOptions) -> bytes | FetchError:
    try:
        return fetch(url, options)
    except FetchError as exc:
        return exc
    except Exception as exc:  # a bug or an odd library error must not sink the whole block
        log.exception("unexpected error fetching %s", _redact(url))
        return FetchError(_redact(url), f"unexpected error: {type(exc).__name__}")


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
            host = urlsplit(_redact(u)).netloc.lower()
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

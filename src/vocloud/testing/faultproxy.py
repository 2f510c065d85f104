"""A fault-injecting HTTP proxy on loopback, and a static file server to put behind it.

:class:`FaultProxy` is a real threaded HTTP/1.1 proxy (stdlib :mod:`http.server` towards the
client, :mod:`http.client` towards the upstream) bound to ``127.0.0.1``:

* **reverse proxy**: ``FaultProxy("http://127.0.0.1:8080/tap/")`` serves the upstream's paths
  at :attr:`FaultProxy.url` (same paths, the proxy's origin). ``Location`` headers of upstream
  redirects, and by default the upstream's origin inside text bodies (VOTables, DataLink
  documents, HTML listings), are rewritten to point back through the proxy, so that a client
  that follows them never leaves it;
* **forward proxy**: a request in absolute form (``GET http://host/path``, what
  ``requests`` sends with ``proxies={"http": proxy.origin}`` or ``HTTP_PROXY``) is sent to that
  URL as it is. ``CONNECT`` (https through the proxy) is not supported.

Faults (:class:`Faults`) are decided per request from its method, target, body and attempt
number (the n-th request with the same method, target and body), hashed with a seed, so a given
request gets the same fault whatever the order in which concurrent clients arrive:

``error``     answer ``error_status`` (503 by default) without asking the upstream;
``reset``     close the connection with a TCP RST instead of answering;
``stall``     answer nothing for ``stall_seconds`` (longer than the client's timeout), then close;
``truncate``  forward the upstream's answer with its full ``Content-Length`` but only the first
              half of the body, then close the connection.

``latency`` seconds are added to every request. At most one fault hits a request, tried in the
order above: ``<kind>_first=k`` hits the first ``k`` attempts of every request, ``<kind>_rate=p``
a fraction ``p`` of the attempts; ``match`` (a regular expression searched in the target)
restricts the faults, not the latency, to some paths. :meth:`FaultProxy.stats` counts what the
proxy did and :meth:`FaultProxy.history` lists, per target, the fault of each attempt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import re
import socket
import struct
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

__all__ = ["FAULT_KINDS", "FaultProxy", "Faults", "ProxyStats", "StaticServer"]

#: The kinds of fault, in the order they are tried for a request.
FAULT_KINDS = ("error", "reset", "stall", "truncate")

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Content types whose bodies may name the upstream (VOTables, DataLink documents, listings).
_TEXT_TYPES = ("xml", "html", "text/", "json", "votable")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Faults:
    """What :class:`FaultProxy` does to the requests it sees.

    Parameters
    ----------
    latency : float
        Seconds added to every request (before it is answered or forwarded).
    error_rate, error_first : float, int
        Fraction of attempts, and number of first attempts of every request, answered with
        ``error_status`` by the proxy itself.
    error_status : int
        The status of those answers (500-599).
    reset_rate, reset_first : float, int
        Attempts whose connection is reset (TCP RST, no answer).
    stall_rate, stall_first : float, int
        Attempts that get no answer for ``stall_seconds``, then a closed connection.
    stall_seconds : float
        How long a stall lasts; make it longer than the client's timeout.
    truncate_rate, truncate_first : float, int
        Attempts whose body is cut after half its length (``Content-Length`` announces all).
    match : str or None
        A regular expression searched in the request target (``/path?query``, or the whole URL
        for a forward-proxy request): only matching requests get faults; None: all.
    seed : int
        Seed of the per-request draws.

    Examples
    --------
    >>> f = Faults(error_first=1, reset_rate=0.25, seed=3)
    >>> f.pick("GET", "/a.fits", 1), f.pick("GET", "/a.fits", 2) in (None, "reset")
    ('error', True)
    >>> [Faults(reset_rate=0.25, seed=3).pick("GET", f"/{i}.fits", 1) for i in range(6)]
    ['reset', None, None, None, None, 'reset']
    >>> Faults(match=r"\\.fits$", error_first=1).pick("GET", "/index.html", 1) is None
    True
    """

    latency: float = 0.0
    error_rate: float = 0.0
    error_first: int = 0
    error_status: int = 503
    reset_rate: float = 0.0
    reset_first: int = 0
    stall_rate: float = 0.0
    stall_first: int = 0
    stall_seconds: float = 30.0
    truncate_rate: float = 0.0
    truncate_first: int = 0
    match: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for kind in FAULT_KINDS:
            rate = getattr(self, f"{kind}_rate")
            first = getattr(self, f"{kind}_first")
            if not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
                raise ValueError(f"{kind}_rate must be a number in [0, 1], not {rate!r}")
            if isinstance(first, bool) or not isinstance(first, int) or first < 0:
                raise ValueError(f"{kind}_first must be an integer >= 0, not {first!r}")
        for name in ("latency", "stall_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value < float("inf"):
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
        if not 500 <= self.error_status <= 599:
            raise ValueError(f"error_status must be a 5xx status, not {self.error_status!r}")
        if self.match is not None:
            re.compile(self.match)

    def pick(self, method: str, target: str, attempt: int, body: bytes | None = None) -> str | None:
        """The fault (one of :data:`FAULT_KINDS`) of attempt ``attempt`` (from 1) of a request."""
        if self.match is not None and not re.search(self.match, target):
            return None
        key = f"{method} {target}"
        if body:
            key += " " + hashlib.sha256(body).hexdigest()
        for kind in FAULT_KINDS:
            if attempt <= getattr(self, f"{kind}_first"):
                return kind
            rate = getattr(self, f"{kind}_rate")
            if rate > 0 and _draw(self.seed, kind, key, attempt) < rate:
                return kind
        return None


def _draw(seed: int, kind: str, key: str, attempt: int) -> float:
    """A number in [0, 1) fixed by its arguments."""
    digest = hashlib.sha256(f"{seed}\x00{kind}\x00{key}\x00{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True)
class ProxyStats:
    """Counters of a :class:`FaultProxy` (a snapshot).

    Attributes
    ----------
    requests : int
        Requests received (every attempt counts).
    forwarded : int
        Upstream answers passed on (whole or truncated).
    faults : dict of str to int
        Faults injected, by kind (every kind of :data:`FAULT_KINDS` is a key).
    upstream_errors : int
        Requests answered 502 because the upstream could not be reached.
    inflight : int
        Requests being handled now.
    max_inflight : int
        Most requests handled at the same time. A request counts from when its headers are read
        until its answer is about to be written (stalls count for their whole length).
    """

    requests: int
    forwarded: int
    faults: dict[str, int]
    upstream_errors: int
    inflight: int
    max_inflight: int


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the default 5 drops SYNs of a burst (the client then waits 1 s)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that went away (reset, closed): nothing to report
        super().handle_error(request, client_address)


class _ProxyServer(_QuietServer):
    proxy: FaultProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer
    timeout = 120  # an idle keep-alive connection ends by itself (close() ends it sooner)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self._upstreams: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
        self.server.proxy._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            for conn in self._upstreams.values():
                conn.close()
            self.server.proxy._track(self.connection, add=False)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_GET
    do_HEAD = do_GET
    do_PUT = do_GET
    do_DELETE = do_GET

    def do_CONNECT(self) -> None:
        self.send_error(501, "CONNECT is not supported by this proxy")
        self.close_connection = True

    # -- one request ------------------------------------------------------------------------
    def _read_request_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        return self.rfile.read(int(length))

    def _handle(self) -> None:
        proxy = self.server.proxy
        try:
            body = self._read_request_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        faults, attempt = proxy._begin(self.command, self.path, body)
        fault = faults.pick(self.command, self.path, attempt, body)
        proxy._record(self.path, self.command, attempt, fault)
        finished = False

        def done() -> None:
            nonlocal finished
            if not finished:
                finished = True
                proxy._end()

        try:
            if faults.latency:
                proxy._closing.wait(faults.latency)
            if fault == "error":
                text = f"fault injected by FaultProxy: HTTP {faults.error_status}\n".encode()
                self._answer(faults.error_status, None, [], text, done)
            elif fault == "reset":
                done()
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()  # RST: the linger time is 0
                self.close_connection = True
            elif fault == "stall":
                proxy._closing.wait(faults.stall_seconds)
                done()
                self.close_connection = True
            else:
                answer = self._forward(body)
                if answer is None:
                    with proxy._lock:
                        proxy._upstream_errors += 1
                    self._answer(
                        502, None, [], b"FaultProxy: the upstream cannot be reached\n", done
                    )
                    return
                status, reason, headers, data = answer
                with proxy._lock:
                    proxy._forwarded += 1
                if fault == "truncate":
                    self._answer(status, reason, headers, data, done, truncate=True)
                else:
                    self._answer(status, reason, headers, data, done)
        except OSError:  # the client went away
            self.close_connection = True
        finally:
            done()

    def _answer(
        self,
        status: int,
        reason: str | None,
        headers: Sequence[tuple[str, str]],
        data: bytes,
        done: Any,
        *,
        truncate: bool = False,
    ) -> None:
        declared = len(data)
        if truncate:
            declared = max(len(data), 1)
            data = data[: len(data) // 2]
        self.send_response(status, reason)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(declared))
        if truncate:
            self.send_header("Connection", "close")
            self.close_connection = True
        done()  # the answer is ready: the request no longer counts as in flight
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _forward(self, body: bytes | None) -> tuple[int, str, list[tuple[str, str]], bytes] | None:
        proxy = self.server.proxy
        target = self.path
        reverse = target.startswith("/")
        if reverse:
            scheme, host, port = proxy._up_scheme, proxy._up_host, proxy._up_port
            path = target
        else:  # absolute form: forward proxy
            parts = urlsplit(target)
            scheme = parts.scheme.lower()
            if scheme not in _DEFAULT_PORTS or not parts.hostname:
                return None
            host, port = parts.hostname, parts.port or _DEFAULT_PORTS[scheme]
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        dropped = {h.strip().lower() for h in self.headers.get("Connection", "").split(",")}
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in _HOP_BY_HOP and k.lower() not in dropped and k.lower() != "host"
        }
        headers["Host"] = host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
        if reverse and proxy.rewrite_bodies:
            # bodies are rewritten: ask the upstream for them uncompressed (pyvo asks for gzip)
            headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
            headers["Accept-Encoding"] = "identity"
        resp = None
        for fresh in (False, True):
            conn = self._upstream(scheme, host, port, fresh)
            try:
                conn.request(self.command, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self._upstreams.pop((scheme, host, port), None)
                if fresh:
                    return None
        assert resp is not None
        if resp.will_close:
            conn.close()
            self._upstreams.pop((scheme, host, port), None)
        out: list[tuple[str, str]] = []
        content_type = ""
        for k, v in resp.getheaders():
            low = k.lower()
            if low in _HOP_BY_HOP or low in ("content-length", "date", "server"):
                continue
            if low == "content-type":
                content_type = v.lower()
            if low == "location" and reverse:
                v = proxy._rewrite_text(v)
            out.append((k, v))
        if self.command == "HEAD" and resp.getheader("Content-Length"):
            # no body: keep the upstream's length (sent as our own Content-Length)
            data = b"\0" * int(resp.getheader("Content-Length") or 0)
        elif reverse and proxy.rewrite_bodies and any(t in content_type for t in _TEXT_TYPES):
            data = proxy._rewrite_bytes(data)
        return resp.status, resp.reason, out, data

    def _upstream(
        self, scheme: str, host: str, port: int, fresh: bool
    ) -> http.client.HTTPConnection:
        key = (scheme, host, port)
        conn = self._upstreams.get(key)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            timeout = self.server.proxy.upstream_timeout
            if scheme == "https":
                conn = http.client.HTTPSConnection(host, port, timeout=timeout)
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            self._upstreams[key] = conn
        return conn


class _BackgroundServer:
    """What :class:`FaultProxy` and :class:`StaticServer` share: an HTTP server on loopback served
    by a daemon thread, its open connections tracked so that :meth:`close` ends them at once."""

    _thread_name = "vocloud-server"

    def _init_server(self, host: str, port: int) -> None:
        self._bind = (host, int(port))
        self._lock = threading.Lock()
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    def _make_server(self) -> _QuietServer:
        """A new bound server whose handlers call :meth:`_track` (done by :meth:`start`)."""
        raise NotImplementedError

    def _on_close(self) -> None:
        """Called by :meth:`close` before the server is shut down."""

    def start(self) -> Self:
        """Bind and serve in a background thread (done by ``with``); returns ``self``."""
        if self._server is not None:
            return self
        server = self._make_server()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self._thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and end open connections (and stalls) at once."""
        server, self._server = self._server, None
        if server is None:
            return
        self._on_close()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._connections)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _origin(self, what: str) -> str:
        if self._server is None:
            raise RuntimeError(f"the {what} is not running: use start() or a with block")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FaultProxy(_BackgroundServer):
    """A threaded HTTP proxy on loopback that injects deterministic faults and counts them.

    Parameters
    ----------
    upstream : str
        Base URL of the server behind the proxy (``http://`` or ``https://``), e.g.
        ``"http://127.0.0.1:8080/"``. Requests in absolute form (forward-proxy use) may go
        to any host.
    faults : Faults, optional
        The faults; or give their fields as keyword arguments (``latency=0.1``).
    rewrite_bodies : bool
        In text answers (XML, HTML, JSON, text) of the reverse proxy, replace the upstream's
        origin (and ``aliases``) by the proxy's, so that URLs inside documents (DataLink access
        URLs, index links) lead back through the proxy.
    aliases : sequence of str
        Other origins the upstream names itself by (e.g. DaCHS's ``serverURL``), rewritten like
        its own in ``Location`` headers and bodies.
    host, port : str, int
        Where the proxy listens; port 0 takes a free port.
    upstream_timeout : float
        Seconds for the proxy's own connections to the upstream.
    **fault_fields
        Fields of :class:`Faults` (when ``faults`` is not given).

    Attributes
    ----------
    url : str
        The upstream base URL as seen through the proxy (its path kept).
    origin : str
        ``http://host:port`` of the proxy (for ``proxies={"http": ...}``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from vocloud.fetch import FetchOptions, fetch
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.fits").write_bytes(b"SIMPLE  =  T" * 100)
    >>> with StaticServer(folder) as server, FaultProxy(server.url, error_first=1) as proxy:
    ...     data = fetch(proxy.url + "a.fits", FetchOptions(retries=2, backoff=0))
    ...     print(len(data), proxy.stats().faults["error"], proxy.history("/a.fits"))
    1200 1 [('GET', 1, 'error'), ('GET', 2, None)]
    """

    def __init__(
        self,
        upstream: str,
        faults: Faults | None = None,
        *,
        rewrite_bodies: bool = True,
        aliases: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        upstream_timeout: float = 60.0,
        **fault_fields: Any,
    ) -> None:
        if faults is not None and fault_fields:
            raise TypeError("give either faults= or Faults fields as keywords, not both")
        self._faults = faults if faults is not None else Faults(**fault_fields)
        parts = urlsplit(upstream)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL with a host, not {upstream!r}")
        self.upstream = upstream
        self._up_scheme = scheme
        self._up_host = parts.hostname
        self._up_port = parts.port or _DEFAULT_PORTS[scheme]
        self._up_path = parts.path or "/"
        self._up_origins = [f"{scheme}://{parts.netloc.rsplit('@', 1)[-1]}", *aliases]
        self.rewrite_bodies = rewrite_bodies
        self.upstream_timeout = float(upstream_timeout)
        self._init_server(host, port)
        self._closing = threading.Event()
        self.reset()

    # -- life cycle (start, close, with: _BackgroundServer) ------------------------------------
    _thread_name = "vocloud-faultproxy"

    def _make_server(self) -> _ProxyServer:
        self._closing.clear()
        server = _ProxyServer(self._bind, _Handler)
        server.proxy = self
        return server

    def _on_close(self) -> None:
        self._closing.set()  # ends latencies and stalls at once

    # -- addresses --------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>`` of the running proxy."""
        return self._origin("proxy")

    @property
    def url(self) -> str:
        """The upstream base URL through the proxy."""
        return self.origin + self._up_path

    def proxied(self, url: str) -> str:
        """``url`` of the upstream (or of an alias) rewritten to go through the proxy.

        Examples
        --------
        >>> with FaultProxy("http://127.0.0.1:9/data/") as p:
        ...     p.proxied("http://127.0.0.1:9/data/a.fits") == p.origin + "/data/a.fits"
        True
        """
        return self._rewrite_text(url)

    def _rewrite_text(self, text: str) -> str:
        for o in self._up_origins:
            if text.startswith(o) and (len(text) == len(o) or text[len(o)] in "/?#"):
                return self.origin + text[len(o) :]
        return text

    def _rewrite_bytes(self, data: bytes) -> bytes:
        new = self.origin.encode()
        for o in self._up_origins:
            data = data.replace(o.encode(), new)
        return data

    # -- faults and counters ----------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """The faults in force."""
        return self._faults

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the faults (``faults``), or change some of their fields; returns the new ones.

        ``set_faults(Faults())`` turns every fault and the latency off. Attempt numbers carry on
        (:meth:`reset` starts them again).
        """
        new = faults if faults is not None else dataclasses.replace(self._faults, **changes)
        with self._lock:
            self._faults = new
        return new

    def reset(self) -> None:
        """Zero the counters, the attempt numbers and the history (``max_inflight`` starts again
        from the requests in flight now)."""
        with self._lock:
            self._requests = 0
            self._forwarded = 0
            self._upstream_errors = 0
            self._fault_counts: Counter[str] = Counter()
            self._inflight = getattr(self, "_inflight", 0)
            self._max_inflight = self._inflight
            self._attempts: dict[tuple[str, str, str], int] = {}
            self._history: dict[str, list[tuple[str, int, str | None]]] = {}

    def stats(self) -> ProxyStats:
        """What the proxy has done since it was made (or :meth:`reset`)."""
        with self._lock:
            return ProxyStats(
                requests=self._requests,
                forwarded=self._forwarded,
                faults={k: self._fault_counts[k] for k in FAULT_KINDS},
                upstream_errors=self._upstream_errors,
                inflight=self._inflight,
                max_inflight=self._max_inflight,
            )

    def history(self, target: str) -> list[tuple[str, int, str | None]]:
        """Each request for ``target`` (``/path?query`` as the client sent it, or a full URL,
        made relative to the proxy when it names it), in order: ``(method, attempt, fault)``,
        fault None when the request was forwarded untouched."""
        if target.startswith(self.origin):
            target = target[len(self.origin) :] or "/"
        with self._lock:
            return list(self._history.get(target, []))

    def targets(self) -> list[str]:
        """Every target requested so far."""
        with self._lock:
            return list(self._history)

    def _begin(self, method: str, target: str, body: bytes | None) -> tuple[Faults, int]:
        digest = hashlib.sha256(body).hexdigest() if body else ""
        with self._lock:
            self._requests += 1
            key = (method, target, digest)
            attempt = self._attempts.get(key, 0) + 1
            self._attempts[key] = attempt
            self._inflight += 1
            self._max_inflight = max(self._max_inflight, self._inflight)
            return self._faults, attempt

    def _record(self, target: str, method: str, attempt: int, fault: str | None) -> None:
        with self._lock:
            self._history.setdefault(target, []).append((method, attempt, fault))
            if fault is not None:
                self._fault_counts[fault] += 1

    def _end(self) -> None:
        with self._lock:
            self._inflight -= 1


class _QuietFiles(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120
    server: _StaticHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.owner._track(self.connection, add=False)

    def send_head(self) -> Any:
        with self.server.owner._lock:
            self.server.owner.hits[self.path] += 1
        return super().send_head()


class _StaticHTTPServer(_QuietServer):
    owner: StaticServer


class StaticServer(_BackgroundServer):
    """A folder served over HTTP/1.1 (keep-alive) on loopback, quietly, with a hit counter.

    Parameters
    ----------
    directory : str or Path
        The folder served (directory listings as :mod:`http.server` makes them).
    host, port : str, int
        Where it listens; port 0 takes a free port.

    Attributes
    ----------
    url : str
        ``http://127.0.0.1:<port>/``.
    hits : collections.Counter
        GET and HEAD requests per path.

    Examples
    --------
    >>> import tempfile, pathlib, urllib.request
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "x.txt").write_text("hi")
    >>> with StaticServer(folder) as s:
    ...     urllib.request.urlopen(s.url + "x.txt").read(), s.hits["/x.txt"]
    (b'hi', 1)
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.directory = os.fspath(directory)
        self.hits: Counter[str] = Counter()
        self._init_server(host, port)

    _thread_name = "vocloud-static"

    def _make_server(self) -> _StaticHTTPServer:
        directory = self.directory

        class Handler(_QuietFiles):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=directory, **kwargs)

        server = _StaticHTTPServer(self._bind, Handler)
        server.owner = self
        return server

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/``."""
        return self._origin("server") + "/"

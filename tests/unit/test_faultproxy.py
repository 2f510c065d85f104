"""vocloud.testing.FaultProxy in front of a loopback http.server, and vocloud.fetch through it."""

from __future__ import annotations

import collections
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests

from vocloud.fetch import FetchError, FetchOptions, fetch, fetch_many
from vocloud.testing import FAULT_KINDS, FaultProxy, Faults, StaticServer

FAST = FetchOptions(retries=3, timeout=2.0, backoff=0.01)
BIG = bytes(range(256)) * 256  # 64 KiB


class _Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    hits: collections.Counter[str]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", ctype: str = "application/octet-stream",
              headers: dict[str, str] | None = None) -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.hits[path] += 1
        origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        if path.startswith("/ok/"):
            self._send(200, f"spectrum {path[4:]} {self.path}".encode())
        elif path == "/big":
            self._send(200, BIG)
        elif path == "/missing":
            self._send(404, b"no such spectrum")
        elif path == "/moved":  # DaCHS style: 301 to another path of the same server
            self._send(301, headers={"Location": f"{origin}/ok/moved-here"})
        elif path == "/doc":
            self._send(200, f'<LINK href="{origin}/ok/linked"/>'.encode(), "text/xml")
        else:
            self._send(400)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        self.hits[self.path] += 1
        body = self.rfile.read(int(self.headers["Content-Length"]))
        form = parse_qs(body.decode())
        self._send(200, ("POST " + ",".join(form.get("ID", []))).encode())


class _UpstreamServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64


@pytest.fixture
def upstream() -> Iterator[tuple[str, collections.Counter[str]]]:
    hits: collections.Counter[str] = collections.Counter()
    handler = type("H", (_Upstream,), {"hits": hits})
    httpd = _UpstreamServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


# ---------------------------------------------------------------------------------- forwarding
def test_forwards_get_post_head(upstream) -> None:
    base, hits = upstream
    with FaultProxy(base) as p:
        assert p.url == p.origin + "/"
        assert fetch(p.url + "ok/a?x=1", FAST) == b"spectrum a /ok/a?x=1"
        assert fetch(p.url + "big", FAST) == BIG
        assert fetch(p.url + "dl", FAST, data={"ID": ["ivo://x?1", "ivo://x?2"]}) == (
            b"POST ivo://x?1,ivo://x?2"
        )
        head = requests.head(p.url + "big", timeout=5)
        assert head.status_code == 200 and head.headers["Content-Length"] == str(len(BIG))
        s = p.stats()
    assert (s.requests, s.forwarded, s.upstream_errors, s.inflight) == (4, 4, 0, 0)
    assert s.faults == dict.fromkeys(FAULT_KINDS, 0)
    assert hits["/big"] == 2 and hits["/dl"] == 1


def test_redirect_location_goes_back_through_the_proxy(upstream) -> None:
    base, hits = upstream
    with FaultProxy(base) as p:
        assert fetch(p.url + "moved", FAST) == b"spectrum moved-here /ok/moved-here"
        assert p.history("/moved") == [("GET", 1, None)]
        assert p.history(p.url + "ok/moved-here") == [("GET", 1, None)]
        r = requests.get(p.url + "moved", allow_redirects=False, timeout=5)
        assert r.headers["Location"] == p.origin + "/ok/moved-here"
    assert hits["/moved"] == 2 and hits["/ok/moved-here"] == 1


def test_upstream_origin_in_text_bodies_is_rewritten(upstream) -> None:
    base, _ = upstream
    with FaultProxy(base) as p:
        assert fetch(p.url + "doc", FAST) == f'<LINK href="{p.origin}/ok/linked"/>'.encode()
    with FaultProxy(base, rewrite_bodies=False) as p:
        assert fetch(p.url + "doc", FAST) == f'<LINK href="{base}ok/linked"/>'.encode()


def test_forward_proxy_mode(upstream) -> None:
    base, hits = upstream
    with FaultProxy("http://127.0.0.1:9/", error_first=1) as p:  # upstream unused here
        proxies = {"http": p.origin}
        first = requests.get(base + "ok/f", proxies=proxies, timeout=5)
        second = requests.get(base + "ok/f", proxies=proxies, timeout=5)
        assert (first.status_code, second.status_code) == (503, 200)
        assert second.content == b"spectrum f /ok/f"
        assert p.history(base + "ok/f") == [("GET", 1, "error"), ("GET", 2, None)]
    assert hits["/ok/f"] == 1


def test_unreachable_upstream_is_a_502(upstream) -> None:
    with FaultProxy("http://127.0.0.1:9/") as p:  # port 9 (discard): nobody listens
        with pytest.raises(FetchError) as info:
            fetch(p.url + "x", FetchOptions(retries=1, backoff=0.01, timeout=2))
        assert info.value.reason == "HTTP 502 Bad Gateway (after 2 attempts)"
        assert p.stats().upstream_errors == 2


# -------------------------------------------------------------------------------------- faults
def test_5xx_is_retried_then_succeeds(upstream) -> None:
    base, hits = upstream
    with FaultProxy(base, error_first=2) as p:
        assert fetch(p.url + "ok/a", FAST) == b"spectrum a /ok/a"
        assert p.history("/ok/a") == [("GET", 1, "error"), ("GET", 2, "error"), ("GET", 3, None)]
        assert p.stats().faults["error"] == 2
    assert hits["/ok/a"] == 1  # the proxy answered the errors itself


def test_5xx_after_the_retries_is_a_transient_failure(upstream) -> None:
    base, _ = upstream
    with FaultProxy(base, error_first=10, error_status=500) as p:
        with pytest.raises(FetchError) as info:
            fetch(p.url + "ok/a", FetchOptions(retries=2, backoff=0.01, timeout=2))
        assert p.stats().requests == 3
    assert info.value.reason == "HTTP 500 Internal Server Error (after 3 attempts)"
    assert (info.value.status, info.value.transient) == (500, True)


def test_4xx_is_not_retried(upstream) -> None:
    base, hits = upstream
    with FaultProxy(base, latency=0.01) as p:
        with pytest.raises(FetchError) as info:
            fetch(p.url + "missing", FAST)
        assert p.stats().requests == 1
    assert info.value.reason == "HTTP 404 Not Found"
    assert (info.value.status, info.value.transient) == (404, False)
    assert hits["/missing"] == 1


def test_resets_are_retried(upstream) -> None:
    base, _ = upstream
    with FaultProxy(base, reset_first=1) as p:
        assert fetch(p.url + "ok/r", FAST) == b"spectrum r /ok/r"
        assert p.history("/ok/r") == [("GET", 1, "reset"), ("GET", 2, None)]
    with FaultProxy(base, reset_first=5) as p:
        with pytest.raises(FetchError) as info:
            fetch(p.url + "ok/r", FetchOptions(retries=1, backoff=0.01, timeout=2))
        assert p.stats().faults["reset"] == 2
    assert info.value.reason == "connection reset (after 2 attempts)"
    assert info.value.transient


def test_stalls_give_a_timeout_reason(upstream) -> None:
    base, _ = upstream
    opts = FetchOptions(retries=1, backoff=0.01, timeout=0.3)
    # a stalled answer comes after 5 s: a client that waited for it would get the body from
    # the first attempt; one that times out asks again
    with FaultProxy(base, stall_first=1, stall_seconds=5) as p:
        assert fetch(p.url + "ok/s", opts) == b"spectrum s /ok/s"
        assert p.history("/ok/s") == [("GET", 1, "stall"), ("GET", 2, None)]
    with FaultProxy(base, stall_first=5, stall_seconds=5) as p:
        with pytest.raises(FetchError) as info:
            fetch(p.url + "ok/s", opts)
        assert p.history("/ok/s") == [("GET", 1, "stall"), ("GET", 2, "stall")]
    assert info.value.reason == "timeout after 0.3 s (after 2 attempts)"
    assert info.value.transient


def test_truncated_bodies_never_enter_the_cache(upstream, tmp_path: Path) -> None:
    base, hits = upstream
    opts = FetchOptions(retries=2, backoff=0.01, timeout=2, cache_dir=str(tmp_path))
    with FaultProxy(base, truncate_first=3) as p:
        with pytest.raises(FetchError) as info:
            fetch(p.url + "big", opts)
        assert info.value.reason == (
            f"truncated body: got {len(BIG) // 2} of {len(BIG)} bytes (after 3 attempts)"
        )
        assert info.value.transient
        assert _files(tmp_path) == []  # neither the entry nor a temporary file
        assert hits["/big"] == 3  # the body came from the upstream and was cut by the proxy
        # one truncated attempt, then a whole one: that one is cached
        p.set_faults(Faults())
        p.reset()
        p.set_faults(truncate_first=1)
        assert fetch(p.url + "big", opts) == BIG
        assert len(_files(tmp_path)) == 1
        assert fetch(p.url + "big", opts) == BIG  # from the cache: no request
        assert p.stats().requests == 2


def test_faults_are_deterministic_whatever_the_order(upstream) -> None:
    base, _ = upstream
    urls = [f"ok/{i}" for i in range(40)]
    faults = Faults(error_rate=0.2, reset_rate=0.1, truncate_rate=0.1, seed=7)
    seen = []
    for order in (urls, urls[::-1]):
        with FaultProxy(base, faults) as p:
            got = fetch_many([p.url + u for u in order], FetchOptions(retries=4, backoff=0))
            assert all(isinstance(g, bytes) for g in got)
            seen.append({u: p.history("/" + u) for u in urls})
    assert seen[0] == seen[1]
    kinds = collections.Counter(f for h in seen[0].values() for _, _, f in h if f)
    assert set(kinds) == {"error", "reset", "truncate"}


def test_match_restricts_faults_and_set_faults_changes_them(upstream) -> None:
    base, _ = upstream
    with FaultProxy(base, error_first=9, match=r"^/ok/bad") as p:
        assert fetch(p.url + "ok/good", FAST) == b"spectrum good /ok/good"
        with pytest.raises(FetchError, match="503"):
            fetch(p.url + "ok/bad", FetchOptions(retries=0))
        assert p.faults.error_first == 9
        p.set_faults(Faults())
        assert fetch(p.url + "ok/bad", FAST) == b"spectrum bad /ok/bad"
        assert p.history("/ok/bad") == [("GET", 1, "error"), ("GET", 2, None)]


def test_fault_settings_are_checked() -> None:
    for bad in ({"error_rate": 1.5}, {"reset_first": -1}, {"latency": -1}, {"error_status": 404}):
        with pytest.raises(ValueError):
            Faults(**bad)
    with pytest.raises(ValueError, match="upstream"):
        FaultProxy("ftp://h/")
    with pytest.raises(TypeError):
        FaultProxy("http://h/", Faults(), latency=1)


# ------------------------------------------------------------------- latency and concurrency
def test_latency_and_max_inflight(upstream) -> None:
    base, _ = upstream
    urls = [f"ok/l{i}" for i in range(6)]
    # 1 s of latency: time enough for the six requests to be sent together on a loaded machine
    with FaultProxy(base, latency=1.0) as p:
        t0 = time.monotonic()
        got = fetch_many([p.url + u for u in urls], FetchOptions(concurrency=6, timeout=10))
        elapsed = time.monotonic() - t0
        assert got == [f"spectrum l{i} /ok/l{i}".encode() for i in range(6)]
        assert elapsed >= 1.0, elapsed  # the latency is added (a lower bound: no machine is faster)
        assert p.stats().max_inflight == 6  # the six were in flight together


def test_concurrency_is_per_server_for_the_process(upstream) -> None:
    """Two calls of fetch_many at once (two tasks of a threaded run) share one limit."""
    base, _ = upstream
    opts = FetchOptions(concurrency=3, timeout=10)
    with FaultProxy(base, latency=0.5) as p:  # time enough to reach the limit on a loaded machine
        results: list[list[bytes | FetchError]] = []

        def task(k: int) -> None:
            results.append(fetch_many([p.url + f"ok/t{k}-{i}" for i in range(6)], opts))

        threads = [threading.Thread(target=task, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(isinstance(g, bytes) for r in results for g in r)
        assert p.stats().requests == 12
        assert p.stats().max_inflight == 3  # reached, never passed by the two calls together


def test_static_server_counts_hits(tmp_path: Path) -> None:
    (tmp_path / "a.fits").write_bytes(b"x" * 10)
    with StaticServer(tmp_path) as s, FaultProxy(s.url, latency=0.01) as p:
        assert fetch(p.url + "a.fits", FAST) == b"x" * 10
        with pytest.raises(FetchError, match="404"):
            fetch(p.url + "nothere.fits", FAST)
    assert s.hits["/a.fits"] == 1 and s.hits["/nothere.fits"] == 1

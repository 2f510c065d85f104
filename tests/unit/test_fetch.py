"""vocloud.fetch against a loopback HTTP server whose paths script faults (and a fake FTP)."""

from __future__ import annotations

import base64
import dataclasses
import ftplib
import logging
import pickle
import socket
import struct
import time
from pathlib import Path
from typing import ClassVar

import pytest
from dask.base import tokenize
from loopback_servers import LoopbackHTTPServer, LoopbackServers, RoutingHandler, running_servers

from vocloud.fetch import (
    MAX_REDIRECTS,
    FetchError,
    FetchOptions,
    cache_key,
    fetch,
    fetch_many,
)
from vocloud.fetch import ftp as ftp_mod

FAST = FetchOptions(retries=3, timeout=2.0, backoff=0.01)


class _Server(LoopbackHTTPServer):
    inflight = 0  # requests to /sleep/... being answered
    max_inflight = 0


class _Handler(RoutingHandler):
    server: _Server

    def route(self, path: str, query: str, n: int) -> None:
        if path.startswith("/ok/"):
            self.send(200, b"spectrum:" + path[4:].encode() + b":" + self.path.encode())
        elif path == "/missing":
            self.send(404)
        elif path == "/flaky":
            self.send(503) if n <= 2 else self.send(200, b"finally")
        elif path == "/always503":
            self.send(503)
        elif path == "/slow":
            time.sleep(1.0)
            self.send(200, b"too late")
        elif path.startswith("/sleep/"):
            srv = self.server
            with srv.lock:
                srv.inflight += 1
                srv.max_inflight = max(srv.max_inflight, srv.inflight)
            try:
                time.sleep(0.2)
            finally:
                with srv.lock:
                    srv.inflight -= 1
            self.send(200, path.encode())
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/reset":
            # RST without any response
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
        elif path == "/redirect-ok":
            self.send(302, headers={"Location": "/ok/redirected"})
        elif path == "/redirect-file":
            self.send(302, headers={"Location": "file:///etc/passwd"})
        elif path == "/redirect-loop":
            self.send(302, headers={"Location": "/redirect-loop"})
        else:
            self.send(400)


servers = pytest.fixture(running_servers, name="servers")


@pytest.fixture
def server(servers: LoopbackServers) -> _Server:
    return servers.http(_Handler, server=_Server)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


# ------------------------------------------------------------------------------------ options
def test_options_from_dict_and_validation() -> None:
    o = FetchOptions.from_dict(
        {"concurrency": 2, "retries": 0, "timeout": 1, "cache_dir": Path("/x")}
    )
    assert o == FetchOptions(concurrency=2, retries=0, timeout=1.0, cache_dir="/x")
    assert FetchOptions.from_dict(None) == FetchOptions()
    with pytest.raises(ValueError, match=r"unknown fetch option\(s\): 'retry', 'speed'"):
        FetchOptions.from_dict({"retry": 1, "speed": 2, "timeout": 1})
    for bad in ({"concurrency": 0}, {"retries": -1}, {"timeout": 0}, {"backoff": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            FetchOptions.from_dict(bad)
    with pytest.raises(ValueError, match="concurrency"):
        FetchOptions(concurrency=True)
    with pytest.raises(ValueError, match="mapping"):
        FetchOptions.from_dict([("retries", 1)])  # type: ignore[arg-type]


def test_options_parsed_once_frozen_and_picklable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A FetchOptions is checked once and then crosses to the tasks as it is: from_dict gives an
    existing one back, it cannot be changed, and it pickles with its credentials intact."""
    monkeypatch.setenv("ARCHIVE_PASSWORD", "s3cret")
    o = FetchOptions.from_dict(
        {
            "retries": 1,
            "cache_dir": "/c",
            "credentials": {"h.example:21": {"user": "bob", "password_env": "ARCHIVE_PASSWORD"}},
        }
    )
    assert FetchOptions.from_dict(o) is o
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.retries = 2  # type: ignore[misc]
    back = pickle.loads(pickle.dumps(o))
    assert back == o
    assert back.credentials.lookup("h.example", 21).resolve() == ("bob", "s3cret")
    assert "s3cret" not in repr(back)
    # a task argument: its dask token is stable and made without the literal password
    same = FetchOptions.from_dict({**dataclasses.asdict(o), "credentials": o.credentials})
    assert tokenize(same) == tokenize(o) != tokenize(dataclasses.replace(o, retries=2))
    other_pw = FetchOptions(credentials={"h.example:21": {"user": "bob", "password": "a"}})
    assert tokenize(other_pw) == tokenize(
        FetchOptions(credentials={"h.example:21": {"user": "bob", "password": "b"}})
    )


def test_cache_key_ignores_credentials_and_param_order() -> None:
    assert cache_key("http://u:p@h:1/x") == cache_key("http://h:1/x")
    assert cache_key("http://h/x", {"a": 1, "b": "2"}) == cache_key("http://h/x", {"b": 2, "a": 1})
    assert cache_key("http://h/x", {"a": 1}) != cache_key("http://h/x")
    assert len(cache_key("ftp://h/x")) == 64


def test_fetch_error_str_and_pickle() -> None:
    err = FetchError("http://h/x", "HTTP 404 Not Found", 404)
    assert str(err) == "http://h/x: HTTP 404 Not Found"
    back = pickle.loads(pickle.dumps(err))
    assert (back.url, back.reason, back.status, str(back)) == (err.url, err.reason, 404, str(err))


# ------------------------------------------------------------------------------------- faults
def test_ok_and_params(server: _Server) -> None:
    assert fetch(server.url("/ok/a"), FAST) == b"spectrum:a:/ok/a"
    assert fetch(server.url("/ok/b"), FAST, params={"x": "1"}) == b"spectrum:b:/ok/b?x=1"


def test_404_is_not_retried(server: _Server) -> None:
    with pytest.raises(FetchError) as info:
        fetch(server.url("/missing"), FAST)
    assert str(info.value) == f"{server.base}/missing: HTTP 404 Not Found"
    assert info.value.status == 404
    assert server.count("/missing") == 1


def test_flaky_is_retried(server: _Server) -> None:
    assert fetch(server.url("/flaky"), FAST) == b"finally"
    assert server.count("/flaky") == 3


def test_always503_gives_up_after_retries(server: _Server) -> None:
    with pytest.raises(FetchError) as info:
        fetch(server.url("/always503"), FAST)
    assert info.value.reason == "HTTP 503 Service Unavailable (after 4 attempts)"
    assert info.value.status == 503
    assert server.count("/always503") == FAST.retries + 1


def test_timeout(server: _Server) -> None:
    opts = FetchOptions(retries=1, timeout=0.3, backoff=0.01)
    t0 = time.monotonic()
    with pytest.raises(FetchError) as info:
        fetch(server.url("/slow"), opts)
    assert time.monotonic() - t0 < 1.5
    assert info.value.reason == "timeout after 0.3 s (after 2 attempts)"
    assert server.count("/slow") == 2


def test_truncated_body_is_retried_and_never_cached(server: _Server, tmp_path: Path) -> None:
    opts = FetchOptions(retries=2, timeout=2.0, backoff=0.01, cache_dir=str(tmp_path))
    with pytest.raises(FetchError) as info:
        fetch(server.url("/truncated"), opts)
    assert info.value.reason == "truncated body: got 10 of 1000 bytes (after 3 attempts)"
    assert server.count("/truncated") == 3
    assert _files(tmp_path) == []  # neither the entry nor a temporary file


def test_connection_reset(server: _Server) -> None:
    with pytest.raises(FetchError) as info:
        fetch(server.url("/reset"), FetchOptions(retries=1, timeout=2.0, backoff=0.01))
    assert info.value.reason == "connection reset (after 2 attempts)"
    assert info.value.status is None
    assert server.count("/reset") == 2


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed at once: nobody listens there
    with pytest.raises(FetchError, match="connection refused"):
        fetch(f"http://127.0.0.1:{port}/x", FetchOptions(retries=0, timeout=1.0))


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://h/x", "data:text/plain,hi", "/just/a/path", "s3://b/k"]
)
def test_unsupported_schemes(url: str) -> None:
    with pytest.raises(FetchError, match="unsupported URL scheme"):
        fetch(url, FAST)


def test_redirects(server: _Server) -> None:
    assert fetch(server.url("/redirect-ok"), FAST) == b"spectrum:redirected:/ok/redirected"
    with pytest.raises(FetchError, match="redirect to unsupported URL scheme 'file'"):
        fetch(server.url("/redirect-file"), FAST)
    assert server.count("/redirect-file") == 1
    with pytest.raises(FetchError, match="too many redirects"):
        fetch(server.url("/redirect-loop"), FAST)
    assert server.count("/redirect-loop") == MAX_REDIRECTS + 1


# -------------------------------------------------------------------------------------- cache
def test_cache_hit_does_no_request(server: _Server, tmp_path: Path) -> None:
    opts = FetchOptions(retries=0, timeout=2.0, cache_dir=str(tmp_path))
    url = server.url("/ok/c")
    assert fetch(url, opts) == b"spectrum:c:/ok/c"
    key = cache_key(url)
    assert _files(tmp_path) == [tmp_path / key[:2] / key]
    assert fetch(url, opts) == b"spectrum:c:/ok/c"
    assert fetch_many([url, url], opts) == [b"spectrum:c:/ok/c"] * 2
    assert server.count("/ok/c") == 1
    # params are part of the key
    assert fetch(url, opts, params={"v": 2}) == b"spectrum:c:/ok/c?v=2"
    assert server.count("/ok/c") == 2
    assert fetch(url, opts, params={"v": 2}) == b"spectrum:c:/ok/c?v=2"
    assert server.count("/ok/c") == 2


def test_errors_are_not_cached(server: _Server, tmp_path: Path) -> None:
    opts = FetchOptions(retries=0, timeout=2.0, cache_dir=str(tmp_path))
    for _ in range(2):
        with pytest.raises(FetchError):
            fetch(server.url("/missing"), opts)
    assert server.count("/missing") == 2
    assert _files(tmp_path) == []


# -------------------------------------------------------------------------------- credentials
def test_credentials_never_shown(
    server: _Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    opts = FetchOptions(retries=1, timeout=2.0, backoff=0.01, cache_dir=str(tmp_path))
    good = server.url("/ok/x", "user:secret")
    assert fetch(good, opts) == b"spectrum:x:/ok/x"
    expected = "Basic " + base64.b64encode(b"user:secret").decode()
    assert server.auth_of("/ok/x")[-1] == expected
    errors = fetch_many(
        [server.url(p, "user:secret") for p in ("/missing", "/always503", "/truncated")], opts
    )
    assert all(isinstance(e, FetchError) for e in errors)
    text = " ".join(f"{e} {e!r} {e.url}" for e in errors) + caplog.text  # type: ignore[union-attr]
    text += " ".join(str(p) for p in tmp_path.rglob("*"))
    assert "secret" not in text
    assert "user" not in text
    assert str(errors[0]) == f"{server.base}/missing: HTTP 404 Not Found"


def test_credentials_from_environment(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCLOUD_HTTP_USER", "envuser")
    monkeypatch.setenv("VOCLOUD_HTTP_PASSWORD", "envpass")
    monkeypatch.setenv("VOCLOUD_HTTP_HOSTS", "127.0.0.1")
    assert fetch(server.url("/ok/e"), FAST) == b"spectrum:e:/ok/e"
    assert server.auth_of("/ok/e")[-1] == "Basic " + base64.b64encode(b"envuser:envpass").decode()


# ---------------------------------------------------------------------------------- fetch_many
def test_fetch_many_order_and_mixed_results(server: _Server) -> None:
    urls = [
        server.url("/ok/1"),
        server.url("/missing"),
        "file:///etc/passwd",
        server.url("/flaky"),
        "http://[::1",  # invalid
        server.url("/ok/2"),
    ]
    res = fetch_many(urls, FAST)
    assert len(res) == len(urls)
    assert res[0] == b"spectrum:1:/ok/1"
    assert isinstance(res[1], FetchError) and res[1].reason == "HTTP 404 Not Found"
    assert isinstance(res[2], FetchError) and "unsupported URL scheme" in res[2].reason
    assert res[3] == b"finally"
    assert isinstance(res[4], FetchError) and "invalid URL" in res[4].reason
    assert res[5] == b"spectrum:2:/ok/2"
    assert fetch_many([], FAST) == []


def test_fetch_many_is_parallel(server: _Server) -> None:
    urls = [server.url(f"/sleep/{i}") for i in range(8)]
    t0 = time.monotonic()
    res = fetch_many(urls, FetchOptions(concurrency=8, timeout=5.0))
    elapsed = time.monotonic() - t0
    assert res == [f"/sleep/{i}".encode() for i in range(8)]
    assert elapsed < 1.0, elapsed
    assert server.max_inflight > 1


def test_fetch_many_limits_concurrency_per_host(server: _Server) -> None:
    urls = [server.url(f"/sleep/{i}") for i in range(4)]
    t0 = time.monotonic()
    res = fetch_many(urls, FetchOptions(concurrency=2, timeout=5.0))
    elapsed = time.monotonic() - t0
    assert all(isinstance(r, bytes) for r in res)
    assert server.max_inflight <= 2
    assert elapsed >= 0.35, elapsed


# ----------------------------------------------------------------------------------------- ftp
class _FakeFTP:
    """Stands in for ftplib.FTP: one file, a login check, records what was asked."""

    files: ClassVar[dict[str, bytes]] = {"pub/spec.fits": b"SIMPLE  =  T"}
    logins: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout

    def connect(self, host: str, port: int) -> str:
        assert (host, port) == ("ftp.example", 2121)
        return "220 hi"

    def login(self, user: str = "anonymous", passwd: str = "anonymous@") -> str:
        self.logins.append((user, passwd))
        if user not in ("anonymous", "good"):
            raise ftplib.error_perm(f"530 Login incorrect for {user}")
        return "230 ok"

    def voidcmd(self, cmd: str) -> str:
        return "200 ok"

    def size(self, path: str) -> int:
        if path not in self.files:
            raise ftplib.error_perm(f"550 {path}: No such file")
        return len(self.files[path])

    def retrbinary(self, cmd: str, callback, blocksize: int = 8192) -> str:  # type: ignore[no-untyped-def]
        path = cmd.removeprefix("RETR ")
        if path not in self.files:
            raise ftplib.error_perm(f"550 {path}: No such file")
        callback(self.files[path])
        return "226 done"

    def close(self) -> None:
        pass


def test_ftp_with_fake_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ftp_mod.ftplib, "FTP", _FakeFTP)
    monkeypatch.delenv("VOCLOUD_FTP_USER", raising=False)
    _FakeFTP.logins = []
    assert fetch("ftp://ftp.example:2121/pub/spec.fits", FAST) == b"SIMPLE  =  T"
    assert _FakeFTP.logins == [("anonymous", "anonymous@")]
    assert fetch("ftp://good:pw@ftp.example:2121/pub/spec.fits", FAST) == b"SIMPLE  =  T"
    assert _FakeFTP.logins[-1] == ("good", "pw")
    with pytest.raises(FetchError) as info:
        fetch("ftp://baduser:badpw@ftp.example:2121/pub/spec.fits", FAST)
    assert info.value.status == 530 and "baduser" not in str(info.value)
    assert (
        str(info.value) == "ftp://ftp.example:2121/pub/spec.fits: FTP 530 Login incorrect for ***"
    )
    monkeypatch.setenv("VOCLOUD_FTP_USER", "good")
    monkeypatch.setenv("VOCLOUD_FTP_PASSWORD", "envpw")
    monkeypatch.setenv("VOCLOUD_FTP_HOSTS", "ftp.example:2121")
    with pytest.raises(FetchError, match="550"):
        fetch("ftp://ftp.example:2121/pub/none.fits", FAST)
    assert _FakeFTP.logins[-1] == ("good", "envpw")
    assert len(_FakeFTP.logins) == 4  # 550: no retry
    with pytest.raises(FetchError, match="not supported for ftp"):
        fetch("ftp://ftp.example:2121/pub/spec.fits", FAST, params={"a": 1})


@pytest.mark.filterwarnings(
    "ignore:The (asyncore|asynchat) module is deprecated:DeprecationWarning"
)
def test_ftp_loopback_server(servers: LoopbackServers, tmp_path: Path) -> None:
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "spec.fits").write_bytes(b"FTP" * 1000)
    port = servers.ftp(tmp_path).port
    data = fetch(f"ftp://127.0.0.1:{port}/pub/spec.fits", FetchOptions(retries=0, timeout=5))
    assert data == b"FTP" * 1000

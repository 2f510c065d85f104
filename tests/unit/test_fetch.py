"""vocloud.fetch against a loopback HTTP server whose paths script faults, and a real FTP server."""

from __future__ import annotations

import base64
import dataclasses
import logging
import pickle
import socket
import struct
import time
from pathlib import Path

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

FAST = FetchOptions(retries=3, timeout=2.0, backoff=0.01)


class _Server(LoopbackHTTPServer):
    inflight = 0  # requests to /sleep/... being answered
    max_inflight = 0
    gather = 1  # a /sleep/... request is answered once this many are in flight (or after 5 s)


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
            # held until `gather` requests are in flight together: concurrency shows as a count,
            # whatever the machine's speed (a client that sends fewer at once waits 5 s each)
            srv = self.server
            with srv.lock:
                srv.inflight += 1
                srv.max_inflight = max(srv.max_inflight, srv.inflight)
            deadline = time.monotonic() + 5.0
            try:
                while srv.max_inflight < srv.gather and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.05)  # a client above its limit would send more meanwhile
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
    with pytest.raises(FetchError) as info:  # the server answers after 1 s: never waited for
        fetch(server.url("/slow"), opts)
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
    # names found nowhere else (the paths hold /tmp/pytest-of-$USER: a user may be called "user")
    user, password = "vc-login-q7", "pw-z3k9x"
    good = server.url("/ok/x", f"{user}:{password}")
    assert fetch(good, opts) == b"spectrum:x:/ok/x"
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    assert server.auth_of("/ok/x")[-1] == expected
    errors = fetch_many(
        [server.url(p, f"{user}:{password}") for p in ("/missing", "/always503", "/truncated")],
        opts,
    )
    assert all(isinstance(e, FetchError) for e in errors)
    text = " ".join(f"{e} {e!r} {e.url}" for e in errors) + caplog.text  # type: ignore[union-attr]
    text += " ".join(str(p) for p in tmp_path.rglob("*"))
    assert password not in text
    assert user not in text
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
    server.gather = 8
    urls = [server.url(f"/sleep/{i}") for i in range(8)]
    res = fetch_many(urls, FetchOptions(concurrency=8, timeout=10.0))
    assert res == [f"/sleep/{i}".encode() for i in range(8)]  # in the order asked
    assert server.max_inflight == 8  # all eight at once


def test_fetch_many_limits_concurrency_per_host(server: _Server) -> None:
    server.gather = 2
    urls = [server.url(f"/sleep/{i}") for i in range(6)]
    res = fetch_many(urls, FetchOptions(concurrency=2, timeout=10.0))
    assert res == [f"/sleep/{i}".encode() for i in range(6)]
    assert server.max_inflight == 2  # the limit is reached, never passed


# ----------------------------------------------------------------------------------------- ftp
FTP_WARNINGS = pytest.mark.filterwarnings(
    "ignore:The (asyncore|asynchat) module is deprecated:DeprecationWarning"
)


@FTP_WARNINGS
def test_ftp_logins_and_masked_errors(
    servers: LoopbackServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real pyftpdlib server whose refusals name the user ("530 Login incorrect for baduser"):
    the error vocloud gives names neither the user nor the password."""
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "spec.fits").write_bytes(b"SIMPLE  =  T")
    ftp = servers.ftp(
        tmp_path, users={"good": "pw", "envgood": "envpw"}, names_user_on_failure=True
    )
    base = f"127.0.0.1:{ftp.port}"
    monkeypatch.delenv("VOCLOUD_FTP_USER", raising=False)
    assert fetch(f"ftp://{base}/pub/spec.fits", FAST) == b"SIMPLE  =  T"
    assert fetch(f"ftp://good:pw@{base}/pub/spec.fits", FAST) == b"SIMPLE  =  T"
    assert ftp.logins == ["anonymous", "good"]
    with pytest.raises(FetchError) as info:
        fetch(f"ftp://baduser:badpw@{base}/pub/spec.fits", FAST)
    assert ftp.logins[-1] == "failed:baduser"  # the server did refuse that user, by name
    assert info.value.status == 530
    assert "baduser" not in f"{info.value} {info.value!r}" and "badpw" not in str(info.value)
    assert str(info.value) == f"ftp://{base}/pub/spec.fits: FTP 530 Login incorrect for ***"
    # credentials from the environment for this host; a 550 is not retried
    monkeypatch.setenv("VOCLOUD_FTP_USER", "envgood")
    monkeypatch.setenv("VOCLOUD_FTP_PASSWORD", "envpw")
    monkeypatch.setenv("VOCLOUD_FTP_HOSTS", base)
    n = len(ftp.logins)
    with pytest.raises(FetchError, match="550"):
        fetch(f"ftp://{base}/pub/none.fits", FAST)
    assert ftp.logins[n:] == ["envgood"]  # one attempt
    with pytest.raises(FetchError, match="not supported for ftp"):
        fetch(f"ftp://{base}/pub/spec.fits", FAST, params={"a": 1})


@FTP_WARNINGS
def test_ftp_loopback_server(servers: LoopbackServers, tmp_path: Path) -> None:
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "spec.fits").write_bytes(b"FTP" * 1000)
    port = servers.ftp(tmp_path).port
    data = fetch(f"ftp://127.0.0.1:{port}/pub/spec.fits", FetchOptions(retries=0, timeout=5))
    assert data == b"FTP" * 1000

"""Credentials per host: config (fetch: credentials:) and environment (VOCLOUD_*_HOSTS).

Real loopback servers: an http.server that records the Authorization header of every request
(on 127.0.0.1 and 127.0.0.2: two hosts), pyftpdlib FTP servers with a user account, and a small
Experiment run whose store must not hold the password anywhere.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import pickle
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from loopback_servers import (
    FileHandler,
    LoopbackHTTPServer,
    LoopbackServers,
    RoutingHandler,
    running_servers,
)

from vocloud.fetch import FetchError, FetchOptions, fetch, fetch_many
from vocloud.fetch import credentials as credentials_mod
from vocloud.fetch.credentials import Credentials, HostPattern, Login, env_login
from vocloud.sources.files import FTPSource, HTTPIndexSource, RemoteSourceError

SECRET = "hunter2-s3cret"  # a literal password: must never be shown anywhere
ENV_SECRET = "env-pa55word"
FAST = {"retries": 0, "timeout": 5.0, "backoff": 0.01}


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for kind in ("HTTP", "FTP"):
        for var in ("USER", "PASSWORD", "HOSTS"):
            monkeypatch.delenv(f"VOCLOUD_{kind}_{var}", raising=False)
    monkeypatch.delenv("ARCHIVE_PASSWORD", raising=False)
    monkeypatch.setattr(credentials_mod, "_warned", set())  # the once-per-process warnings
    monkeypatch.setenv("NETRC", os.devnull)  # no ~/.netrc of the machine running the tests


# ------------------------------------------------------------------------------ HTTP servers
class _Server(LoopbackHTTPServer):
    require: str | None = None  # with it set, a request without that Authorization gets 401


class _Recorder(RoutingHandler):
    """Records (path, Authorization); /ok/... answers 200, /redirect?to=URL a 302, /missing 404,
    /down 503; with ``require`` set, a request without that Authorization gets 401."""

    server: _Server

    def route(self, path: str, query: str, n: int) -> None:
        require = self.server.require
        if require is not None and self.headers.get("Authorization") != require:
            return self.send(401, headers={"WWW-Authenticate": 'Basic realm="x"'})
        if path.startswith("/ok/"):
            return self.send(200, path.encode())
        if path == "/redirect":
            return self.send(302, headers={"Location": query.removeprefix("to=")})
        if path == "/down":
            return self.send(503)
        return self.send(404)


servers = pytest.fixture(running_servers, name="servers")


@pytest.fixture
def serve(servers: LoopbackServers) -> Callable[..., _Server]:
    def start(host: str = "127.0.0.1", handler: Any = _Recorder, **kw: Any) -> _Server:
        return servers.http(handler, host, server=_Server, **kw)

    return start


def _opts(creds: dict[str, Any] | None = None, **kw: Any) -> FetchOptions:
    return FetchOptions.from_dict({**FAST, **kw, **({"credentials": creds} if creds else {})})


# ------------------------------------------------------------------------- options and types
def test_config_parsing_and_matching() -> None:
    creds = Credentials.from_config(
        {
            "Archive.Example.org": {"user": "alice", "password_env": "ARCHIVE_PASSWORD"},
            "archive.example.org:8443": {"user": "carol", "password": SECRET},
            "[::1]:21": {"user": "bob", "password": SECRET},
        }
    )
    assert [str(p) for p in creds] == [
        "archive.example.org",
        "archive.example.org:8443",
        "[::1]:21",
    ]
    assert creds.lookup("ARCHIVE.example.ORG", 443).user == "alice"  # type: ignore[union-attr]
    assert creds.lookup("archive.example.org", 8443).user == "carol"  # type: ignore[union-attr]
    assert creds.lookup("::1", 21).user == "bob"  # type: ignore[union-attr]
    assert creds.lookup("::1", 2121) is None
    assert creds.lookup("example.org", 443) is None
    assert creds.lookup("evil-archive.example.org", 443) is None
    assert creds.lookup("archive.example.org.evil.net", 443) is None
    assert HostPattern.parse(" data.example.org:80 ") == HostPattern("data.example.org", 80)
    assert Credentials.from_config(None) == Credentials() and not Credentials()
    # the options keep the credentials, compare and hash, and pickle for the workers
    opts = FetchOptions.from_dict({"credentials": {"h": {"user": "u", "password": SECRET}}})
    assert opts == FetchOptions(credentials={"h": {"user": "u", "password": SECRET}})
    assert hash(opts) == hash(FetchOptions.from_dict({"credentials": opts.credentials}))
    back = pickle.loads(pickle.dumps(opts))
    assert back == opts and back.credentials.lookup("h", 80).resolve() == ("u", SECRET)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"https://h.org/x": {"user": "u", "password": SECRET}}, "not a URL"),
        ({"h.org:0": {"user": "u", "password": SECRET}}, "'h.org:0': the port must be"),
        ({"h.org:http": {"user": "u", "password": SECRET}}, "'h.org:http': the port must be"),
        ({"us@h.org": {"user": "u", "password": SECRET}}, "'us@h.org': not a host name"),
        ({"": {"user": "u", "password": SECRET}}, "not a host name"),
        ({"h.org": SECRET}, "'h.org': expected a mapping"),
        ({"h.org": {"user": "u", "pasword": SECRET}}, "'h.org': unknown key.*'pasword'"),
        ({"h.org": {"password": SECRET}}, "'h.org': 'user' must be"),
        ({"h.org": {"user": "u", "password": SECRET, "password_env": "X"}}, "'h.org': give one"),
        ({"h.org": {"user": "u"}}, "'h.org': give one"),
        ({"h.org": {"user": "u", "password": 12345}}, "'h.org': 'password' must be a string"),
        ({"h.org": {"user": "u", "password_env": "NOT A VAR"}}, "'h.org': 'password_env'"),
        (
            {"H.org": {"user": "u", "password": SECRET}, "h.ORG": {"user": "v", "password": "x"}},
            "'H.org' and 'h.ORG' name the same host",
        ),
        ([("h.org", SECRET)], "must be a mapping"),
    ],
)
def test_bad_config_names_the_key_never_the_password(config: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        FetchOptions.from_dict({"credentials": config})
    assert "credentials" in str(info.value)
    assert SECRET not in str(info.value) and "12345" not in str(info.value)


def test_repr_and_str_never_show_the_password() -> None:
    opts = _opts(
        {
            "archive.example.org": {"user": "alice", "password_env": "ARCHIVE_PASSWORD"},
            "ftp.example.org:21": {"user": "bob", "password": SECRET},
        }
    )
    shown = [repr(opts), str(opts), repr(opts.credentials), str(opts.credentials)]
    shown += [repr(login) for _, login in opts.credentials.entries]
    shown += [str(Login("bob", password=SECRET)), f"{opts}", f"{opts!r}"]
    for text in shown:
        assert SECRET not in text, text
    assert "'ftp.example.org:21': {'user': 'bob', 'password': '***'}" in repr(opts)
    assert "'password_env': 'ARCHIVE_PASSWORD'" in repr(opts)
    # task keys are made from the arguments: without the literal password
    import dask.base

    assert SECRET not in repr(opts.credentials.__dask_tokenize__())
    assert dask.base.tokenize(opts.credentials) == dask.base.tokenize(
        Credentials.from_config(
            {
                "archive.example.org": {"user": "alice", "password_env": "ARCHIVE_PASSWORD"},
                "ftp.example.org:21": {"user": "bob", "password": SECRET},
            }
        )
    )


# ------------------------------------------------------------------------ config over HTTP
def test_config_credentials_reach_their_host_only(serve: Callable[..., _Server]) -> None:
    a, b = serve("127.0.0.1"), serve("127.0.0.2")
    opts = _opts({"127.0.0.1": {"user": "alice", "password": SECRET}})
    res = fetch_many([f"{a.base}/ok/1", f"{b.base}/ok/2", f"{a.base}/ok/3"], opts)
    assert res == [b"/ok/1", b"/ok/2", b"/ok/3"]
    assert a.auth_of("/ok/1") == a.auth_of("/ok/3") == [_basic("alice", SECRET)]
    assert b.auth_of("/ok/2") == [None]


def test_host_port_key_matches_that_port_only(serve: Callable[..., _Server]) -> None:
    a, b = serve(), serve()  # same host, two ports
    port = a.server_address[1]
    opts = _opts({f"127.0.0.1:{port}": {"user": "alice", "password": SECRET}})
    assert fetch_many([f"{a.base}/ok/a", f"{b.base}/ok/b"], opts) == [b"/ok/a", b"/ok/b"]
    assert a.auth_of("/ok/a") == [_basic("alice", SECRET)]
    assert b.auth_of("/ok/b") == [None]
    # host:port before host
    opts = _opts(
        {
            "127.0.0.1": {"user": "any", "password": "x1"},
            f"127.0.0.1:{port}": {"user": "exact", "password": "x2"},
        }
    )
    fetch(f"{a.base}/ok/c", opts)
    fetch(f"{b.base}/ok/c", opts)
    assert a.auth_of("/ok/c") == [_basic("exact", "x2")]
    assert b.auth_of("/ok/c") == [_basic("any", "x1")]


def test_password_env_is_read_at_request_time(
    serve: Callable[..., _Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = serve()
    opts = _opts({"127.0.0.1": {"user": "alice", "password_env": "ARCHIVE_PASSWORD"}})
    with pytest.raises(FetchError) as info:  # not set: fails before any request, rerun retries
        fetch(f"{a.base}/ok/x", opts)
    assert info.value.reason == (
        f"credentials for 127.0.0.1:{a.server_address[1]}: "
        "the environment variable ARCHIVE_PASSWORD is not set"
    )
    assert info.value.transient and a.requests == []
    monkeypatch.setenv("ARCHIVE_PASSWORD", "first")
    fetch(f"{a.base}/ok/x", opts)
    monkeypatch.setenv("ARCHIVE_PASSWORD", "second")
    fetch(f"{a.base}/ok/x", opts)
    assert a.auth_of("/ok/x") == [_basic("alice", "first"), _basic("alice", "second")]


def test_url_credentials_beat_config_and_config_beats_env(
    serve: Callable[..., _Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = serve()
    monkeypatch.setenv("VOCLOUD_HTTP_USER", "envuser")
    monkeypatch.setenv("VOCLOUD_HTTP_PASSWORD", ENV_SECRET)
    monkeypatch.setenv("VOCLOUD_HTTP_HOSTS", "127.0.0.1")
    opts = _opts({"127.0.0.1": {"user": "alice", "password": SECRET}})
    fetch(a.base.replace("://", "://url:pw@") + "/ok/u", opts)
    fetch(f"{a.base}/ok/c", opts)
    fetch(f"{a.base}/ok/e", _opts())
    assert a.auth_of("/ok/u") == [_basic("url", "pw")]
    assert a.auth_of("/ok/c") == [_basic("alice", SECRET)]
    assert a.auth_of("/ok/e") == [_basic("envuser", ENV_SECRET)]


def test_redirects_never_carry_credentials_elsewhere(serve: Callable[..., _Server]) -> None:
    a, b = serve("127.0.0.1"), serve("127.0.0.2")
    a_port_twin = serve("127.0.0.1")  # same host, another port
    # config for a only: the redirect target b gets nothing
    opts = _opts({f"127.0.0.1:{a.server_address[1]}": {"user": "alice", "password": SECRET}})
    assert fetch(f"{a.base}/redirect?to={b.base}/ok/1", opts) == b"/ok/1"
    assert a.auth_of("/redirect") == [_basic("alice", SECRET)]
    assert b.auth_of("/ok/1") == [None]
    assert fetch(f"{a.base}/redirect?to={a_port_twin.base}/ok/2", opts) == b"/ok/2"
    assert a_port_twin.auth_of("/ok/2") == [None]
    # a redirect back to the configured host gets its credentials again
    assert fetch(f"{b.base}/redirect?to={a.base}/ok/3", opts) == b"/ok/3"
    assert b.auth_of("/redirect") == [None] and a.auth_of("/ok/3") == [_basic("alice", SECRET)]
    # URL credentials: that server only (not the same host on another port, nor another host)
    url = a.base.replace("://", "://url:pw@")
    fetch(f"{url}/redirect?to={a.base}/ok/4", _opts())
    fetch(f"{url}/redirect?to={b.base}/ok/5", _opts())
    fetch(f"{url}/redirect?to={a_port_twin.base}/ok/6", _opts())
    assert a.auth_of("/ok/4") == [_basic("url", "pw")]
    assert b.auth_of("/ok/5") == [None] and a_port_twin.auth_of("/ok/6") == [None]
    # each host of the chain gets its own configured credentials, not the previous host's
    opts = _opts(
        {
            "127.0.0.1": {"user": "alice", "password": SECRET},
            "127.0.0.2": {"user": "bob", "password": "other"},
        }
    )
    fetch(f"{a.base}/redirect?to={b.base}/ok/7", opts)
    assert b.auth_of("/ok/7") == [_basic("bob", "other")]


# --------------------------------------------------------------------- environment over HTTP
def test_env_credentials_only_to_listed_hosts(
    serve: Callable[..., _Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = serve("127.0.0.1"), serve("127.0.0.2")
    monkeypatch.setenv("VOCLOUD_HTTP_USER", "envuser")
    monkeypatch.setenv("VOCLOUD_HTTP_PASSWORD", ENV_SECRET)
    monkeypatch.setenv("VOCLOUD_HTTP_HOSTS", f"example.org, 127.0.0.2:{b.server_address[1]}")
    assert fetch_many([f"{a.base}/ok/1", f"{b.base}/ok/2"], _opts()) == [b"/ok/1", b"/ok/2"]
    assert a.auth_of("/ok/1") == [None]
    assert b.auth_of("/ok/2") == [_basic("envuser", ENV_SECRET)]
    monkeypatch.setenv("VOCLOUD_HTTP_HOSTS", "127.0.0.2:1")  # another port: not this server
    fetch(f"{b.base}/ok/3", _opts())
    assert b.auth_of("/ok/3") == [None]


def test_env_credentials_without_hosts_go_nowhere_with_one_warning(
    serve: Callable[..., _Server],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    a, b = serve("127.0.0.1"), serve("127.0.0.2")
    monkeypatch.setenv("VOCLOUD_HTTP_USER", "envuser")
    monkeypatch.setenv("VOCLOUD_HTTP_PASSWORD", ENV_SECRET)
    fetch_many([f"{a.base}/ok/1", f"{b.base}/ok/2", f"{a.base}/ok/3"], _opts())
    fetch(f"{b.base}/ok/4", _opts())
    assert [auth for s in (a, b) for _, auth in s.requests] == [None] * 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    msg = warnings[0].getMessage()
    assert "VOCLOUD_HTTP_USER is set but VOCLOUD_HTTP_HOSTS is not" in msg
    assert "sent to no host" in msg and "Set VOCLOUD_HTTP_HOSTS" in msg
    assert ENV_SECRET not in caplog.text
    assert env_login("http", "127.0.0.1", 80) is None  # still none, and no second warning
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_no_password_in_errors_or_logs(
    serve: Callable[..., _Server],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    a = serve()
    monkeypatch.setenv("ARCHIVE_PASSWORD", ENV_SECRET)
    opts = _opts(
        {
            "127.0.0.1": {"user": "alice", "password": SECRET},
            "127.0.0.2": {"user": "bob", "password_env": "ARCHIVE_PASSWORD"},
        },
        retries=1,
        cache_dir=str(tmp_path),
    )
    urls = [
        f"{a.base}/missing",
        f"{a.base}/down",
        f"{a.base}/redirect?to=file:///etc/passwd",
        "http://127.0.0.2:1/x",  # refused
        "ftp://127.0.0.1:1/x",  # refused
        f"{a.base}/ok/fine",
    ]
    res = fetch_many(urls, opts)
    errors = [r for r in res if isinstance(r, FetchError)]
    assert len(errors) == 5 and res[-1] == b"/ok/fine"
    a.require = "nothing matches"
    with pytest.raises(FetchError) as info:
        fetch(f"{a.base}/ok/denied", opts)
    assert info.value.reason == "HTTP 401 Unauthorized"
    errors.append(info.value)
    text = " ".join(f"{e} {e!r} {e.reason} {pickle.dumps(e)!r}" for e in errors)
    text += caplog.text + " ".join(str(p) for p in tmp_path.rglob("*"))
    for secret in (SECRET, ENV_SECRET, _basic("alice", SECRET)[6:]):
        assert secret not in text


# ------------------------------------------------------------------------------ FTP servers
@pytest.fixture
def ftp_servers(servers: LoopbackServers, tmp_path: Path) -> Callable[[str], tuple[int, list[str]]]:
    """Start pyftpdlib servers on a host: user bob (password SECRET) and anonymous; each
    returns (port, user names that logged in)."""
    root = tmp_path / "ftproot"
    (root / "pub").mkdir(parents=True)
    (root / "pub" / "spec.fits").write_bytes(b"FTP" * 100)

    def start(host: str) -> tuple[int, list[str]]:
        ftp = servers.ftp(root, host, users={"bob": SECRET})
        return ftp.port, ftp.logins

    return start


pytestmark_ftp = pytest.mark.filterwarnings(
    "ignore:The (asyncore|asynchat) module is deprecated:DeprecationWarning"
)


@pytestmark_ftp
def test_ftp_config_credentials_per_host(
    ftp_servers: Callable[[str], tuple[int, list[str]]],
) -> None:
    p1, logins1 = ftp_servers("127.0.0.1")
    p2, logins2 = ftp_servers("127.0.0.2")
    opts = _opts({f"127.0.0.1:{p1}": {"user": "bob", "password": SECRET}})
    res = fetch_many(
        [f"ftp://127.0.0.1:{p1}/pub/spec.fits", f"ftp://127.0.0.2:{p2}/pub/spec.fits"], opts
    )
    assert res == [b"FTP" * 100] * 2
    assert logins1 == ["bob"] and logins2 == ["anonymous"]
    # a wrong password: the error names neither it nor the right one
    bad = _opts({"127.0.0.1": {"user": "bob", "password": "wrong-" + SECRET}})
    with pytest.raises(FetchError) as info:
        fetch(f"ftp://127.0.0.1:{p1}/pub/spec.fits", bad)
    assert info.value.status == 530 and SECRET not in f"{info.value} {info.value!r}"
    # FTPSource lists with the same credentials
    df = FTPSource(f"ftp://127.0.0.1:{p1}/pub/", credentials=opts.credentials, timeout=5).list()
    assert df["id"].tolist() == ["spec.fits"] and logins1[-1] == "bob"
    assert (
        FTPSource(f"ftp://127.0.0.2:{p2}/pub/", credentials=opts.credentials).describe()[
            "authenticated"
        ]
        is False
    )


@pytestmark_ftp
def test_ftp_env_credentials_only_to_listed_hosts(
    ftp_servers: Callable[[str], tuple[int, list[str]]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    p1, logins1 = ftp_servers("127.0.0.1")
    p2, logins2 = ftp_servers("127.0.0.2")
    monkeypatch.setenv("VOCLOUD_FTP_USER", "bob")
    monkeypatch.setenv("VOCLOUD_FTP_PASSWORD", SECRET)
    urls = [f"ftp://127.0.0.1:{p1}/pub/spec.fits", f"ftp://127.0.0.2:{p2}/pub/spec.fits"]
    # no VOCLOUD_FTP_HOSTS: anonymous everywhere, one warning
    assert fetch_many(urls, _opts()) == [b"FTP" * 100] * 2
    FTPSource(f"ftp://127.0.0.1:{p1}/pub/", timeout=5).list()
    assert logins1 == ["anonymous", "anonymous"] and logins2 == ["anonymous"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "VOCLOUD_FTP_HOSTS is not" in warnings[0]
    monkeypatch.setenv("VOCLOUD_FTP_HOSTS", f"127.0.0.1:{p1}")
    assert fetch_many(urls, _opts()) == [b"FTP" * 100] * 2
    src = FTPSource(f"ftp://127.0.0.1:{p1}/pub/", timeout=5)
    assert src.describe()["authenticated"] is True
    src.list()
    assert logins1[2:] == ["bob", "bob"] and logins2 == ["anonymous", "anonymous"]
    assert SECRET not in caplog.text


# ------------------------------------------------------------------------ HTTP index listing
def test_http_index_credentials_per_host(
    serve: Callable[..., _Server],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    (tmp_path / "a.fits").write_bytes(b"x")
    srv = serve("127.0.0.1", FileHandler, directory=tmp_path)
    monkeypatch.setenv("VOCLOUD_HTTP_USER", "envuser")
    monkeypatch.setenv("VOCLOUD_HTTP_PASSWORD", ENV_SECRET)
    HTTPIndexSource(srv.base + "/").list()  # no VOCLOUD_HTTP_HOSTS: nothing sent
    assert srv.requests[-1] == ("/", None)
    assert "VOCLOUD_HTTP_HOSTS is not" in caplog.text
    monkeypatch.setenv("VOCLOUD_HTTP_HOSTS", "127.0.0.2")
    assert HTTPIndexSource(srv.base + "/").describe()["authenticated"] is False
    HTTPIndexSource(srv.base + "/").list()
    assert srv.requests[-1] == ("/", None)
    monkeypatch.setenv("VOCLOUD_HTTP_HOSTS", "127.0.0.1")
    HTTPIndexSource(srv.base + "/").list()
    assert srv.requests[-1] == ("/", _basic("envuser", ENV_SECRET))
    # config credentials (password from the environment when listing) before the environment
    creds = {"127.0.0.1": {"user": "alice", "password_env": "ARCHIVE_PASSWORD"}}
    src = HTTPIndexSource(srv.base + "/", credentials=creds)
    with pytest.raises(RemoteSourceError, match="ARCHIVE_PASSWORD is not set"):
        src.list()
    monkeypatch.setenv("ARCHIVE_PASSWORD", SECRET)
    assert src.list()["id"].tolist() == ["a.fits"]
    assert srv.requests[-1] == ("/", _basic("alice", SECRET))
    assert SECRET not in json.dumps(src.describe()) and src.describe()["authenticated"] is True


# ------------------------------------------------------------------------------ the store
def test_experiment_store_holds_no_password(
    serve: Callable[..., _Server], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from vocloud.datasets import make_archive
    from vocloud.run.experiment import Experiment

    caplog.set_level(logging.DEBUG)
    make_archive(tmp_path / "spectra", 6, layouts="iraf-linear", n_jobs=1)

    class Files(FileHandler):
        """The archive, behind HTTP Basic: 401 without the right Authorization."""

        def route(self, path: str) -> bool:
            if self.headers.get("Authorization") != _basic("alice", SECRET):
                self.send(401)
                return True
            return False

    srv = serve("127.0.0.1", Files, directory=tmp_path / "spectra")
    store = tmp_path / "experiments"
    exp = Experiment(
        {"http": srv.base + "/", "pattern": "**/*.fits"},
        name="secret-archive",
        store=store,
        block_size=3,
        fetch={"retries": 0, "credentials": {"127.0.0.1": {"user": "alice", "password": SECRET}}},
    )
    assert SECRET not in repr(exp.fetch_options)
    ds = exp.run(
        cluster_kwargs={"n_workers": 1, "processes": False, "dashboard_address": None},
        progress=False,
        verbose=False,
    )
    assert int((ds.status == 1).sum()) == 6  # the listing and the downloads logged in
    assert "credentials" not in json.dumps(dict(ds.attrs), default=str)
    needles = [SECRET, _basic("alice", SECRET)[6:]]
    for needle in needles:
        found = subprocess.run(
            ["grep", "-r", "-l", "-a", "-F", needle, str(store)], capture_output=True, text=True
        )
        assert found.returncode == 1, found.stdout  # 1: no file holds it
    files = [p for p in store.rglob("*") if p.is_file()]
    assert any(p.name == "zarr.json" for p in files) and any(".raw-cache" in str(p) for p in files)
    for p in files:
        data = p.read_bytes()
        assert not any(n.encode() in data for n in needles), p
    assert SECRET not in caplog.text


def test_experiment_file_credentials(tmp_path: Path) -> None:
    from vocloud.run.config import load_experiment_file
    from vocloud.run.experiment import Experiment

    f = tmp_path / "e.yaml"
    f.write_text(
        "name: t\n"
        "source: {ftp: 'ftp://ftp.example.org/pub/'}\n"
        "fetch:\n"
        "  retries: 1\n"
        "  credentials:\n"
        "    archive.example.org: {user: alice, password_env: ARCHIVE_PASSWORD}\n"
        f"    ftp.example.org:21: {{user: bob, password: {SECRET}}}\n"
    )
    exp = Experiment.from_file(f)
    assert SECRET not in repr(exp.fetch_options)
    opts = FetchOptions.from_dict(exp.fetch_options)
    assert opts.credentials.lookup("ftp.example.org", 21).resolve() == ("bob", SECRET)  # type: ignore[union-attr]
    # the FTP listing logs in with them too
    assert exp.source.describe()["authenticated"] is True
    assert SECRET not in json.dumps(exp.source.describe())
    # a bad entry fails when the experiment is built, naming the key, not the password
    spec = load_experiment_file(f)
    spec["fetch"]["credentials"]["ftp.example.org:21"]["pasword"] = SECRET
    with pytest.raises(ValueError, match=r"'ftp\.example\.org:21': unknown key") as info:
        Experiment.from_dict(spec)
    assert SECRET not in str(info.value)

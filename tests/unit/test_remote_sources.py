"""Remote file listings: HTTP directory indexes and FTP, checked against the directory source."""

from __future__ import annotations

import ftplib
import gzip
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from loopback_servers import FileHandler, LoopbackHTTPServer, LoopbackServers, running_servers

from vocloud.datasets import make_archive
from vocloud.sources import DirectorySource
from vocloud.sources.files import FTPSource, HTTPIndexSource, RemoteSourceError

PATTERNS = ["**/*", "**/*.fits", "**/*.fits.gz", "*/**/*.csv", ["*.csv", "**/*.fits.gz"]]

# hand-made index pages served under /evil/: only good.fits and sub/deeper.fits are legitimate
EVIL_PAGES = {
    "/evil/": """<html><body>
<a href="?C=N;O=D">Name</a> <a href="?C=M;O=A">Last modified</a> <a href="#top">top</a>
<a href="../">Parent Directory</a> <a href="/">root</a> <a href="../sibling/">sibling</a>
<a href="../sibling/z.fits">z</a> <a href="/sibling/z.fits">z</a>
<a href="http://127.0.0.1:{other_port}/evil/x.fits">other port</a>
<a href="http://{other_host}:{port}/evil/y.fits">other host</a>
<a href="//{other_host}/evil/w.fits">scheme-relative</a>
<a href="ftp://127.0.0.1:{port}/evil/v.fits">other scheme</a>
<a href="%2e%2e/secret.fits">dots</a> <a href="%2E%2E/">dots dir</a>
<a href="..%2Fsecret.fits">encoded slash</a> <a href="sub/%2e%2e/%2e%2e/secret.fits">deep</a>
<a href="sub/../../escape.fits">escape</a> <a href="a%5Cb.fits">backslash</a>
<a href="nul%00.fits">nul</a> <a href="%2Fetc%2Fpasswd.fits">absolute</a>
<a href=".hidden.fits">hidden</a> <a href="http://[bad/x.fits">malformed</a> <a href="http://127.0.0.1:99999/">bad port</a>
<a href="good.fits">good</a> <a href="good.fits#frag">good again</a>
<a href="sub/">sub</a> <a href="loop/">loop</a> <a href="./">self</a>
</body></html>""",
    "/evil/sub/": """<a href="/evil/">up</a> <a href="../sub/">self</a> <a href="deeper.fits">d</a>
<a href="../../sibling/q.fits">q</a>""",
    "/evil/loop/": """<a href="../loop/">again</a> <a href="/evil/loop/">again</a>""",
}


class _Server(LoopbackHTTPServer):
    fmt: dict[str, Any]  # what the /evil/ pages are formatted with


class _Handler(FileHandler):
    server: _Server

    def route(self, path: str) -> bool:
        fmt = self.server.fmt
        if path.startswith("/evil/"):
            page = EVIL_PAGES.get(path.split("?", 1)[0])
            if page is None:
                self.send_error(404)
            else:
                body = page.format(**fmt).encode()
                self.send(200, body, {"Content-Type": "text/html; charset=utf-8"})
            return True
        if path.startswith("/redirect-out/"):
            self.send(302, headers={"Location": f"http://127.0.0.1:{fmt['other_port']}/"})
            return True
        return False


servers = pytest.fixture(running_servers, name="servers")


@pytest.fixture
def serve(servers: LoopbackServers) -> Callable[..., _Server]:
    def start(directory: Path, **fmt: Any) -> _Server:
        srv = servers.http(_Handler, directory=directory, server=_Server)
        srv.fmt = {"port": srv.server_address[1], **fmt}
        return srv

    return start


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("remote")
    a = root / "a"
    make_archive(a, 12, layouts=["lamost-dr7", "csv"], seed=1, n_jobs=1, gzip_fraction=0.3)
    # make sure there are compressed files, names needing quoting and hidden entries
    fits = sorted(a.glob("lamost-dr7/**/*.fits"))
    extra = a / "lamost-dr7" / "0001 extra"
    extra.mkdir()
    (extra / "spec #1 é.fits.gz").write_bytes(gzip.compress(fits[0].read_bytes()))
    (extra / "plain%20name.fits").write_bytes(fits[1].read_bytes())
    (a / ".hidden").mkdir()
    (a / ".hidden" / "h.fits").write_bytes(b"x")
    # a sibling of the archive that must never be listed when starting at /a/
    (root / "sibling").mkdir()
    (root / "sibling" / "z.fits").write_bytes(b"x")
    return root


def _ids(df: Any) -> list[str]:
    return df["id"].tolist()


@pytest.mark.parametrize("pattern", PATTERNS)
def test_http_same_ids_as_directory(archive: Path, serve: Any, pattern: Any) -> None:
    srv = serve(archive)
    base = f"http://127.0.0.1:{srv.server_address[1]}/a"
    df = HTTPIndexSource(base, pattern=pattern, timeout=5).list()
    ref = DirectorySource(archive / "a", pattern).list()
    assert len(ref) > 0
    assert _ids(df) == _ids(ref)
    assert df["path"].tolist() == ref["path"].tolist()
    assert list(df.columns[:3]) == ["id", "access_url", "path"]
    assert all(u.startswith(base + "/") for u in df["access_url"])
    if pattern == "**/*.fits.gz":
        assert "lamost-dr7/0001 extra/spec #1 é.fits" in _ids(df)
    # never leaves /a/
    assert all(p.startswith("/a/") for p, _ in srv.requests)


def test_http_access_urls_fetch_the_files(archive: Path, serve: Any) -> None:
    import requests

    srv = serve(archive)
    df = HTTPIndexSource(f"http://127.0.0.1:{srv.server_address[1]}/a/", "**/*.fits*").list()
    for url, path in zip(df["access_url"], df["path"]):
        r = requests.get(url, timeout=5)
        assert r.status_code == 200
        assert r.content == (archive / "a" / path).read_bytes()


def test_http_non_recursive_and_max_files(archive: Path, serve: Any) -> None:
    srv = serve(archive)
    base = f"http://127.0.0.1:{srv.server_address[1]}/a/"
    flat = HTTPIndexSource(base, recursive=False).list()
    assert _ids(flat) == _ids(DirectorySource(archive / "a", recursive=False).list())
    first = HTTPIndexSource(base, "**/*.fits", max_files=3).list()
    assert _ids(first) == _ids(DirectorySource(archive / "a", "**/*.fits").list())[:3]


def test_http_never_leaves_start_url(archive: Path, serve: Any) -> None:
    other = serve(archive)
    srv = serve(archive, other_port=other.server_address[1], other_host="example.invalid")
    port = srv.server_address[1]
    df = HTTPIndexSource(f"http://127.0.0.1:{port}/evil/").list()
    assert df["path"].tolist() == ["good.fits", "sub/deeper.fits"]
    assert df["access_url"].tolist() == [
        f"http://127.0.0.1:{port}/evil/good.fits",
        f"http://127.0.0.1:{port}/evil/sub/deeper.fits",
    ]
    assert sorted(p for p, _ in srv.requests) == ["/evil/", "/evil/loop/", "/evil/sub/"]
    assert other.requests == []
    # the parent folder serves a sibling that is not listed from the child
    df = HTTPIndexSource(f"http://127.0.0.1:{port}/a/").list()
    assert not any("sibling" in u or "z.fits" in u for u in df["access_url"])
    # a redirect to another port is refused
    with pytest.raises(RemoteSourceError, match="redirect leaves the start URL"):
        HTTPIndexSource(f"http://127.0.0.1:{port}/redirect-out/").list()
    assert other.requests == []


def test_http_errors_and_credentials(archive: Path, serve: Any, monkeypatch: Any) -> None:
    srv = serve(archive)
    port = srv.server_address[1]
    src = HTTPIndexSource(f"http://bob:s3cret@127.0.0.1:{port}/nope", timeout=5)
    with pytest.raises(RemoteSourceError, match=rf"http://127.0.0.1:{port}/nope/.*404") as info:
        src.list()
    assert info.value.status == 404
    assert "s3cret" not in str(info.value) and "bob" not in str(info.value)
    desc = src.describe()
    assert desc["http"] == f"http://127.0.0.1:{port}/nope/" and desc["authenticated"] is True
    assert "s3cret" not in json.dumps(desc)
    assert srv.requests[-1][1] is not None  # basic auth was sent

    monkeypatch.setenv("VOCLOUD_HTTP_USER", "alice")
    monkeypatch.setenv("VOCLOUD_HTTP_PASSWORD", "pw")
    monkeypatch.setenv("VOCLOUD_HTTP_HOSTS", "127.0.0.1")
    HTTPIndexSource(f"http://127.0.0.1:{port}/a/", recursive=False).list()
    assert srv.requests[-1][1] == "Basic YWxpY2U6cHc="

    with pytest.raises(ValueError, match="http"):
        HTTPIndexSource(f"ftp://127.0.0.1:{port}/a/")
    # nothing listens on a closed port: a clear error, no hang
    closed = serve(archive)
    closed_port = closed.server_address[1]
    closed.shutdown()
    closed.server_close()
    with pytest.raises(RemoteSourceError, match=f"127.0.0.1:{closed_port}"):
        HTTPIndexSource(f"http://127.0.0.1:{closed_port}/", timeout=2).list()


# ---------------------------------------------------------------- FTP


class _FakeFTP:
    """An in-memory stand-in for ftplib.FTP serving a local folder (MLSD or NLST only)."""

    root: Path
    mlsd_supported = True
    logins: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, timeout: float | None = None) -> None:
        self.cwd_path = "/"

    def connect(self, host: str, port: int, timeout: float | None = None) -> str:
        assert host == "127.0.0.1"
        return "220 ok"

    def login(self, user: str, passwd: str) -> str:
        type(self).logins.append((user, passwd))
        return "230 ok"

    def _local(self, path: str) -> Path:
        p = (self.root / path.lstrip("/")).resolve()
        assert p.is_relative_to(self.root.resolve())
        return p

    def pwd(self) -> str:
        return self.cwd_path

    def cwd(self, path: str) -> str:
        if not self._local(path).is_dir():
            raise ftplib.error_perm("550 not a directory")
        self.cwd_path = path
        return "250 ok"

    def mlsd(self, path: str = "", facts: Any = ()) -> Iterator[tuple[str, dict[str, str]]]:
        if not self.mlsd_supported:
            raise ftplib.error_perm("500 Unknown command MLSD")
        d = self._local(path)
        if not d.is_dir():
            raise ftplib.error_perm("550 no such directory")
        yield ".", {"type": "cdir"}
        yield "..", {"type": "pdir"}
        yield "../evil.fits", {"type": "file", "size": "1"}
        for e in sorted(d.iterdir()):
            if e.is_dir():
                yield e.name, {"type": "dir"}
            else:
                yield e.name, {"type": "file", "size": str(e.stat().st_size)}

    def nlst(self, path: str = "") -> list[str]:
        d = self._local(path)
        if not d.is_dir():
            raise ftplib.error_perm("550 no such directory")
        return [f"{path}/{e.name}" for e in sorted(d.iterdir())] + [".."]

    def quit(self) -> str:
        return "221 bye"

    def close(self) -> None:
        pass


@pytest.mark.parametrize("mlsd", [True, False])
def test_ftp_fake_server_same_ids(archive: Path, monkeypatch: Any, mlsd: bool) -> None:
    fake = type("Fake", (_FakeFTP,), {"root": archive, "mlsd_supported": mlsd, "logins": []})
    monkeypatch.setattr(ftplib, "FTP", fake)
    monkeypatch.delenv("VOCLOUD_FTP_USER", raising=False)
    for pattern in PATTERNS:
        df = FTPSource("ftp://127.0.0.1:2121/a", pattern).list()
        ref = DirectorySource(archive / "a", pattern).list()
        assert _ids(df) == _ids(ref)
        assert all(u.startswith("ftp://127.0.0.1:2121/a/") for u in df["access_url"])
        if mlsd:
            assert df["size"].tolist() == ref["size"].tolist()
        else:
            assert "size" not in df
    assert fake.logins[0] == ("anonymous", "anonymous@")
    url = df["access_url"][df["path"].str.contains("extra")].tolist()
    assert url == ["ftp://127.0.0.1:2121/a/lamost-dr7/0001%20extra/spec%20%231%20%C3%A9.fits.gz"]

    monkeypatch.setenv("VOCLOUD_FTP_USER", "carol")
    monkeypatch.setenv("VOCLOUD_FTP_PASSWORD", "pw")
    monkeypatch.setenv("VOCLOUD_FTP_HOSTS", "127.0.0.1")
    src = FTPSource("ftp://127.0.0.1/nope/", max_files=2)
    with pytest.raises(RemoteSourceError, match=r"ftp://127\.0\.0\.1:21/nope/"):
        src.list()
    assert fake.logins[-1] == ("carol", "pw")
    assert src.describe() == {
        "ftp": "ftp://127.0.0.1:21/nope/",
        "pattern": ["**/*"],
        "recursive": True,
        "max_files": 2,
        "authenticated": True,
    }
    src = FTPSource("ftp://dave:pw2@127.0.0.1/a/", "**/*.fits", max_files=2)
    assert "pw2" not in json.dumps(src.describe())
    assert _ids(src.list()) == _ids(DirectorySource(archive / "a", "**/*.fits").list())[:2]
    assert fake.logins[-1] == ("dave", "pw2")


@pytest.mark.parametrize("mlsd", [True, False])
def test_ftp_real_server(archive: Path, servers: LoopbackServers, mlsd: bool) -> None:
    """pyftpdlib with MLSD, and refusing it as old servers do ("500 not understood"): the
    same spectra list from the NLST fallback, without sizes."""
    served = archive / "ftproot"
    if not served.exists():
        shutil.copytree(archive / "a", served / "a")
    ftp = servers.ftp(served, mlsd=mlsd)
    for pattern in PATTERNS:
        df = FTPSource(f"ftp://127.0.0.1:{ftp.port}/a/", pattern, timeout=5).list()
        ref = DirectorySource(served / "a", pattern).list()
        assert _ids(df) == _ids(ref)
        if mlsd:
            assert df["size"].tolist() == ref["size"].tolist()
        else:
            assert "size" not in df
    if mlsd:
        assert "MLSD" in ftp.commands and "NLST" not in ftp.commands
    else:  # ftplib's MLSD starts with "OPTS MLST", refused (501), then NLST for every folder
        assert ftp.commands.count("NLST") > len(PATTERNS)
    url = df["access_url"][df["path"].str.contains("extra")].tolist()
    assert url == [
        f"ftp://127.0.0.1:{ftp.port}/a/lamost-dr7/0001%20extra/spec%20%231%20%C3%A9.fits.gz"
    ]
    # a login refused by the real server: an error naming the URL, never the password
    with pytest.raises(RemoteSourceError) as info:
        FTPSource(f"ftp://dave:pw-q8z@127.0.0.1:{ftp.port}/a/", timeout=5).list()
    assert f"ftp://127.0.0.1:{ftp.port}/a/" in str(info.value) and "530" in str(info.value)
    assert "pw-q8z" not in str(info.value)
    assert ftp.logins[-1] == "failed:dave"

"""TAP, ObsCore and SSAP sources without a server: configuration, ADQL, errors.

Queries against a real server are in tests/vo (DaCHS tier).
"""

from __future__ import annotations

import socket

import astropy.units as u
import pytest

from vocloud.sources import (
    ObsCoreSource,
    SSAPSource,
    TAPSource,
    VOServiceError,
    obscore_query,
    source_from_config,
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_obscore_query_collections_band_units_and_quotes() -> None:
    q = obscore_query(collection=["A", "O'Neil"], band=u.Quantity([650, 660], "nm"), target="HD 1")
    assert "obs_collection IN ('A', 'O''Neil')" in q
    assert "em_min <= 6.6e-07 AND em_max >= 6.5e-07" in q
    assert "target_name = 'HD 1'" in q
    with pytest.raises(ValueError, match="pos and radius"):
        obscore_query(pos=(1, 2))


def test_source_from_config_builds_vo_sources(tmp_path) -> None:
    tap = source_from_config(
        {"tap": "http://localhost:8080/tap", "query": "SELECT 1", "mode": "async", "maxrec": 5},
        tmp_path,
    )
    assert isinstance(tap, TAPSource) and tap.mode == "async" and tap.maxrec == 5
    assert tap.describe()["query"] == "SELECT 1"
    obs = source_from_config(
        {"obscore": "http://localhost:8080/tap", "collection": "X", "band": [6500, 6600]}, tmp_path
    )
    assert isinstance(obs, ObsCoreSource) and "obs_collection = 'X'" in obs.query
    ssa = source_from_config(
        {"ssap": "http://localhost:8080/ssa", "pos": [10, 20], "size": 0.5, "target": "HD 1"}
    )
    assert isinstance(ssa, SSAPSource) and ssa.pos == (10.0, 20.0) and ssa.size == 0.5


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"tap": "http://h/tap"}, "'query'"),
        ({"tap": "http://h/tap", "query": "x", "modee": "sync"}, "unknown keys \\['modee'\\]"),
        ({"tap": "http://h/tap", "query": "x", "mode": "fast"}, "mode must be one of"),
        ({"tap": "not a url", "query": "x"}, "service URL"),
        ({"ssap": "http://h/ssa", "pos": [1]}, "pos must be"),
        ({"ssap": "http://h/ssa", "size": -1}, "size must be > 0"),
        ({"tap": "http://h/tap", "ssap": "http://h/ssa"}, "exactly one kind"),
    ],
)
def test_bad_vo_source_entries_are_named(entry, message) -> None:
    with pytest.raises(ValueError, match=message):
        source_from_config(entry)


def test_unreachable_services_name_the_service() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(VOServiceError, match=f"TAP {url}/tap"):
        TAPSource(f"{url}/tap", "SELECT * FROM x").list()
    with pytest.raises(VOServiceError, match=f"SSAP {url}/ssa"):
        SSAPSource(f"{url}/ssa", pos=(1.0, 2.0), size=1.0).list()


_ERROR_VOTABLE = """<?xml version="1.0" encoding="utf-8"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results"><INFO name="QUERY_STATUS" value="ERROR">{message}</INFO></RESOURCE>
</VOTABLE>"""

_OK_VOTABLE = """<?xml version="1.0" encoding="utf-8"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results"><INFO name="QUERY_STATUS" value="OK"/>
<TABLE><FIELD name="obs_publisher_did" datatype="char" arraysize="*" ucd="meta.ref.ivoid"/>
<FIELD name="access_url" datatype="char" arraysize="*" ucd="meta.ref.url"/>
<DATA><TABLEDATA>
<TR><TD>ivo://x/~?a</TD><TD>http://x/a.fits</TD></TR>
<TR><TD>ivo://x/~?b</TD><TD>http://x/b.fits</TD></TR>
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"""


@pytest.fixture
def tap_server(monkeypatch):
    """A loopback TAP /sync endpoint answering a scripted list of (status, body), then OK."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import vocloud.sources.tap as tap_module

    monkeypatch.setattr(tap_module, "QUERY_BACKOFF", (0.01, 0.01, 0.01))
    script: list[tuple[int, str]] = []
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.path)
            status, body = script.pop(0) if script else (200, _OK_VOTABLE)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-votable+xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/tap", script, seen
    server.shutdown()
    server.server_close()


def test_tap_query_retries_a_servers_passing_trouble(tap_server) -> None:
    url, script, seen = tap_server
    lock = "Could not access the jobs table. This probably means there is a stale lock on it."
    script += [(200, _ERROR_VOTABLE.format(message=lock)), (503, "busy")]
    spectra = TAPSource(url, "SELECT * FROM ivoa.obscore").list()
    assert list(spectra["id"]) == ["ivo://x/~?a", "ivo://x/~?b"]
    assert len(seen) == 3  # the lock error, the 503, then the answer


def test_tap_query_errors_and_lasting_trouble_are_named(tap_server) -> None:
    url, script, seen = tap_server
    script.append((200, _ERROR_VOTABLE.format(message="Could not parse your query: near 'FORM'")))
    with pytest.raises(VOServiceError, match=f"TAP {url}: query refused: Could not parse"):
        TAPSource(url, "SELECT * FORM x").list()
    assert len(seen) == 1  # a refused query is not asked again

    seen.clear()
    script += [(503, "busy")] * 4
    with pytest.raises(VOServiceError, match=r"failed: .*\(after 4 attempts\)"):
        TAPSource(url, "SELECT * FROM ivoa.obscore").list()
    assert len(seen) == 4

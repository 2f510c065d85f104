"""vocloud.fetch.datalink against a loopback DataLink + SODA service written to the standard.

The server answers at most 40 IDs per DataLink request (the client must ask again for the rest),
marks unknown IDs with an error row, offers SODA only for some spectra, and cuts CSV spectra by
BAND (metres). The DaCHS tier (tests/vo) checks the same against a real server.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlsplit

import numpy as np
import pytest

from vocloud.fetch import FetchError, FetchOptions
from vocloud.fetch.datalink import fetch_spectra, resolve_datalinks, split_datalink_url
from vocloud.io import read_spectrum

MAX_IDS = 40
KNOWN = {f"ivo://test/spec?{i:03d}" for i in range(120)}
NO_SODA = {f"ivo://test/spec?{i:03d}" for i in range(100, 120)}
WAVE = np.arange(6300.0, 6800.0, 0.5)


def _spectrum_csv(ident: str, band: tuple[float, float] | None) -> bytes:
    k = int(ident.rsplit("?", 1)[1])
    flux = 1.0 + 0.5 * np.exp(-0.5 * ((WAVE - 6562.8) / (2 + k % 5)) ** 2)
    keep = np.ones(WAVE.size, bool)
    if band is not None:
        keep = (WAVE >= band[0] * 1e10) & (WAVE <= band[1] * 1e10)
    rows = "\n".join(f"{w:.2f},{f:.6f}" for w, f in zip(WAVE[keep], flux[keep]))
    return ("wavelength,flux\n" + rows + "\n").encode()


def _votable(server: str, ids: list[str]) -> bytes:
    rows, services = [], []
    for n, ident in enumerate(ids):
        if ident not in KNOWN:
            rows.append((ident, "", "", f"NotFoundFault: {ident}", ""))
            continue
        this = f"{server}/files/{quote(ident, safe='')}.csv"
        rows.append((ident, this, "", "", "#this"))
        if ident not in NO_SODA:
            rows.append((ident, "", f"soda{n}", "", "#proc"))
            services.append(
                f'<RESOURCE type="meta" utype="adhoc:service" ID="soda{n}">'
                '<PARAM name="standardID" datatype="char" arraysize="*" '
                'value="ivo://ivoa.net/std/SODA#sync-1.0"/>'
                f'<PARAM name="accessURL" datatype="char" arraysize="*" value="{server}/dlget"/>'
                '<GROUP name="inputParams">'
                f'<PARAM name="ID" datatype="char" arraysize="*" value="{ident}"/>'
                '<PARAM name="BAND" datatype="double" arraysize="2" unit="m" xtype="interval" '
                'value=""/></GROUP></RESOURCE>'
            )
    tr = "".join(
        "<TR>" + "".join(f"<TD>{c}</TD>" for c in (i, a, s, e, sem)) + "</TR>"
        for i, a, s, e, sem in rows
    )
    fields = "".join(
        f'<FIELD name="{c}" datatype="char" arraysize="*"/>'
        for c in ("ID", "access_url", "service_def", "error_message", "semantics")
    )
    doc = (
        '<?xml version="1.0"?><VOTABLE version="1.4" '
        'xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE type="results">'
        f"<TABLE>{fields}<DATA><TABLEDATA>{tr}</TABLEDATA></DATA></TABLE></RESOURCE>"
        + "".join(services)
        + "</VOTABLE>"
    )
    return doc.replace("&", "&amp;").encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 2
    calls: dict[str, int]
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _count(self, what: str) -> None:
        with self.lock:
            self.calls[what] = self.calls.get(what, 0) + 1

    def _server(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = parse_qs(self.rfile.read(length).decode())
        path = urlsplit(self.path).path
        if path == "/down/dlmeta":
            self._count("down")
            self._send(503, b"down for maintenance")
            return
        if path == "/broken/dlmeta":
            self._count("broken")
            self._send(200, b"<html>not a votable</html>", "text/html")
            return
        self._count("dlmeta")
        ids = form.get("ID", [])[:MAX_IDS]
        self._send(200, _votable(self._server(), ids), "application/x-votable+xml")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        q = parse_qs(parts.query)
        if parts.path == "/dlget":
            self._count("dlget")
            lo, hi = (float(v) for v in q["BAND"][0].split())
            self._send(200, _spectrum_csv(q["ID"][0], (lo, hi)), "text/csv")
        elif parts.path.startswith("/files/"):
            self._count("files")
            from urllib.parse import unquote

            ident = unquote(parts.path[len("/files/") :]).removesuffix(".csv")
            self._send(200, _spectrum_csv(ident, None), "text/csv")
        else:
            self._send(404, b"no")


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, int]]]:
    calls: dict[str, int] = {}
    handler = type("H", (_Handler,), {"calls": calls})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", calls
    httpd.shutdown()
    httpd.server_close()


def _dl(base: str, ident: str) -> str:
    return f"{base}/dl/dlmeta?ID={quote(ident, safe='')}"


def test_split_datalink_url_needs_one_id() -> None:
    with pytest.raises(ValueError, match="exactly one ID"):
        split_datalink_url("http://h/dlmeta?X=1")


def test_resolve_in_batches_asks_again_for_what_the_server_left_out(server, tmp_path) -> None:
    base, calls = server
    ids = [f"ivo://test/spec?{i:03d}" for i in range(120)] + ["ivo://test/spec?nope"]
    opts = FetchOptions(cache_dir=str(tmp_path), concurrency=2)
    links = resolve_datalinks([_dl(base, i) for i in ids], opts, band=(6500.0, 6600.0))
    assert len(links) == len(ids)
    # 121 ids, at most 40 answered per request: 4 requests at least, fewer than one per id
    assert 4 <= calls["dlmeta"] <= 8
    for ident, link in zip(ids[:100], links[:100]):
        assert link.id == ident
        assert link.this_url.endswith(quote(ident, safe="") + ".csv")
        parts = parse_qs(urlsplit(link.soda_url).query)
        assert parts["ID"] == [ident]
        lo, hi = (float(v) for v in parts["BAND"][0].split())
        assert lo == pytest.approx(6.5e-7) and hi == pytest.approx(6.6e-7)
    for link in links[100:120]:
        assert link.soda_url is None and link.this_url  # no SODA offered: whole file
    assert isinstance(links[-1], FetchError)
    assert "NotFoundFault" in links[-1].reason
    # cached: a second resolution sends nothing
    before = calls["dlmeta"]
    again = resolve_datalinks([_dl(base, i) for i in ids], opts, band=(6500.0, 6600.0))
    assert calls["dlmeta"] == before
    assert [getattr(x, "soda_url", None) for x in again] == [
        getattr(x, "soda_url", None) for x in links
    ]


def test_fetch_spectra_server_cutout_local_and_errors(server, tmp_path) -> None:
    base, calls = server
    ids = ["ivo://test/spec?001", "ivo://test/spec?105", "ivo://test/spec?nope"]
    urls = [_dl(base, i) for i in ids]
    band = (6500.25, 6599.75)
    opts = FetchOptions(cache_dir=str(tmp_path / "a"))
    got = fetch_spectra(urls, ["", "", ""], opts, band=band)
    cut = read_spectrum(got[0], name="cut.csv")
    whole = read_spectrum(got[1], name="whole.csv")
    wl = cut.wavelength.to_value("Angstrom")
    assert wl.min() >= band[0] and wl.max() <= band[1]
    assert len(cut.wavelength) == 199
    assert len(whole.wavelength) == WAVE.size  # no SODA for this one: the whole file
    assert isinstance(got[2], FetchError) and "NotFoundFault" in got[2].reason
    assert calls["dlget"] == 1
    local = fetch_spectra(urls[:1], [""], FetchOptions(cutout="local"), band=band)
    assert len(read_spectrum(local[0], name="x.csv").wavelength) == WAVE.size
    assert calls["dlget"] == 1


def test_cutout_none_uses_the_access_url(server) -> None:
    base, calls = server
    ident = "ivo://test/spec?002"
    acc = f"{base}/files/{quote(ident, safe='')}.csv"
    got = fetch_spectra([_dl(base, ident)], [acc], FetchOptions(cutout="none"))
    assert len(read_spectrum(got[0], name="x.csv").wavelength) == WAVE.size
    assert "dlmeta" not in calls


def test_bad_datalink_answer_is_a_reason_per_spectrum(server) -> None:
    base, _ = server
    urls = [f"{base}/broken/dlmeta?ID=a", f"{base}/broken/dlmeta?ID=b", "http://x/dl?nothing=1"]
    got = resolve_datalinks(urls, FetchOptions(retries=0))
    assert [type(g) for g in got] == [FetchError] * 3
    assert "bad DataLink VOTable" in got[0].reason and "bad DataLink VOTable" in got[1].reason
    assert "ID parameter" in got[2].reason


def test_server_errors_are_transient_so_a_rerun_retries_them(server) -> None:
    base, calls = server
    got = resolve_datalinks([f"{base}/down/dlmeta?ID=a"], FetchOptions(retries=1, backoff=0))
    assert got[0].reason.startswith("DataLink: HTTP 503") and got[0].transient
    assert calls["down"] == 2
    notfound = resolve_datalinks([_dl(base, "ivo://test/spec?nope")])
    assert not notfound[0].transient

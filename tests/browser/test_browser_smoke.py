"""The browser tier works: a page from a loopback HTTP server, clicked in headless Chromium."""

from __future__ import annotations

import functools
import struct
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

PAGE = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>vocloud browser smoke</title>
<link rel="icon" href="data:,"></head>
<body>
<button id="go">Go</button>
<div id="out">waiting</div>
<script>
document.getElementById("go").addEventListener("click", () => {
  document.getElementById("out").textContent = "clicked " + (6 * 7);
});
</script>
</body>
</html>
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def site(tmp_path):
    """A ThreadingHTTPServer on 127.0.0.1 (a free port) serving index.html; yields its URL."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(PAGE)
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_click_changes_text_and_screenshot(page, site, tmp_path):
    response = page.goto(site)
    assert response is not None and response.ok
    assert page.title() == "vocloud browser smoke"
    out = page.locator("#out")
    assert out.text_content() == "waiting"

    page.click("#go")
    page.wait_for_function("document.getElementById('out').textContent !== 'waiting'")
    assert out.text_content() == "clicked 42"
    assert page.console_errors == []

    shot = tmp_path / "smoke.png"
    page.screenshot(path=str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (1400, 900)
    assert len(data) > 1000

"""The browser tier: pages driven in a real headless Chromium through Playwright.

``scripts/browser/ensure.sh`` makes sure Debian's Chromium (``/usr/bin/chromium``) is installed
and renders a page headless, then writes ``browser.json`` (``{"chromium": PATH, "version": V}``)
into its state directory (``$VOCLOUD_BROWSER_STATE``, default ``/tmp/vocloud-browser``); when it
cannot, it writes the reason to ``skip-reason`` there. Playwright (``pip install playwright``, in
the test extra) drives that binary: no browser of Playwright's own is ever downloaded
(never ``playwright install``). Pages come from servers on loopback only: a request to any other
host is aborted (and shows up in ``console_errors``).

Every test in ``tests/browser`` is marked ``browser`` (by tests/conftest.py).

Fixtures
--------
``chromium_path`` (session): the Chromium binary from ``browser.json``; else a skip with the
    reason ensure.sh gave, or a FAILURE under ``CI=true``.
``browser`` (session): a Playwright ``Browser``, that Chromium headless with the flags that work
    on this closed network; Playwright gives it a new temporary profile (``--user-data-dir``),
    removed when it closes at the end of the session.
``console_errors`` (function): the list of what the page of the test logged as an error: console
    messages of type ``error`` and uncaught exceptions (``pageerror``), as strings.
``page`` (function): a new context (viewport 1400x900) and page per test, closed after it; its
    ``console_errors`` attribute is the same list, so ``assert page.console_errors == []``.
``serve_dashboard`` (session): ``serve_dashboard(experiment_dir, env=None)``, a context manager
    that starts ``vocloud dashboard DIR --port 0`` (a free loopback port) in a subprocess, gives
    the URL it prints once it serves, and stops it on exit. Its output goes to a log file, quoted
    when no URL comes within ``DASHBOARD_START`` seconds or the process ends first. Each test file
    wraps it in a ``dashboard`` fixture of the scope it needs::

        @pytest.fixture(scope="module")
        def dashboard(experiment, serve_dashboard):
            with serve_dashboard(experiment) as url:
                yield url
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tiers import require, tier_state, unavailable

STATE_DIR = Path(os.environ.get("VOCLOUD_BROWSER_STATE", "/tmp/vocloud-browser"))
# As scripts/browser/ensure.sh starts it. Without the background-networking flags Chromium keeps
# calling Google's hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Seconds `vocloud dashboard` may take to print its URL: imports and reading the experiment, on
# a box shared by several test runs.
DASHBOARD_START = 120.0
DASHBOARD_URL = re.compile(r"(http://\S+/som)")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = tier_state(
        STATE_DIR,
        "browser.json",
        "Chromium",
        "run `make test-browser`, or `bash scripts/browser/ensure.sh` (as root when Chromium is "
        "not installed)",
    )["chromium"]
    if not os.access(path, os.X_OK):
        unavailable("Chromium", f"{path} is gone: run `bash scripts/browser/ensure.sh`")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    playwright = require(
        "playwright.sync_api",
        "`pip install playwright` (it is in the test extra; never `playwright install`: the "
        "tier uses Debian's Chromium)",
    )
    pw = playwright.sync_playwright().start()
    try:
        # Without user_data_dir, launch() gives Chromium a new temporary --user-data-dir.
        b = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    except Exception:
        pw.stop()
        raise
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def console_errors() -> list[str]:
    return []


def _loopback_only(route):
    host = urlsplit(route.request.url).hostname or ""
    if route.request.url.startswith(("http:", "https:")) and host not in LOOPBACK:
        route.abort("blockedbyclient")
    else:
        route.continue_()


@pytest.fixture
def page(browser, console_errors):
    context = browser.new_context(viewport=VIEWPORT)
    context.route("**/*", _loopback_only)
    p = context.new_page()
    p.on(
        "console",
        lambda msg: (
            console_errors.append(f"console.error: {msg.text} ({msg.location})")
            if msg.type == "error"
            else None
        ),
    )
    p.on("pageerror", lambda exc: console_errors.append(f"uncaught: {exc}"))
    p.console_errors = console_errors
    yield p
    context.close()


@pytest.fixture(scope="session")
def serve_dashboard(
    tmp_path_factory,
) -> Callable[..., contextlib.AbstractContextManager[str]]:
    @contextlib.contextmanager
    def serve(experiment: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
        # A file, not a pipe: nothing reads the server's output once it serves, and a full pipe
        # would block it.
        log = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "vocloud.cli", "dashboard", str(experiment), "--port", "0"],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env=None if env is None else dict(env),
            )
        try:
            deadline = time.monotonic() + DASHBOARD_START
            while not (m := DASHBOARD_URL.search(log.read_text())):
                code = proc.poll()
                if code is not None or time.monotonic() > deadline:
                    why = f"exited with {code}" if code is not None else "still starting"
                    pytest.fail(
                        f"`vocloud dashboard {experiment}` printed no URL ({why} after "
                        f"{DASHBOARD_START:g} s at most): {log.read_text()!r}"
                    )
                time.sleep(0.05)
            yield m.group(1)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    return serve

"""Fetching from a VO archive: SODA cutouts through DataLink, vocloud vs a sequential pyvo loop.

Run (needs the local DaCHS of the VO tier: ``bash scripts/vo-server/ensure.sh`` as root):

    .venv/bin/python benchmarks/fetch.py [--rows 500] [--latency 0.1] [--resolve-rows 1000]

1. **Cutouts.** A :class:`vocloud.testing.FaultProxy` in front of DaCHS adds ``--latency``
   seconds to every request (a remote archive). The spectra list is a TAP query through the
   proxy (its DataLink service descriptor then points through the proxy too), ``--rows`` rows.
   Timed on the same rows, in the same run, each with a cold cache:

   - *pyvo loop*: what a user writes with pyvo alone: ``results.iter_datalinks()`` (pyvo's
     batched DataLink) and, for each row, ``get_first_proc().processed(band=...)`` read whole,
     one after the other;
   - *pyvo loop per row*: the loop of pyvo's documentation, ``row.getdatalink()`` (one DataLink
     request per row) then the cutout;
   - *vocloud fetch*: :func:`vocloud.fetch.datalink.fetch_spectra` with the default
     :class:`~vocloud.fetch.FetchOptions` (``concurrency=8``, ``cutout="server"``), in this
     process;
   - *vocloud experiment*: :meth:`vocloud.Experiment.run` of the same list on a LocalCluster of
     2 workers (the fetch inside the tasks, throttled per server across them, then
     preprocessing and the store): the whole pipeline.

   Every cutout is checked to parse as a spectrum inside the band.

2. **DataLink resolution** of ``--resolve-rows`` rows straight from DaCHS (no added latency):
   :func:`vocloud.fetch.datalink.resolve_datalinks` against pyvo's ``iter_datalinks``.

Prints Markdown for docs/performance.md. No asserts on time: the box is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import astropy.units as u
import pyvo

from vocloud.fetch import FetchOptions
from vocloud.fetch.datalink import fetch_spectra, resolve_datalinks
from vocloud.io import read_spectrum
from vocloud.sources.columns import spectra_frame
from vocloud.testing import FaultProxy

STATE = Path(os.environ.get("VOCLOUD_VO_STATE", "/tmp/vocloud-vo-server"))
PRE = {
    "continuum": {"method": "chebyshev", "degree": 3, "sigma": [3.0, 3.0], "iterations": 5},
    "cutout": {"center": 6562.8, "half_width": 60, "unit": "Angstrom"},
    "grid": {"start": 6510, "stop": 6615, "step": 0.25, "unit": "Angstrom"},
    "resample": "flux-conserving",
    "scale": "minmax-1-1",
}
BAND = (6442.8, 6682.8)  # what vocloud asks for with PRE: the cutout widened by its half width


def _server() -> dict:
    conf = STATE / "server.json"
    if not conf.is_file():
        raise SystemExit(f"no VO server ({conf} missing): run `bash scripts/vo-server/ensure.sh`")
    return json.loads(conf.read_text())


def _check(blobs: list, n: int) -> None:
    ok = 0
    for b in blobs:
        if isinstance(b, bytes | bytearray):
            s = read_spectrum(bytes(b), name="cutout")
            wl = s.wavelength.to_value("Angstrom")
            assert BAND[0] - 0.5 <= wl.min() and wl.max() <= BAND[1] + 0.5, (wl.min(), wl.max())
            ok += 1
    assert ok == n, f"only {ok} of {n} cutouts arrived"


def pyvo_loop(tap_url: str, query: str) -> tuple[float, list[bytes]]:
    t0 = time.perf_counter()
    res = pyvo.dal.TAPService(tap_url).run_sync(query)
    band = u.Quantity(BAND, u.AA)
    out = []
    for dl in res.iter_datalinks():
        stream = dl.get_first_proc().processed(band=band)
        out.append(stream.read())
    return time.perf_counter() - t0, out


def pyvo_row_loop(tap_url: str, query: str) -> tuple[float, list[bytes]]:
    """The loop of pyvo's documentation: per row, its DataLink document, then the cutout."""
    t0 = time.perf_counter()
    res = pyvo.dal.TAPService(tap_url).run_sync(query)
    band = u.Quantity(BAND, u.AA)
    out = []
    for row in res:
        stream = row.getdatalink().get_first_proc().processed(band=band)
        out.append(stream.read())
    return time.perf_counter() - t0, out


def vocloud_fetch(tap_url: str, query: str, cache: str) -> tuple[float, list]:
    t0 = time.perf_counter()
    res = pyvo.dal.TAPService(tap_url).run_sync(query)
    spectra = spectra_frame(res.votable, res.resultstable, where=tap_url)
    opts = FetchOptions(cache_dir=cache)
    out = fetch_spectra(
        spectra["datalink_url"].tolist(), spectra["access_url"].tolist(), opts, band=BAND
    )
    return time.perf_counter() - t0, out


def vocloud_experiment(tap_url: str, query: str, folder: str) -> tuple[float, int]:
    from distributed import Client, LocalCluster

    from vocloud import Experiment

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        exp = Experiment(
            {"tap": tap_url, "query": query}, PRE, name="fetch-bench", store=folder, block_size=100
        )
        t0 = time.perf_counter()
        ds = exp.run(client, progress=False, verbose=False)
        seconds = time.perf_counter() - t0
    return seconds, int((ds.status.values == 1).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--resolve-rows", type=int, default=1000)
    ap.add_argument("--skip-loop", action="store_true", help="skip the (slow) pyvo loop")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*Angstrom.*deprecated")
    conf = _server()
    base, table = conf["base_url"], conf["table"]
    query = f"SELECT TOP {args.rows} * FROM {table} ORDER BY ssa_pubDID"
    print(f"# benchmarks/fetch.py — {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}; DaCHS at {base}\n")

    print(f"## {args.rows} SODA cutouts, {args.latency * 1000:.0f} ms added per request\n")
    print(
        "| path | seconds | cutouts/s | requests seen by the proxy "
        "| vs batched pyvo loop | vs per-row pyvo loop |"
    )
    print("|---|---|---|---|---|---|")
    rows = []
    with FaultProxy(
        base, latency=args.latency, aliases=[base.replace("localhost", "127.0.0.1")]
    ) as p:
        tap = p.url.rstrip("/") + "/tap"
        loop_s = None
        if not args.skip_loop:
            p.reset()
            loop_s, blobs = pyvo_loop(tap, query)
            _check(blobs, args.rows)
            rows.append(("pyvo loop (iter_datalinks + processed)", loop_s, p.stats().requests))
            p.reset()
            s, blobs = pyvo_row_loop(tap, query)
            _check(blobs, args.rows)
            rows.append(("pyvo loop per row (getdatalink + processed)", s, p.stats().requests))
        tmp = tempfile.mkdtemp(prefix="vocloud-fetch-bench-")
        try:
            p.reset()
            s, blobs = vocloud_fetch(tap, query, os.path.join(tmp, "cache"))
            _check(blobs, args.rows)
            rows.append(("vocloud fetch_spectra (concurrency 8)", s, p.stats().requests))
            p.reset()
            s, n_ok = vocloud_experiment(tap, query, os.path.join(tmp, "exp"))
            rows.append((f"vocloud Experiment.run, 2 workers ({n_ok} ok)", s, p.stats().requests))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    row_s = rows[1][1] if loop_s else None
    for name, s, req in rows:
        ratio = f"{loop_s / s:.1f}x" if loop_s else "-"
        ratio_row = f"{row_s / s:.1f}x" if row_s else "-"
        print(f"| {name} | {s:.1f} | {args.rows / s:.0f} | {req} | {ratio} | {ratio_row} |")

    # The server's own ceiling: the same cutouts straight from DaCHS (no proxy, no latency). A
    # single Python process makes every cutout, so no client can go faster than this.
    from vocloud.fetch import fetch_many

    res = pyvo.dal.TAPService(conf["tap_url"]).run_sync(query)
    spectra = spectra_frame(res.votable, res.resultstable, where="tap")
    links = resolve_datalinks(spectra["datalink_url"].tolist(), FetchOptions(), band=BAND)
    urls = [x.soda_url for x in links]
    print("\n## The server's ceiling: the same cutouts from DaCHS directly, no added latency\n")
    print("| concurrency | seconds | cutouts/s | best possible vs the pyvo loop |")
    print("|---|---|---|---|")
    for c in (1, 8):
        t0 = time.perf_counter()
        got = fetch_many(urls, FetchOptions(concurrency=c))
        s = time.perf_counter() - t0
        assert all(isinstance(g, bytes) for g in got)
        best = f"{loop_s / s:.1f}x" if loop_s else "-"
        print(f"| {c} | {s:.1f} | {len(urls) / s:.0f} | {best} |")

    print(f"\n## DataLink resolution of {args.resolve_rows} rows, no added latency\n")
    res = pyvo.dal.TAPService(conf["tap_url"]).run_sync(
        f"SELECT TOP {args.resolve_rows} * FROM {table} ORDER BY ssa_pubDID"
    )
    spectra = spectra_frame(res.votable, res.resultstable, where="tap")
    print("| path | seconds | rows/s |")
    print("|---|---|---|")
    for label, band in (("vocloud resolve_datalinks", None), ("... with SODA URLs", BAND)):
        t0 = time.perf_counter()
        links = resolve_datalinks(spectra["datalink_url"].tolist(), FetchOptions(), band=band)
        s = time.perf_counter() - t0
        assert not [x for x in links if isinstance(x, Exception)]
        print(f"| {label} | {s:.2f} | {len(links) / s:.0f} |")
    t0 = time.perf_counter()
    n = sum(1 for _ in res.iter_datalinks())
    s = time.perf_counter() - t0
    print(f"| pyvo iter_datalinks | {s:.2f} | {n / s:.0f} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

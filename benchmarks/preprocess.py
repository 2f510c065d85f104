"""Preprocessing throughput: read + continuum + cutout + resample + rescale + Zarr write.

Issue #2 targets, on the 2-core machine: >= 5,000 spectra/s steady state over 100,000 LAMOST-like
spectra (3,909 px) on local disk, peak RSS <= 2 GB, a cache-hit rerun < 5 s; reported as a ratio
to, measured in the same run:

- the floor: read bytes + parse headers (``astropy.io.fits.Header.fromstring``) + ``np.frombuffer``
  of the same files, on the same number of processes;
- a plain baseline: ``astropy.io.fits.open`` + a per-spectrum numpy loop doing the same steps
  (``np.polynomial.chebyshev`` sigma-clipped fit, cutout, ``np.interp`` resampling, min-max), on
  the same number of processes (on a sample: it is ~30x slower).

``--weights`` measures instead what the store's ``weight`` costs (``preprocess: {weights: true}``,
issue #8): the same end-to-end run on the same files with and without it, alternated
(``--repeats`` pairs) from fresh stores, with the size of each store on disk.

Usage::

    python benchmarks/preprocess.py [--n 100000] [--data benchmarks/data] [--workers 2]
    python benchmarks/preprocess.py --weights --n 20000 [--repeats 2]

Prints a Markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import yaml

from vocloud.demo import DEMO_EXPERIMENT

#: The VO-CLOUD H-alpha parameters of issue #2 (the demo experiment's `preprocess:`).
HALPHA = yaml.safe_load(DEMO_EXPERIMENT)["preprocess"]
BLOCK = 2880


class PeakRSS:
    """Samples the summed RSS of this process and all its children every 50 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> PeakRSS:
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def _floor_worker(paths: list[str]) -> int:
    """Read bytes + parse every header + frombuffer the data: the per-file floor."""
    from astropy.io.fits import Header

    n = 0
    for p in paths:
        with open(p, "rb") as f:
            raw = f.read()
        end = raw.find(b"END" + b" " * 77)
        hlen = (end // 80 + 1) * 80
        hlen = -(-hlen // BLOCK) * BLOCK
        hdr = Header.fromstring(raw[:hlen].decode("ascii"))
        size = abs(hdr["BITPIX"]) // 8
        for k in range(1, hdr["NAXIS"] + 1):
            size *= hdr[f"NAXIS{k}"]
        data = np.frombuffer(raw, dtype=">f4", count=size // 4, offset=hlen)
        n += data.size > 0
    return n


def _baseline_worker(paths: list[str]) -> int:
    """astropy.io.fits.open + a per-spectrum numpy loop of the same preprocessing steps."""
    from astropy.io import fits
    from numpy.polynomial import chebyshev as C

    grid = np.arange(6420.0, 6710.0 + 0.125, 0.25)
    n = 0
    for p in paths:
        with fits.open(p, memmap=False) as h:
            data = h[0].data.astype(np.float64)
        flux, ivar, wave = data[0], data[1], data[2]
        good = np.isfinite(flux) & (ivar > 0)
        x = 2 * (wave - wave[0]) / (wave[-1] - wave[0]) - 1
        keep = good.copy()
        for _ in range(5):
            coef = C.chebfit(x[keep], flux[keep], 5)
            resid = flux - C.chebval(x, coef)
            s = resid[keep].std()
            keep = good & (resid > -3 * s) & (resid < 3 * s)
        norm = flux / C.chebval(x, coef)
        sel = (wave >= 6562.8 - 150) & (wave <= 6562.8 + 150) & good
        if sel.sum() < 2:  # a spectrum with a dead cutout: recorded as failed
            continue
        out = np.interp(grid, wave[sel], norm[sel])
        lo, hi = out.min(), out.max()
        out = 2 * (out - lo) / (hi - lo) - 1
        n += np.isfinite(out).all()
    return n


def _parallel_rate(fn, paths: list[str], workers: int) -> tuple[float, float]:
    parts = [paths[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers) as ex:
        list(ex.map(fn, [p[:50] for p in parts]))  # warm the workers (imports)
        t0 = time.perf_counter()
        list(ex.map(fn, parts))
        dt_ = time.perf_counter() - t0
    return len(paths) / dt_, dt_


def _steady_rate(ts_data: list[dict], block: int) -> float:
    """Spectra/s after each worker's first chunk task (imports, caches) until the last ends."""
    chunks = sorted(
        (
            min(s["start"] for s in r["startstops"] if s["action"] == "compute"),
            max(s["stop"] for s in r["startstops"] if s["action"] == "compute"),
            r["worker"],
        )
        for r in ts_data
        if str(r["key"]).startswith("vocloud-chunk")
    )
    first_stop: dict[str, float] = {}
    for _start, stop, worker in chunks:
        first_stop.setdefault(worker, stop)
    t_begin = max(first_stop.values())
    steady = [c for c in chunks if c[0] >= t_begin - 1e-3]
    span = max(c[1] for c in chunks) - t_begin
    return len(steady) * block / span if span > 0 else float("nan")  # nan: too few chunks


def _timed_run(exp, args) -> dict:
    """One run of ``exp`` on a new LocalCluster: seconds, overall and steady rates, peak RSS."""
    from distributed import get_task_stream

    from vocloud.run.cluster import get_client

    with (
        PeakRSS() as rss,
        get_client(
            n_workers=args.workers,
            threads_per_worker=args.threads,
            dashboard_address=None,
            quiet=True,
        ) as client,
    ):
        client.run(lambda: None)
        with get_task_stream(client) as ts:
            t0 = time.perf_counter()
            ds = exp.run(client, progress=False, verbose=False)
            t_run = time.perf_counter() - t0
    return {
        "seconds": t_run,
        "steady": _steady_rate(ts.data, args.block),
        "peak_rss": rss.peak,
        "n_ok": int((ds.status == 1).sum()),
        "ds": ds,
    }


def _store_bytes(path: Path, name: str) -> int:
    return sum(f.stat().st_size for f in (path / name).rglob("*") if f.is_file())


def weights_cost(args, info, paths, warm) -> None:
    """The same run with and without the store's weight, alternated, each from a fresh store."""
    from vocloud import Experiment

    exp_root = Path(args.data) / "experiments"
    rows = []
    for rep in range(args.repeats):
        for weights in (False, True):
            shutil.rmtree(exp_root / "bench-weights", ignore_errors=True)
            exp = Experiment(
                {"directory": str(info.path), "pattern": "**/*.fits"},
                {**HALPHA, "weights": weights},
                name="bench-weights",
                store=exp_root,
                block_size=args.block,
            )
            if args.limit:
                exp.spectra = exp.spectra.iloc[: len(paths)]
            warm()
            r = _timed_run(exp, args)
            store = exp.store_path
            r["features_mb"] = _store_bytes(store, "features") / 1e6
            r["weight_mb"] = _store_bytes(store, "weight") / 1e6 if weights else 0.0
            r["store_mb"] = _store_bytes(store.parent, store.name) / 1e6
            if weights:
                w = r["ds"].weight.values
                r["weight_finite"] = float(np.isfinite(w[r["ds"].status.values == 1]).mean())
            del r["ds"]
            r.update(weights=weights, repeat=rep)
            rows.append(r)
            print(
                f"weights={weights}: {r['seconds']:.1f} s, {len(paths) / r['seconds']:,.0f} "
                f"spectra/s overall, {r['steady']:,.0f} steady, store {r['store_mb']:.0f} MB "
                f"(weight {r['weight_mb']:.0f} MB), peak RSS {r['peak_rss'] / 2**30:.2f} GB",
                flush=True,
            )
    shutil.rmtree(exp_root / "bench-weights", ignore_errors=True)
    print("\n| run | weights | seconds | spectra/s overall | steady | store MB | peak RSS |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['repeat'] + 1} | {'on' if r['weights'] else 'off'} | {r['seconds']:.1f} | "
            f"{len(paths) / r['seconds']:,.0f} | {r['steady']:,.0f} | {r['store_mb']:.0f} | "
            f"{r['peak_rss'] / 2**30:.2f} GB |"
        )
    print(
        json.dumps(
            {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"),
                "n": len(paths),
                "rows": rows,
            },
            indent=2,
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--data", default=str(Path(__file__).parent / "data"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--block", type=int, default=1000)
    ap.add_argument("--baseline-n", type=int, default=4000)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N files (quick runs)")
    ap.add_argument("--threads", type=int, default=1, help="threads per worker")
    ap.add_argument(
        "--weights", action="store_true", help="measure the store's weight: runs with and without"
    )
    ap.add_argument("--repeats", type=int, default=2, help="--weights: pairs of runs")
    args = ap.parse_args()

    from vocloud import Experiment
    from vocloud.datasets import make_archive

    data = Path(args.data)
    t0 = time.perf_counter()
    info = make_archive(
        data / f"lamost-{args.n}", args.n, layouts="lamost-dr7", seed=1, n_jobs=args.workers
    )
    t_gen = time.perf_counter() - t0
    paths = [str(info.path / p) for p in info.index["path"]]
    print(f"archive: {info.n_spectra} files ready in {t_gen:.1f} s", flush=True)

    if args.limit:
        paths = paths[: args.limit]

    def warm() -> None:
        # The same start for every measurement: all files read once just before it (the page cache
        # of this VM is reclaimed in the background, so files read minutes ago may be on disk again)
        for p in paths:
            with open(p, "rb") as f:
                f.read()

    if args.weights:
        weights_cost(args, info, paths, warm)
        return

    warm()
    floor_rate, _ = _parallel_rate(_floor_worker, paths, args.workers)
    print(f"floor (read + parse headers + frombuffer): {floor_rate:,.0f} files/s", flush=True)
    rng = np.random.default_rng(0)
    sample = sorted(rng.choice(paths, size=min(args.baseline_n, len(paths)), replace=False))
    warm()
    base_rate, _ = _parallel_rate(_baseline_worker, list(sample), args.workers)
    print(f"plain baseline (fits.open + numpy loop): {base_rate:,.0f} spectra/s", flush=True)

    exp_root = data / "experiments"
    shutil.rmtree(exp_root / "bench", ignore_errors=True)

    def make_exp() -> Experiment:
        e = Experiment(
            {"directory": str(info.path), "pattern": "**/*.fits"},
            HALPHA,
            name="bench",
            store=exp_root,
            block_size=args.block,
        )
        if args.limit:
            e.spectra = e.spectra.iloc[: len(paths)]
        return e

    exp = make_exp()
    warm()
    run = _timed_run(exp, args)
    t_run, steady_rate, n_ok = run["seconds"], run["steady"], run["n_ok"]
    rate = len(paths) / t_run
    print(
        f"vocloud run: {t_run:.1f} s, {rate:,.0f} spectra/s, ok {n_ok}/{len(paths)}, "
        f"peak RSS {run['peak_rss'] / 2**30:.2f} GB",
        flush=True,
    )

    t0 = time.perf_counter()
    exp2 = make_exp()
    exp2.run(progress=False, verbose=False)
    t_cache = time.perf_counter() - t0
    assert exp2.last_run["cached"]
    print(f"cache-hit rerun (list {len(paths)} files, hash, open store): {t_cache:.2f} s")

    result = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GB, Python {platform.python_version()}",
        "n": len(paths),
        "workers": args.workers,
        "block": args.block,
        "floor_files_per_s": round(floor_rate),
        "baseline_spectra_per_s": round(base_rate),
        "vocloud_spectra_per_s_overall": round(rate),
        "vocloud_spectra_per_s_steady": round(steady_rate),
        "vocloud_seconds": round(t_run, 1),
        "steady_ratio_to_floor": round(steady_rate / floor_rate, 3),
        "steady_ratio_to_baseline": round(steady_rate / base_rate, 1),
        "peak_rss_gb": round(run["peak_rss"] / 2**30, 2),
        "cache_hit_seconds": round(t_cache, 2),
        "n_ok": n_ok,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

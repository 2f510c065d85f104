"""Preprocessing on SLURM batch jobs (dask-jobqueue) against vocloud's LocalCluster, same run.

Needs the local SLURM of the HPC tier (``bash scripts/slurm/ensure.sh`` as root). Both clusters
get the same cores (``--jobs`` one-core jobs / ``--jobs`` one-thread worker processes) and the
same archive (IRAF-style 1-D FITS, made once under a temporary folder); each run starts cold
(new store, new cluster), so the figures include starting the workers:

- *LocalCluster*: ``Experiment.run()`` with vocloud's default LocalCluster;
- *SLURM*: the same with ``run.batch: {slurm: {jobs, cores: 1, ...}}``; also timed: from asking
  for the jobs to all workers connected.

Usage::

    python benchmarks/batch.py [--n 20000] [--jobs 2] [--repeat 2]

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
from pathlib import Path

from vocloud import Experiment
from vocloud.datasets import make_archive
from vocloud.run.cluster import get_client

STATE = Path(os.environ.get("VOCLOUD_SLURM_STATE", "/tmp/vocloud-slurm"))


def slurm_batch(jobs: int, logs: Path) -> dict:
    conf = STATE / "cluster.json"
    if not conf.is_file():
        raise SystemExit(f"no SLURM ({conf} missing): run `bash scripts/slurm/ensure.sh`")
    partition = json.loads(conf.read_text())["partition"]
    return {
        "slurm": {
            "jobs": jobs,
            "wait": 300,
            "cores": 1,
            "memory": "4GB",
            "walltime": "00:30:00",
            "queue": partition,
            "job_name": "vocloud-bench",
            "interface": "lo",
            "scheduler_options": {"dashboard_address": "127.0.0.1:0"},
            "worker_extra_args": ["--dashboard-address", "127.0.0.1:0"],
            "log_directory": str(logs),
        }
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vocloud-batch-bench-"))
    try:
        t0 = time.perf_counter()
        make_archive(tmp / "spectra", args.n, layouts="iraf-linear", seed=1, n_jobs=2)
        made = time.perf_counter() - t0
        source = {"directory": str(tmp / "spectra"), "pattern": "**/*.fits"}
        batch = slurm_batch(args.jobs, tmp / "logs")
        print(f"# benchmarks/batch.py — {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}")
        print(
            f"{args.n} IRAF-style spectra (made in {made:.0f} s), {args.jobs} workers x 1 thread; "
            f"load average before: {os.getloadavg()[0]:.2f}\n"
        )
        # workers connected: how long the batch system takes to give them
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            with get_client(batch=batch, quiet=True) as c:
                c.wait_for_workers(args.jobs * 1, timeout=300)
                up = time.perf_counter() - t0
            print(
                f"- SLURM: {args.jobs} jobs asked for -> {args.jobs} workers connected: {up:.1f} s"
            )
        print()
        print("| cluster | run | seconds (incl. start) | spectra/s | ok |")
        print("|---|---|---|---|---|")
        for r in range(args.repeat):
            for name, kw in (
                ("vocloud LocalCluster", {"cluster_kwargs": {"n_workers": args.jobs}}),
                (f"SLURM, {args.jobs} one-core jobs", {"batch": batch}),
            ):
                store = tmp / f"exp-{r}-{name.split()[0]}"
                cluster_kwargs = kw.get("cluster_kwargs")
                exp = Experiment(
                    source, name="bench", store=store, block_size=1000, batch=kw.get("batch")
                )
                t0 = time.perf_counter()
                ds = exp.run(progress=False, verbose=False, cluster_kwargs=cluster_kwargs)
                s = time.perf_counter() - t0
                ok = int((ds.status == 1).sum())
                print(f"| {name} | {r + 1} | {s:.1f} | {args.n / s:,.0f} | {ok} |")
                shutil.rmtree(store, ignore_errors=True)
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""What the store's lock costs a cache-hit rerun, and what finding a worker-killing spectrum costs.

- *Lock*: ``Experiment.run()`` of an experiment whose store exists (a cache hit: no cluster is
  started) with the lock, against the same run with the lock taken out (the baseline, patched
  here, not in vocloud), alternated, ``--repeat`` times each; and the lock alone
  (``StoreLock`` acquire + release on the same folder).
- *Bisection*: a run of ``--n`` IRAF spectra in chunks of ``--block`` with one spectrum that
  kills its worker (the sparse 12,000,000-pixel FITS of tests/cluster/test_poison.py, several GB
  to preprocess, workers of 700 MB),
  against a run of the good spectra alone (the baseline), on a 2-worker LocalCluster, with the
  scheduler's ``allowed-failures`` at 0 and at dask's default 3.

Usage::

    python benchmarks/store_lock.py [--n 256] [--block 32] [--repeat 20]

Prints Markdown for docs/performance.md. No asserts on time: the box is shared and noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dask
import yaml
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from vocloud import Experiment
from vocloud.datasets import make_archive
from vocloud.demo import DEMO_EXPERIMENT
from vocloud.store import StoreLock, open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "cluster"))
from test_poison import write_killer

HALPHA = yaml.safe_load(DEMO_EXPERIMENT)["preprocess"]


class _Deaths(SchedulerPlugin):
    """Counts the workers the scheduler loses (each a death: the nanny starts a new one)."""

    name = "count-deaths"

    def __init__(self) -> None:
        self.n = 0

    def remove_worker(self, scheduler, worker, **kwargs):
        self.n += 1


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:.1f} ms (min {min(values) * 1e3:.1f})"


def bench_lock(root: Path, repeat: int) -> None:
    make_archive(root / "spectra", 2000, layouts="iraf-linear", seed=1, n_jobs=2)
    exp = Experiment(
        {"directory": str(root / "spectra"), "pattern": "**/*.fits"},
        HALPHA,
        name="lock",
        store=root / "experiments",
        block_size=500,
    )
    exp.run(cluster_kwargs={"n_workers": 2, "dashboard_address": None}, progress=False)

    @contextlib.contextmanager
    def no_lock(self, key, wait, say):  # the baseline: the run without its lock
        yield

    with_lock: list[float] = []
    without: list[float] = []
    locked = Experiment._locked
    for _ in range(repeat):
        for patched, out in ((False, with_lock), (True, without)):
            Experiment._locked = no_lock if patched else locked  # type: ignore[method-assign]
            again = Experiment(
                {"directory": str(root / "spectra"), "pattern": "**/*.fits"},
                HALPHA,
                name="lock",
                store=root / "experiments",
                block_size=500,
            )
            t = time.perf_counter()
            again.run(progress=False, verbose=False)
            out.append(time.perf_counter() - t)
            assert again.last_run["cached"]
    Experiment._locked = locked  # type: ignore[method-assign]
    alone = []
    for _ in range(repeat * 5):
        t = time.perf_counter()
        with StoreLock(root / "experiments" / "lock" / "x.lock"):
            pass
        alone.append(time.perf_counter() - t)
    print("| cache-hit rerun, 2,000 spectra | median |")
    print("|---|---|")
    print(f"| with the store's lock | {_ms(with_lock)} |")
    print(f"| without it (baseline) | {_ms(without)} |")
    print(f"| StoreLock acquire + release alone | {_ms(alone)} |")


def bench_bisection(root: Path, n: int, block: int) -> None:
    make_archive(root / "spectra", n, layouts="iraf-linear", seed=2, n_jobs=2)
    (root / "spectra" / "poison").mkdir()
    write_killer(root / "spectra" / "poison" / "killer.fits")
    print(
        f"\n| {n} spectra, chunks of {block}, 2 workers of 700 MB | seconds | worker deaths "
        "| the killer recorded as |"
    )
    print("|---|---|---|---|")
    for failures in (0, 3):
        for name, pattern in (
            ("good spectra alone", "iraf-linear/**/*.fits"),
            ("+ 1 killer", "**/*.fits"),
        ):
            with (
                dask.config.set(
                    {
                        "distributed.scheduler.allowed-failures": failures,
                        "distributed.worker.memory.pause": False,  # as in test_poison.py
                    }
                ),
                LocalCluster(
                    n_workers=2,
                    threads_per_worker=1,
                    memory_limit="700MB",
                    dashboard_address=None,
                    host="127.0.0.1",
                ) as cluster,
                Client(cluster) as client,
            ):
                exp = Experiment(
                    {"directory": str(root / "spectra"), "pattern": pattern},
                    HALPHA,
                    name=f"bisect-{failures}-{len(pattern)}",
                    store=root / "experiments",
                    block_size=block,
                )
                _ = exp.spectra
                deaths = _Deaths()
                cluster.scheduler.add_plugin(deaths)
                t = time.perf_counter()
                exp.run(client, progress=False, verbose=False)
                dt = time.perf_counter() - t
                deaths = deaths.n
                ds = open_store(exp.store_path)
                killer = [
                    e for p, e in zip(ds.path.values, ds.error.values) if p.endswith("killer.fits")
                ]
                print(
                    f"| allowed-failures {failures}: {name} | {dt:.1f} | "
                    f"{deaths if deaths else '-'} | {killer[0][:40] if killer else '-'} |"
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--block", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    print(f"machine: {platform.node()}, {platform.processor() or platform.machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        bench_lock(Path(tmp) / "lock", args.repeat)
        bench_bisection(Path(tmp) / "bisect", args.n, args.block)


if __name__ == "__main__":
    main()

"""The SOM dashboard on a large experiment: opening it, and the answer to a click.

Makes an experiment of ``--n`` IRAF-style spectra (preprocessing, a PCA, a 20x20 hexagonal SOM
and a random forest; made once under ``--data``, reused after), then times, in this process, what the
Bokeh server does for one browser session:

- *open*: :class:`vocloud.viz.SomMapData` (the per-spectrum arrays) and the whole document;
- *click*: the server callback of a tap, for the fullest neuron, a median one and eight at once
  (reading the drawn spectra from the Zarr store, the table of all members);
- the session's memory (RSS growth of this process).

For scale, a static page holding every spectrum (what a server-less dashboard would embed) is
``n x wavelengths x 4`` bytes before any encoding.

Usage::

    python benchmarks/dashboard.py [--n 100000] [--data benchmarks/data/dashboard] [--no-forest]

Prints Markdown for docs/performance.md. No asserts on time: the box is shared and noisy.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
from pathlib import Path

import numpy as np
import psutil

from vocloud import Experiment
from vocloud.datasets import make_archive


def build(n: int, root: Path, forest: bool = True) -> Path:
    spectra = root / "spectra"
    if not (spectra / "labels.csv").exists():
        t0 = time.perf_counter()
        make_archive(spectra, n, layouts="iraf-linear", seed=5, n_jobs=2, label_fraction=0.05)
        print(f"- archive of {n:,} spectra made in {time.perf_counter() - t0:.0f} s")
    exp = Experiment(
        {"directory": str(spectra), "pattern": "**/*.fits"},
        name="dashboard",
        store=root / "experiments",
        steps=[
            {"method": "pca", "params": {"n_components": 10}},
            {"method": "som", "params": {"shape": [20, 20], "topology": "hexagonal", "epochs": 10}},
        ]
        + (
            [{"method": "random-forest", "params": {"labels": str(spectra / "labels.csv")}}]
            if forest
            else []
        ),
    )
    t0 = time.perf_counter()
    exp.run(progress=False, verbose=False)
    print(f"- experiment ready (its steps: {len(exp.steps)}) in {time.perf_counter() - t0:.0f} s")
    return exp.directory


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--data", default="benchmarks/data/dashboard")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--no-forest", action="store_true", help="no random-forest step (its training is long)"
    )
    args = ap.parse_args()
    root = Path(args.data) / str(args.n)
    print(f"# benchmarks/dashboard.py — {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}\n")
    exp_dir = build(args.n, root, forest=not args.no_forest)

    from bokeh.document import Document

    from vocloud.viz import SomMapData, som_document

    me = psutil.Process()
    gc.collect()
    rss0 = me.memory_info().rss
    t0 = time.perf_counter()
    data = SomMapData(exp_dir)
    t_data = time.perf_counter() - t0
    t0 = time.perf_counter()
    doc = Document()
    som_document(doc, exp_dir)
    t_doc = time.perf_counter() - t0
    rss = me.memory_info().rss - rss0
    n_wl = data.wavelength.size
    print(
        f"\n{data.ids.size:,} spectra x {n_wl} wavelengths; SOM {data.shape[0]}x{data.shape[1]}; "
        f"load average {os.getloadavg()[0]:.2f}\n"
    )
    print("| what | seconds | note |")
    print("|---|---|---|")
    print(f"| SomMapData (per-spectrum arrays) | {t_data:.2f} | |")
    print(
        f"| whole document (incl. SomMapData) | {t_doc:.2f} | session RSS +{rss / 2**20:.0f} MiB |"
    )
    src = doc.get_model_by_name("neurons")
    hits = data.neurons["hits"]
    order = np.argsort(hits)
    cases = {
        f"click: fullest neuron ({hits[order[-1]]:,} spectra)": [int(order[-1])],
        f"click: median neuron ({hits[order[len(order) // 2]]:,} spectra)": [
            int(order[len(order) // 2])
        ],
        f"click: 8 neurons ({hits[order[-8:]].sum():,} spectra)": [int(i) for i in order[-8:]],
    }
    for name, picked in cases.items():
        times = []
        for _ in range(args.repeat):
            src.selected.indices = []
            t0 = time.perf_counter()
            src.selected.indices = picked
            times.append(time.perf_counter() - t0)
        drawn = len(doc.get_model_by_name("member_spectra").data["ys"])
        print(f"| {name} | {min(times):.3f} (best of {args.repeat}) | {drawn} drawn |")
    pts = doc.get_model_by_name("pca_points")
    if pts is not None:
        n_pts = len(pts.data["row"])
        sel = {"PCA: select 1,000 points": 1000, f"PCA: select all {n_pts:,} points": n_pts}
        for name, k in sel.items():
            times = []
            for _ in range(args.repeat):
                pts.selected.indices = []
                t0 = time.perf_counter()
                pts.selected.indices = list(range(k))
                times.append(time.perf_counter() - t0)
            drawn = len(doc.get_model_by_name("pca_spectra").data["ys"])
            print(f"| {name} | {min(times):.3f} (best of {args.repeat}) | {drawn} drawn |")
    print(
        f"\nA page embedding every spectrum would carry {data.ids.size * n_wl * 4 / 2**20:,.0f} MiB "
        "of float32 before encoding."
    )


if __name__ == "__main__":
    main()

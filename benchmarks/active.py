"""One active-learning iteration over a big feature store: refit, rescore everything, pick a batch.

Run: ``.venv/bin/python benchmarks/active.py [--rows 1000000] [--labels 500] [--queries ...]``.

Store: the one of ``benchmarks/forest.py`` (built once by its ``build``, reused: 1,000-spectrum
chunks, ``rows x 1161`` float32, ~1 % failed rows, ``truth.npy``), under
``benchmarks/data/forest-<rows>/``. The experiment folder is that folder: ``--labels`` spectra
drawn at random among the ok rows (every class, ``double-peak`` included) are written as the
experiment's labels file, then for each query strategy one iteration is run as a user runs it:
``run_step(folder, store, "active-learning", {...})`` on vocloud's own LocalCluster
(:func:`vocloud.run.cluster.get_client`, 2 workers x 1 thread here) -- the labels file hashed, the
labelled rows read from the store, the model fitted, every stored spectrum scored (one task per
20,000 rows), the batch picked, the step store written (predicted class, probabilities, query
score and rank of every spectrum) and the iteration recorded. Each run uses new labels (one more
labelled spectrum), so none is a cached result. Baseline: the ``random-forest`` step on the same
labels (fit + predict + write, with ``cv_folds=2``), the step that existed before. Prints
Markdown. No timed asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from forest import DATA, STORE_NAME, build, cached_fraction  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--labels", type=int, default=500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--queries", default="uncertainty,diverse,random")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()

    from vocloud.ml.labelfile import experiment_labels
    from vocloud.run.cluster import get_client
    from vocloud.steps.runner import run_step

    folder = DATA / f"forest-{args.rows}"
    t0 = time.perf_counter()
    how = build(folder, args.rows, 4000, 5000)
    print(f"store {folder / STORE_NAME}: {how} ({time.perf_counter() - t0:.0f} s)\n")
    store = folder / STORE_NAME
    # results of an earlier run of this script would be cached results now: start afresh
    for old in (folder / "steps").glob("*-*.zarr*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    shutil.rmtree(folder / "active-learning", ignore_errors=True)
    truth = np.load(folder / "truth.npy")
    ids = np.array([f"spec-{i:07d}" for i in range(truth.size)])
    ok = np.flatnonzero(truth != "")
    rng = np.random.default_rng(3)
    print(
        f"{os.cpu_count()} cores; load before {os.getloadavg()[0]:.1f}; "
        f"{args.labels} labels; batch {args.batch}\n"
    )
    print(
        "| step | query | seconds (whole step) | fit | score every spectrum | pick batch | rest "
        "(labels, write, record) | spectra/s | cached before | load |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with get_client(quiet=True, dashboard_address=":0") as client:
        client.run(lambda: __import__("sklearn.ensemble"))
        runs = [("active-learning", q) for q in args.queries.split(",")]
        if not args.no_baseline:
            runs.append(("random-forest", ""))
        for i, (method, query) in enumerate(runs):
            lab = np.sort(rng.choice(ok, args.labels + i, replace=False))
            pd.DataFrame({"id": ids[lab], "label": truth[lab]}).to_csv(
                experiment_labels(folder), index=False
            )
            if method == "active-learning":
                params = {"query": query, "batch_size": args.batch}
            else:
                params = {"labels": str(experiment_labels(folder)), "cv_folds": 2}
            cached = cached_fraction(store)
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            res = run_step(folder, store, method, params)
            dt = time.perf_counter() - t0
            assert not res.cached
            sec = res.metrics.get("seconds", {})
            parts = [sec.get(k) for k in ("fit", "score", "select")]
            rest = dt - sum(p for p in parts if p is not None) if sec else None
            cells = [f"{p:.1f}" if p is not None else "" for p in [*parts, rest]]
            print(
                f"| {method} | {query} | {dt:.1f} | {' | '.join(cells)} | "
                f"{truth.size / dt:,.0f} | {cached if cached is None else f'{cached:.0%}'} | "
                f"{load:.1f} |"
            )
            if method == "active-learning":
                ds = res.open()
                rank = ds["query_rank"].values
                assert (rank > 0).sum() == args.batch
                pred = ds["predicted_class"].values.astype(str)
                held = (truth != "") & (truth != "outlier")
                held[lab] = False
                acc = float((pred[held] == truth[held]).mean())
                print(
                    f"|  | held-out accuracy {acc:.4f}, batch classes "
                    f"{dict(pd.Series(truth[rank > 0]).value_counts())} | | | | | | | | |"
                )


if __name__ == "__main__":
    main()

"""Learning curves of the active-learning loop for docs/active-learning.md.

Run: ``.venv/bin/python benchmarks/active_curves.py [--out docs/img]``.

The setting of tests/cluster/test_active_science.py: 4,000 synthetic LAMOST DR7 spectra (S/N
8-80), four classes in equal parts and ``double-peak`` at ~1 %, preprocessed by a real experiment
(vocloud's LocalCluster) with a 10 x 10 SOM; 1,000 spectra held out as the test set; from 20
labels, 20 asked per iteration, 15 iterations, seeds 0-2, every query strategy. Writes one CSV of
every curve, a PNG of the seed-mean held-out accuracy and rare-class recall, and prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

DATA = Path(__file__).parent / "data" / "active-curves"
RARE = "double-peak"
QUERIES = ("uncertainty", "margin", "entropy", "diverse", "outlier", "random")


def build() -> Path:
    from vocloud.datasets import make_archive
    from vocloud.demo import DEMO_EXPERIMENT
    from vocloud.run.experiment import Experiment

    weights = {
        "absorption": 1,
        "emission-in-absorption": 1,
        "single-peak": 1,
        "shell": 1,
        RARE: 0.04,
    }
    if not (DATA / "spectra" / "truth.csv").exists():
        make_archive(
            DATA / "spectra",
            4000,
            layouts="lamost-dr7",
            seed=5,
            snr=(8, 80),
            outlier_fraction=0.0,
            class_weights=weights,
            n_jobs=2,
        )
    spec = {
        "name": "al",
        "store": str(DATA / "experiments"),
        "source": {"directory": str(DATA / "spectra"), "pattern": "**/*.fits"},
        "preprocess": yaml.safe_load(DEMO_EXPERIMENT)["preprocess"],
        "run": {"block_size": 1000},
        "steps": [{"method": "som", "params": {"shape": [10, 10], "epochs": 10}}],
    }
    exp = Experiment.from_dict(spec)
    exp.run(
        cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": False},
        progress=False,
        verbose=False,
    )
    return exp.directory


def draw(curves: pd.DataFrame, png: Path, reference: float) -> None:
    """The seed-mean held-out accuracy and rare-class recall of every query strategy."""
    from vocloud.ml.oracle import plot_curve

    mean = {
        q: c.groupby("iteration").mean(numeric_only=True).reset_index()
        for q, c in curves.groupby("query", sort=False)
    }
    plot_curve(
        mean,
        png,
        reference=reference,
        title="mean of 3 seeds; 20 labels to start, 20 asked per iteration",
        columns=(
            ("holdout_accuracy", "accuracy on the 1,000 held-out spectra"),
            (f"recall:{RARE}", f"recall of the 1 % class {RARE} (pool)"),
        ),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).parents[1] / "docs" / "img"))
    args = ap.parse_args()
    from vocloud.ml.active import make_classifier
    from vocloud.ml.labels import load_labels
    from vocloud.ml.oracle import run_oracle
    from vocloud.run.experiment import open_experiment
    from vocloud.steps.runner import STEPS_FOLDER, open_step

    exp_dir = build()
    ds = open_experiment(exp_dir)
    X = np.asarray(ds["features"].values)
    ids = ds["id"].values.astype(str)
    oracle = load_labels(DATA / "spectra" / "truth.csv", label_column="class")
    y = oracle.reindex(ids).to_numpy().astype(str)
    info = json.loads((exp_dir / "experiment.json").read_text())
    (rec,) = [s for s in next(iter(info["steps"].values())) if s["method"] == "som"]
    som = open_step(exp_dir / STEPS_FOLDER / rec["store"])
    hold = np.random.default_rng(0).permutation(ids.size)[:1000]
    train = np.setdiff1d(np.arange(ids.size), hold)
    full = make_classifier(random_state=0).fit(X[train], y[train])
    pred = full.predict(X[hold])
    reference = float((pred == y[hold]).mean())
    rare_ref = float((pred[y[hold] == RARE] == RARE).mean())
    rows, mean = [], {}
    for q in QUERIES:
        runs = []
        for seed in (0, 1, 2):
            t0 = time.perf_counter()
            c = run_oracle(
                X,
                ids,
                oracle,
                start=20,
                batch=20,
                iterations=15,
                query=q,
                seed=seed,
                groups=som["som_neuron"].values,
                outlier_score=som["outlier_score"].values,
                holdout=ids[hold],
            )
            c.insert(0, "seed", seed)
            c.insert(0, "query", q)
            c["seconds"] = time.perf_counter() - t0
            runs.append(c)
        both = pd.concat(runs)
        rows.append(both)
        mean[q] = both.groupby("iteration").mean(numeric_only=True).reset_index()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pd.concat(rows).to_csv(out / "active-learning-curves.csv", index=False, float_format="%.4g")
    draw(pd.concat(rows), out / "active-learning-curves.png", reference)
    print(
        f"all 3,000 pool labels: held-out accuracy {reference:.3f}, {RARE} recall {rare_ref:.2f}\n"
    )
    print(
        "| query | labels | held-out accuracy | held-out macro F1 | {RARE} recall (pool) | first iteration with recall >= 0.8 (seeds 0, 1, 2) |".replace(
            "{RARE}", RARE
        )
    )
    print("|---|---|---|---|---|---|")
    for q in QUERIES:
        m = mean[q]
        both = pd.concat([r for r in rows if r["query"].iloc[0] == q])
        first = []
        for s in (0, 1, 2):
            rec_s = both[both["seed"] == s][f"recall:{RARE}"].to_numpy()
            hit = np.flatnonzero(rec_s >= 0.8)
            first.append(str(hit[0]) if hit.size else "-")
        for i in (0, 3, 6, 10, 15):
            r = m.iloc[i]
            print(
                f"| {q} | {int(r['n_labels'])} | {r['holdout_accuracy']:.3f} | "
                f"{r['holdout_f1_macro']:.3f} | {r[f'recall:{RARE}']:.2f} | {', '.join(first) if i == 15 else ''} |"
            )


if __name__ == "__main__":
    main()

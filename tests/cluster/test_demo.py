"""`vocloud demo` (what `make demo` runs), small: its archive, store, steps and printed figures."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from vocloud import open_experiment
from vocloud.run.experiment import summarize
from vocloud.steps.registry import brief_metrics

pytestmark = pytest.mark.cluster


def _demo(folder):
    """``vocloud demo`` as make runs it (its own LocalCluster), on 400 spectra."""
    res = subprocess.run(
        [sys.executable, "-m", "vocloud.cli", "demo", "--folder", str(folder), "-n", "400"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def _printed_summary(out: str) -> dict:
    start = out.index("{\n")
    return json.loads(out[start : out.index("\n}\n", start) + 2])


def test_demo_runs_and_reports_its_store(tmp_path) -> None:
    out = _demo(tmp_path)
    assert f"vocloud demo: archive of 400 spectra (+ broken examples) in {tmp_path}" in out
    exp_dir = tmp_path / "experiments" / "halpha"
    printed = _printed_summary(out)
    stored = summarize(exp_dir)
    assert printed == {k: stored[k] for k in printed}
    truth = pd.read_csv(tmp_path / "archive" / "truth.csv", keep_default_na=False)
    n_broken = len(list((tmp_path / "archive" / "broken").iterdir()))
    assert len(truth) == 400 and n_broken >= 10
    # the store: every spectrum and broken file, the normal ones preprocessed
    ds = open_experiment(exp_dir)
    (store,) = exp_dir.glob("features-*.zarr")
    assert printed["store"] == str(store)
    assert ds.sizes["spectrum"] == printed["n_spectra"] == 400 + n_broken
    status = pd.Series(ds.status.values, index=ds.id.values)
    normal = truth.loc[truth["class"] != "outlier", "id"]
    assert (status[normal] == 1).all()
    assert printed["n_ok"] == int((status == 1).sum()) >= len(normal)
    assert printed["n_failed"] == int((status == 2).sum()) == sum(printed["failures"].values())
    assert "duplicate id" in printed["failures"] and "empty file" in printed["failures"]
    feats = ds.features.values[ds.status.values == 1]
    assert np.isfinite(feats).all() and feats.min() == -1.0 and feats.max() == 1.0
    # its three steps, with the figures it printed
    steps = {s["method"]: s for s in stored["steps"]}
    assert list(steps) == ["pca", "som", "random-forest"]
    for name, step in steps.items():
        assert f"vocloud demo: {name} on features: {brief_metrics(step['metrics'])}\n" in out
    assert steps["pca"]["metrics"]["explained_variance_ratio_total"] > 0.9
    assert 0 <= steps["som"]["metrics"]["topographic_error"] <= 0.2
    assert steps["random-forest"]["metrics"]["oob_score"] >= 0.7
    assert f"vocloud info {exp_dir}" in out and f"vocloud dashboard {exp_dir}" in out
    # a second run: the same archive, and the store and the steps from the cache
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "archive").rglob("*") if p.is_file()}
    again = _demo(tmp_path)
    assert f"vocloud: cache hit, reusing {printed['store']}" in again
    for name in steps:
        assert f"vocloud: step {name} (cached)" in again
    assert _printed_summary(again) == printed
    assert {p: p.stat().st_mtime_ns for p in before} == before

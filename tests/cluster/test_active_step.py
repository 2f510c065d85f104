"""The active-learning step on a real experiment (LocalCluster), its records, and `vocloud learn`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from distributed import get_task_stream
from viz_experiment import som_experiment

from vocloud.ml.labelfile import compact_labels, experiment_labels, save_labels
from vocloud.ml.labels import labels_digest, load_labels
from vocloud.steps.active import iteration_records
from vocloud.viz import SomMapData
from vocloud.viz.label import LabelBatch


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("active")
    return root, som_experiment(root, n=600)


def test_step_iterates_and_records_each_iteration(experiment):
    root, exp = experiment
    truth = pd.read_csv(root / "spectra" / "truth.csv").set_index("id")["class"]
    first = truth.groupby(truth).head(4)  # 4 labels of each class
    save_labels(experiment_labels(exp.directory), first.to_dict())
    params = {"query": "diverse", "batch_size": 12, "model_params": {"n_estimators": 60}}
    res = exp.run_step("active-learning", **params)
    assert not res.cached and res.metrics["n_labels"] == len(first)
    ds = res.open()
    ids = exp.features().id.values.astype(str)
    ranks = ds["query_rank"].values
    batch = ids[np.argsort(ranks)][ranks[np.argsort(ranks)] > 0]
    assert sorted(ranks[ranks > 0].tolist()) == list(range(1, 13))
    assert not set(batch) & set(first.index)
    # per spectrum: class, probabilities summing to 1, the label given
    proba = ds["probability"].values
    ok = ~np.isnan(proba).any(axis=1)
    np.testing.assert_allclose(proba[ok].sum(axis=1), 1.0, rtol=1e-5)
    pred = ds["predicted_class"].values.astype(str)
    assert (pred[ok] == ds["class"].values[np.argmax(proba[ok], axis=1)]).all()
    assert (ds["label"].values.astype(str) != "").sum() == len(first)
    # diverse: the batch spread over SOM neurons (one each)
    neurons = exp.run_step("som", shape=[6, 7], topology="hexagonal", epochs=5).open()
    neurons = neurons["som_neuron"].values[ranks > 0]
    assert len(set(neurons.tolist())) == 12

    records = iteration_records(exp.directory)
    assert len(records) == 1
    rec = records[0]
    assert rec["iteration"] == 1 and len(rec["labels"]) == len(first)
    assert [b["id"] for b in rec["batch"]] == list(batch)
    assert rec["metrics"]["n_labels"] == len(first)

    # the same labels again: the cached result, no new iteration
    assert exp.run_step("active-learning", **params).cached
    assert len(iteration_records(exp.directory)) == 1
    # the oracle answers the batch (one unsure): the rerun is iteration 2, a different batch
    answers = {i: truth[i] for i in batch}
    answers[batch[0]] = "unsure"
    save_labels(experiment_labels(exp.directory), answers)
    res2 = exp.run_step("active-learning", **params)
    assert not res2.cached and res2.key != res.key
    assert res2.metrics["n_labels"] == len(first) + 11 and res2.metrics["n_unsure"] == 1
    ranks2 = res2.open()["query_rank"].values
    assert not ((ranks2 > 0) & (ranks > 0)).any()
    records = iteration_records(exp.directory)
    assert [r["iteration"] for r in records] == [1, 2]
    assert records[1]["labels"][batch[0]] == "unsure"
    # the labels file compacted and a label given again unchanged: the same labels, cached
    path = experiment_labels(exp.directory)
    assert records[1]["labels_sha256"] == labels_digest(load_labels(path))
    compact_labels(path)
    save_labels(path, {batch[1]: answers[batch[1]]})
    assert exp.run_step("active-learning", **params).key == res2.key
    assert len(iteration_records(exp.directory)) == 2


def test_methods_lists_active_learning():
    out = subprocess.run(
        [sys.executable, "-m", "vocloud.cli", "methods", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    methods = {m["method"]: m for m in json.loads(out.stdout)}
    assert methods["active-learning"]["params"]["query"] == "uncertainty"


def test_vocloud_learn_writes_curve_and_png(experiment, tmp_path):
    root, exp = experiment
    out = tmp_path / "curve.csv"
    cmd = [
        sys.executable,
        "-m",
        "vocloud.cli",
        "learn",
        str(exp.directory),
        "--oracle",
        str(root / "spectra" / "labels.csv"),  # names 30 % of the spectra
        "--label-column",
        "label",
        "--start",
        "20",
        "--batch",
        "20",
        "--iterations",
        "4",
        "--query",
        "margin",
        "--seed",
        "1",
        "--output",
        str(out),
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    curve = pd.read_csv(out)
    assert list(curve.columns) == ["iteration", "n_labels", "accuracy", "f1_macro"]
    assert curve["iteration"].tolist() == [0, 1, 2, 3, 4]
    # only the oracle's spectra count: a batch of 20 gives at most 20 labels, often fewer
    steps = np.diff(curve["n_labels"].to_numpy())
    assert curve["n_labels"].iloc[0] == 20 and (steps <= 20).all() and (steps >= 0).all()
    assert curve["accuracy"].between(0, 1).all() and curve["f1_macro"].between(0, 1).all()
    png = out.with_suffix(".png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    bad = subprocess.run(
        [*cmd[:7], "--label-column", "nope"], capture_output=True, text=True, check=False
    )
    assert bad.returncode != 0 and "no label column 'nope'" in bad.stderr


def test_dashboard_next_iteration_runs_on_the_given_scheduler(experiment, client):
    """`vocloud dashboard --scheduler`: the Label tab's next iteration is scored on that cluster."""
    root, exp = experiment
    exp.run_step("som", shape=[6, 7], topology="hexagonal", epochs=5)
    truth = pd.read_csv(root / "spectra" / "truth.csv").set_index("id")["class"]
    save_labels(experiment_labels(exp.directory), truth.groupby(truth).head(5).to_dict())
    exp.run_step("active-learning", query="uncertainty", batch_size=8)
    data = SomMapData(exp.directory)
    batch = LabelBatch(
        data._root, data._features_store, data.spectra, data.ids, scheduler=client.scheduler.address
    )
    before = len(iteration_records(exp.directory))
    asked = list(batch.ids)
    batch.label(asked, "unsure")  # the astronomer answers the batch
    with get_task_stream(client) as ts:
        res = batch.run_next()
    assert not res.cached
    assert len(iteration_records(exp.directory)) == before + 1
    # the scoring ran as tasks on the given cluster's workers, not in this process
    workers = set(client.scheduler_info()["workers"])
    ran = [t for t in ts.data if t.get("worker") in workers]
    assert ran, "no task of the next iteration ran on the given scheduler"
    batch.reload()
    assert not set(batch.ids) & set(asked)

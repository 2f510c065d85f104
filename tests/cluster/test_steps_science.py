"""PCA -> SOM -> random forest as steps of a whole experiment on a LocalCluster, with the science
checks of the method interface: forest accuracy, SOM purity, outlier recall; export and info."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from vocloud.demo import DEMO_EXPERIMENT
from vocloud.run.experiment import Experiment, summarize

HALPHA = yaml.safe_load(DEMO_EXPERIMENT)["preprocess"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    from vocloud.datasets import make_archive

    root = tmp_path_factory.mktemp("ml")
    info = make_archive(
        root / "spectra",
        3000,
        layouts="lamost-dr7",
        seed=21,
        outlier_fraction=0.03,
        label_fraction=0.15,
        n_jobs=2,
    )
    return root, info


def test_pca_som_forest_steps(archive, client):
    root, info = archive
    spec = {
        "name": "ml",
        "store": "./experiments",
        "source": {"directory": "./spectra", "pattern": "**/*.fits"},
        "preprocess": HALPHA,
        "run": {"block_size": 1000},
        "steps": [
            {"method": "pca", "params": {"n_components": 20}},
            {"method": "som", "params": {"shape": [12, 12], "epochs": 15}},
            {
                "method": "random-forest",
                "params": {"labels": "spectra/labels.csv", "n_estimators": 150},
            },
        ],
    }
    f = root / "ml.yaml"
    f.write_text(yaml.safe_dump(spec))
    exp = Experiment.from_file(f)
    exp.run(client, progress=False, verbose=False)
    info_json = summarize(exp.directory)
    steps = {s["method"]: s for s in info_json["steps"]}
    assert set(steps) == {"pca", "som", "random-forest"}
    assert steps["som"]["input"] == "features"
    # forest: held-out (cross-validated) accuracy on the labelled spectra
    assert steps["random-forest"]["metrics"]["cv_accuracy"] >= 0.9
    # export: one row per spectrum with every per-spectrum output
    from vocloud.interop.export import export_table

    df = export_table(exp.directory)
    assert len(df) == info.n_spectra
    for col in (
        "pca_score_0",
        "pca_score_19",
        "som_row",
        "som_col",
        "outlier_score",
        "predicted_class",
        "label",
    ):
        assert col in df.columns
    truth = info.truth().set_index("id")["class"]
    df["truth"] = truth.reindex(df["id"]).to_numpy()
    ok = df[df.status == 1]
    # SOM purity over non-outlier classes, weighted by hits
    normal = ok[ok.truth != "outlier"]
    purity = normal.groupby(["som_row", "som_col"])["truth"].agg(
        lambda s: s.value_counts().iloc[0]
    ).sum() / len(normal)
    assert purity >= 0.85, purity
    # injected outliers among the preprocessed spectra: recall within the top 5 % of scores
    top = ok.nlargest(int(0.05 * len(ok)), "outlier_score")
    recall = (top.truth == "outlier").sum() / max(1, (ok.truth == "outlier").sum())
    assert recall >= 0.8, recall
    # predicted classes of all spectra agree with the truth
    acc = (normal.predicted_class == normal.truth).mean()
    assert acc >= 0.9, acc
    # a SOM on the PCA scores (chaining), then a changed SOM parameter: only the SOM reruns,
    # PCA is reused and the preprocessing is untouched
    pca_key = steps["pca"]["key"]
    on_pca = exp.run_step("som", input="pca", shape=[10, 10], epochs=5)
    assert not on_pca.cached and on_pca.open().sizes["spectrum"] == info.n_spectra
    res = exp.run_step("som", input="pca", shape=[10, 10], epochs=6)
    assert not res.cached and res.key != on_pca.key
    again = exp.run_step("pca", n_components=20)
    assert again.cached and again.key == pca_key
    # vocloud export from the command line
    out = subprocess.run(
        [sys.executable, "-m", "vocloud.cli", "export", str(exp.directory), "--format", "votable"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    from astropy.io.votable import parse_single_table

    t = parse_single_table(str(exp.directory / "export.vot")).to_table()
    assert len(t) == info.n_spectra and "probability_shell" in t.colnames
    assert list(t["id"]) == df["id"].tolist()
    np.testing.assert_array_equal(np.asarray(t["som_row"]), df["som_row"].to_numpy())
    np.testing.assert_allclose(
        np.asarray(t["outlier_score"], float), df["outlier_score"].to_numpy(float), rtol=1e-6
    )
    # the summary counts the store, and is plain JSON (what `vocloud info --json` prints)
    assert json.loads(json.dumps(info_json)) == info_json
    assert info_json["n_spectra"] == info.n_spectra
    assert info_json["n_ok"] == len(ok) and info_json["n_ok"] >= (truth != "outlier").sum()
    # the forest's "label" column is the labels file's label of each labelled spectrum
    labels = info.labels().set_index("id")["label"]
    assert len(labels) >= 0.1 * info.n_spectra
    given = ok.set_index("id")["label"]
    labelled = given.index.intersection(labels.index)
    assert len(labelled) >= 0.9 * len(labels)
    assert (given[labelled] == labels[labelled]).all()
    assert (given.drop(labelled) == "").all()

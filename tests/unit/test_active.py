"""Active learning: query strategies, models, the batch, the labels file (no cluster)."""

from __future__ import annotations

import multiprocessing
import threading
import time

import dask.array as da
import numpy as np
import pandas as pd
import pytest

from vocloud.ml import labelfile
from vocloud.ml.active import (
    QUERY_STRATEGIES,
    UNSURE,
    ActiveLearner,
    make_classifier,
    query_scores,
    select_batch,
)
from vocloud.ml.labelfile import compact_labels, read_label_table, save_labels
from vocloud.ml.labels import labels_digest, load_labels
from vocloud.steps.active import ActiveLearningMethod
from vocloud.steps.runner import StepContext


def _blobs(n=600, seed=0):
    """Three Gaussian classes in 6-D; rows 0..n-1."""
    rng = np.random.default_rng(seed)
    y = rng.choice(np.array(["a", "b", "c"]), n)
    centre = {"a": 0.0, "b": 1.5, "c": 3.0}
    X = rng.normal(size=(n, 6)).astype("f4") + np.array([centre[v] for v in y], "f4")[:, None]
    return X, y


def test_scores_follow_their_definitions():
    p = np.array([[0.5, 0.3, 0.2], [0.34, 0.33, 0.33], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(query_scores(p, "uncertainty"), 1 - p.max(axis=1))
    np.testing.assert_allclose(query_scores(p, "margin"), [0.8, 0.99, 0.0, 1.0])
    ent = -np.array([sum(x * np.log(x) for x in row if x > 0) for row in p])
    np.testing.assert_allclose(query_scores(p, "entropy"), ent)
    # the most confident row is last under every strategy; the evenly split rows come first
    for s in ("uncertainty", "margin", "entropy"):
        assert np.argmin(query_scores(p, s)) == 2
    with pytest.raises(ValueError, match="no probability score for query 'random'"):
        query_scores(p, "random")


def test_select_batch_spreads_over_groups_and_skips_excluded():
    rng = np.random.default_rng(1)
    scores = rng.random(1000)
    groups = np.arange(1000) % 50
    batch = select_batch(scores, 64, groups=groups)
    # one spectrum of each of the 50 groups, each its group's best, before any second one
    assert len(set(groups[batch[:50]])) == 50
    for r in batch[:50]:
        assert scores[r] == scores[groups == groups[r]].max()
    assert len(batch) == 64 and len(set(batch)) == 64
    # without groups: the 64 best, best first
    plain = select_batch(scores, 64)
    np.testing.assert_array_equal(plain, np.argsort(-scores)[:64])
    cand = np.ones(1000, bool)
    cand[plain[:10]] = False
    scores[5] = np.nan
    assert not np.isin(select_batch(scores, 64, candidates=cand), np.r_[plain[:10], 5]).any()


@pytest.mark.parametrize("model", ["random-forest", "gradient-boosting", "mlp"])
def test_every_model_learns_and_scores_numpy_and_dask_alike(model):
    X, y = _blobs()
    X[7] = np.nan  # a failed spectrum: no prediction, never asked
    rows = np.arange(10, 80)
    learner = ActiveLearner(model=model, query="entropy", batch_size=16, random_state=3)
    it = learner.iterate(X, rows, y[rows])
    lazy = learner.iterate(da.from_array(X, chunks=(100, -1)), rows, y[rows])
    np.testing.assert_allclose(it.probability, lazy.probability, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(it.batch, lazy.batch)
    assert np.isnan(it.probability[7]).all() and it.predicted[7] == -1 and it.rank[7] == 0
    assert not np.isin(it.batch, rows).any() and 7 not in it.batch
    rest = np.setdiff1d(np.arange(len(y)), np.r_[rows, 7])
    assert (it.predicted_names()[rest] == y[rest]).mean() > 0.75
    # the batch is the 16 highest entropy scores among the unlabelled
    assert it.score[it.batch].min() >= np.sort(it.score[rest])[-16]


def test_any_sklearn_classifier_by_path_or_instance():
    from sklearn.linear_model import LogisticRegression

    X, y = _blobs(300)
    rows = np.arange(60)
    for model in ("sklearn.linear_model.LogisticRegression", LogisticRegression(C=0.5)):
        it = ActiveLearner(model=model, batch_size=5).iterate(X, rows, y[rows])
        assert type(it.model).__name__ == "LogisticRegression" and it.batch.size == 5
    with pytest.raises(ValueError, match="unknown model 'forest'"):
        make_classifier("forest")
    with pytest.raises(ValueError, match="does not import"):
        make_classifier("sklearn.nothing.Here")


def test_strategies_random_outlier_diverse_and_unsure():
    X, y = _blobs(500)
    rows = np.arange(30)
    labels = y[rows].astype(object)
    labels[:3] = UNSURE
    outlier = np.zeros(500)
    outlier[[100, 200, 300]] = [3.0, 2.0, 1.0]
    outlier[1] = 9.0  # labelled (unsure): never asked again
    batches = {}
    for q in QUERY_STRATEGIES:
        it = ActiveLearner(query=q, batch_size=10, random_state=0).iterate(
            X, rows, labels, outlier_score=outlier
        )
        assert it.batch.size == 10 and not np.isin(it.batch, rows).any(), q
        assert it.n_labels == 27
        batches[q] = it.batch
    assert batches["outlier"][:3].tolist() == [100, 200, 300]
    again = ActiveLearner(query="random", batch_size=10, random_state=0).iterate(X, rows, labels)
    np.testing.assert_array_equal(again.batch, batches["random"])
    # diverse without groups: k-means clusters of the uncertain pool, one pick per cluster
    feats = X[batches["diverse"]]
    d = np.linalg.norm(feats[:, None] - feats[None], axis=-1)[np.triu_indices(10, 1)]
    du = X[batches["uncertainty"]]
    du = np.linalg.norm(du[:, None] - du[None], axis=-1)[np.triu_indices(10, 1)]
    assert d.min() > du.min()
    with pytest.raises(ValueError, match="needs the SOM outlier score"):
        ActiveLearner(query="outlier").iterate(X, rows, labels)
    with pytest.raises(ValueError, match="at least 2 classes"):
        ActiveLearner().iterate(X, rows[:5], ["a"] * 5)


def _label_many(args):
    path, who, n = args
    for i in range(n):
        save_labels(path, {f"{who}-{i}": "shell"})
    return n


def test_labels_file_two_writers_lose_nothing(tmp_path):
    path = tmp_path / "labels.csv"
    save_labels(path, {"x": "absorption"}, time="2026-12-06T15:00:00+00:00")
    ctx = multiprocessing.get_context("spawn")
    t0 = time.perf_counter()
    with ctx.Pool(2) as pool:
        assert pool.map(_label_many, [(path, "p", 40), (path, "q", 40)]) == [40, 40]
    table = read_label_table(path)
    assert len(table) == 81 and set(table["id"]) >= {"x", "p-39", "q-39"}
    assert table.set_index("id").loc["x", "time"] == "2026-12-06T15:00:00+00:00"
    save_labels(path, {"x": "shell", "p-0": ""})  # a change of mind, a label taken back
    table = read_label_table(path).set_index("id")
    assert table.loc["x", "label"] == "shell" and "p-0" not in table.index
    assert table.loc["x", "time"] > "2026-12-06T15:00:00"
    assert not list(tmp_path.glob("*.tmp")), time.perf_counter() - t0
    with pytest.raises(ValueError, match="line break"):
        save_labels(path, {"y": "a\nb"})
    pd.read_csv(path)  # still a whole CSV file


def test_a_label_is_one_row_appended_whatever_the_file_holds(tmp_path):
    path = tmp_path / "labels.csv"
    big = {f"other/{i:06d}": "shell" for i in range(20_000)}
    save_labels(path, big, time="2026-12-06T15:00:00+00:00")
    before, inode = path.read_bytes(), path.stat().st_ino
    save_labels(path, {"s1": "absorption"}, time="2026-12-06T16:00:00+00:00")
    # the file is not rewritten: the same inode, its bytes kept, one row added
    assert path.stat().st_ino == inode
    assert path.read_bytes() == before + b"s1,absorption,2026-12-06T16:00:00+00:00\n"
    # the last word of an id wins: a change of mind, unsure, a label taken back (and given again)
    save_labels(path, {"s1": "shell", "s2": "emission", "s3": "x"})
    save_labels(path, {"s2": "unsure", "s3": ""})
    save_labels(path, {"other/000007": ""})
    table = read_label_table(path)
    assert len(table) == 20_000 - 1 + 2 and not table["id"].duplicated().any()
    labels = dict(zip(table["id"], table["label"]))
    assert labels["s1"] == "shell" and labels["s2"] == "unsure"
    assert "s3" not in labels and "other/000007" not in labels
    assert table["id"].tolist()[-2:] == ["s1", "s2"]  # in the order of their last change
    # load_labels (steps, vocloud learn) reads the log the same way, no "conflicting labels"
    loaded = load_labels(path)
    assert loaded.to_dict() == labels
    save_labels(path, {"s3": "x"})
    assert load_labels(path)["s3"] == "x"


def test_the_log_is_compacted_once_it_outgrows_the_labels(tmp_path, monkeypatch):
    monkeypatch.setattr(labelfile, "COMPACT_MIN_BYTES", 2_000)
    path = tmp_path / "labels.csv"
    save_labels(path, {f"s{i}": "a" for i in range(50)})
    whole = path.stat().st_size
    sizes, rows = [], []
    for k in range(200):  # the same 5 spectra relabelled again and again
        save_labels(path, {f"s{k % 5}": "ab"[k % 2]})
        sizes.append(path.stat().st_size)
        rows.append(len(path.read_text().splitlines()) - 1)
        # never much longer than its labels: the appended rows stay under max(whole, minimum)
        assert sizes[-1] <= 2 * max(whole, 2_000) + 200
        assert read_label_table(path)["label"].tolist()[-1] == "ab"[k % 2]
    assert min(rows) == 50 and rows.count(50) >= 2  # rewritten with one row per id, repeatedly
    expected = {f"s{i}": "a" for i in range(50)} | {
        f"s{k % 5}": "ab"[k % 2] for k in range(195, 200)
    }
    assert load_labels(path).to_dict() == expected
    assert not list(tmp_path.glob("*.tmp"))


def test_a_labels_file_written_by_hand_is_kept(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("id,label\ns1,shell\ns2,absorption")  # no time column, no last line end
    save_labels(path, {"s3": "shell"}, time="t1")
    table = read_label_table(path)
    assert table.values.tolist() == [
        ["s1", "shell", ""],
        ["s2", "absorption", ""],
        ["s3", "shell", "t1"],
    ]
    path.write_text("id,label,time,note\ns1,shell,t0,seen twice")  # an extra column
    save_labels(path, {"s2": "absorption"}, time="t2")
    assert path.read_text() == "id,label,time,note\ns1,shell,t0,seen twice\ns2,absorption,t2,\n"
    assert read_label_table(path)["id"].tolist() == ["s1", "s2"]
    # a table that is not a labels log keeps its check: one label per id
    other = tmp_path / "truth.csv"
    other.write_text("id,label\ns1,shell\ns1,absorption\n")
    with pytest.raises(ValueError, match="conflicting labels"):
        load_labels(other)


def test_a_reader_waits_for_the_change_being_written(tmp_path):
    path = tmp_path / "labels.csv"
    save_labels(path, {"s1": "shell"})
    got = []
    with labelfile._locked(path):  # a writer in the middle of its append
        reader = threading.Thread(target=lambda: got.append(read_label_table(path)))
        reader.start()
        reader.join(0.5)
        assert reader.is_alive() and not got
        with open(path, "a") as fh:
            fh.write("s2,abs")  # half a row: no reader may see it
            fh.flush()
            time.sleep(0.2)
            fh.write("orption,t\n")
    reader.join(10)
    assert got[0]["label"].tolist() == ["shell", "absorption"]


def test_the_cache_key_follows_the_labels_not_the_file(tmp_path):
    path = tmp_path / "labels.csv"
    ctx = StepContext(tmp_path, tmp_path, tmp_path, np.empty(0), np.empty(0))
    params = ActiveLearningMethod.params({"labels": str(path)})

    def key():
        return ActiveLearningMethod.fingerprint(params, ctx)["labels"]

    assert key() is None
    save_labels(path, {"s1": "shell", "s2": "absorption"})
    k1 = key()
    assert k1 == labels_digest({"s1": "shell", "s2": "absorption"})
    save_labels(path, {"s1": "shell"})  # the same label again: a row more, the same labels
    compact_labels(path)  # the file rewritten, the same labels
    assert key() == k1
    for change in ({"s2": "unsure"}, {"s3": "shell"}, {"s3": ""}, {"s1": ""}):
        save_labels(path, change)
        assert key() != k1
        k1 = key()
    assert k1 == labels_digest({"s2": "unsure"})


def test_cli_offers_every_query_strategy():
    from vocloud.cli import QUERIES

    assert QUERIES == QUERY_STRATEGIES

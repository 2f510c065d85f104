"""Retrying transient failures: the per-spectrum flag, the hard-link copy, writing rows in place."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import numpy as np
import pytest

from vocloud.run.inputs import TaskInputs
from vocloud.run.tasks import DownloadFailed, compute_chunk, retry_rows
from vocloud.store import STATUS_FAILED, STATUS_OK, ChunkData, FeatureStore, open_store
from vocloud.testing import StaticServer

M = 5


def _chunk(n: int, transient: tuple[int, ...] = (), failed: tuple[int, ...] = (), base=0.0):
    status = np.full(n, STATUS_OK, dtype="i1")
    error = np.full(n, "", dtype=object)
    feats = base + np.arange(n * M, dtype="f4").reshape(n, M)
    flag = np.zeros(n, dtype=bool)
    for i in (*transient, *failed):
        status[i] = STATUS_FAILED
        feats[i] = np.nan
    for i in transient:
        error[i] = "HTTP 503 Service Unavailable (after 4 attempts)"
        flag[i] = True
    for i in failed:
        error[i] = "HTTP 404 Not Found"
    cols = {
        "status": status,
        "error": error,
        "snr": np.full(n, 10.0, dtype="f4"),
        "s_ra": np.zeros(n),
        "s_dec": np.zeros(n),
        "target": np.full(n, "T", dtype=object),
        "layout": np.full(n, "iraf-linear", dtype=object),
        "transient": flag,
    }
    return ChunkData(feats, cols)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def complete(tmp_path: Path) -> FeatureStore:
    partial = tmp_path / "features-k.zarr.partial"
    FeatureStore.create(
        partial,
        ids=[f"s{i}" for i in range(10)],
        paths=[f"s{i}.fits" for i in range(10)],
        grid=np.arange(M, dtype=float),
        chunk_size=4,
        attrs={"cache_key": "k"},
    )
    FeatureStore.write_chunk(partial, 0, 0, _chunk(4, transient=(1,), failed=(2,)))
    FeatureStore.write_chunk(partial, 1, 4, _chunk(4))
    FeatureStore.write_chunk(partial, 2, 8, _chunk(2, transient=(0, 1)))
    final = FeatureStore(partial).finish(tmp_path / "features-k.zarr", {})
    assert "revision" not in final.attrs  # a store never retried keeps its step keys
    return final


def test_transient_rows_and_summary(complete: FeatureStore) -> None:
    assert complete.transient_rows().tolist() == [1, 8, 9]
    s = complete.summary()
    assert (s["n_ok"], s["n_failed"], s["n_transient"]) == (6, 4, 3)
    ds = open_store(complete.path)
    assert ds.transient.dtype == bool
    assert ds.where(ds.status == 1, drop=True).sizes["spectrum"] == 6  # status keeps its meaning
    assert ds.transient.values.tolist() == [i in (1, 8, 9) for i in range(10)]


def test_retry_in_a_copy_never_changes_the_complete_store(complete: FeatureStore) -> None:
    original = _digest(complete.path)
    clone = complete.clone_for_retry(
        complete.path.with_name(complete.path.name + ".partial"), complete.transient_rows()
    )
    assert clone.done_chunks().tolist() == [False, True, False]
    assert clone.attrs["retrying"] and not clone.attrs["complete"]
    assert clone.rows_to_retry(0).tolist() == [1]
    assert clone.rows_to_retry(2).tolist() == [8, 9]
    # row 1 now ok; rows 8 and 9: one ok, one still failing (transient)
    FeatureStore.write_rows(clone.path, 0, np.array([1]), _chunk(1, base=100.0))
    FeatureStore.write_rows(clone.path, 2, np.array([8, 9]), _chunk(2, transient=(1,), base=200.0))
    assert _digest(complete.path) == original  # hard links were replaced, never written through
    assert clone.rows_to_retry(2).tolist() == [9]
    before = open_store(complete.path).load()
    final = clone.finish(complete.path, {"retried": "now"})
    ds = open_store(final.path).load()
    assert ds.status.values.tolist() == [1, 1, 2, 1, 1, 1, 1, 1, 1, 2]
    assert ds.transient.values.tolist() == [False] * 9 + [True]
    assert ds.error.values[2] == "HTTP 404 Not Found"  # not transient: kept, never retried
    np.testing.assert_array_equal(ds.features.values[1], 100.0 + np.arange(M))
    np.testing.assert_array_equal(ds.features.values[8], 200.0 + np.arange(M))
    untouched = [0, 2, 3, 4, 5, 6, 7]
    np.testing.assert_array_equal(ds.features.values[untouched], before.features.values[untouched])
    assert ds.attrs["summary"]["n_transient"] == 1
    assert final.attrs["revision"] and final.attrs["retrying"] is False
    # steps on the features are keyed on the revision too: computed anew after the retry
    from vocloud.steps.runner import _input

    assert _input(final.path.parent, final.path, "features")[1] == "k+" + final.attrs["revision"]


def test_download_failures_carry_their_kind(tmp_path: Path) -> None:
    (tmp_path / "a.fits").write_bytes(b"not a FITS file")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nobody listens there once closed
    fetch = {"retries": 0, "timeout": 2, "backoff": 0}
    with StaticServer(tmp_path) as server:
        paths = [server.url + "a.fits", server.url + "none.fits", f"http://127.0.0.1:{closed}/x"]
        data = compute_chunk(paths, [None] * 3, {}, fetch)
    assert data.columns["status"].tolist() == [2, 2, 2]
    assert data.columns["error"][1] == "HTTP 404 Not Found"
    assert data.columns["error"][2] == "connection refused"
    assert data.columns["transient"].tolist() == [False, False, True]


def test_retry_rows_writes_only_its_rows(complete: FeatureStore, tmp_path: Path) -> None:
    clone = complete.clone_for_retry(tmp_path / "c.zarr.partial", np.array([9]))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    block = TaskInputs.of_files([f"http://127.0.0.1:{closed}/s9"], [None], {}, {"retries": 0})
    out = retry_rows(str(clone.path), 2, [9], block)
    assert out == {"chunk": 2, "n": 1, "n_ok": 0, "n_failed": 1, "n_transient": 1}
    ds = open_store(clone.path).load()
    assert ds.error.values[9] == "connection refused"
    assert ds.error.values[8] == "HTTP 503 Service Unavailable (after 4 attempts)"
    assert clone.done_chunks().all()


def test_download_failed_pickles() -> None:
    import pickle

    e = pickle.loads(pickle.dumps(DownloadFailed("timeout after 1 s", transient=True)))
    assert (str(e), e.transient) == ("timeout after 1 s", True)

"""Experiments over a loopback archive behind vocloud.testing.FaultProxy, on a real cluster.

Every spectrum either arrives whole (features equal to the same file read locally) or is recorded
failed with the reason of the fault that hit its last attempt; a rerun retries exactly the
spectra that failed for a transient reason and completes them; the per-server concurrency limit
holds across all tasks of the cluster.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import yaml
from astropy.table import Table

from vocloud.demo import DEMO_EXPERIMENT
from vocloud.run.experiment import Experiment
from vocloud.run.inputs import TaskInputs
from vocloud.run.tasks import retry_rows
from vocloud.sources.directory import DirectorySource
from vocloud.store import FeatureStore, open_store
from vocloud.testing import FaultProxy, Faults, StaticServer

HALPHA = yaml.safe_load(DEMO_EXPERIMENT)["preprocess"]
TIMEOUT = 1.0
# The reason a spectrum gets when the last of its 2 attempts met this fault.
REASONS = {
    "error": r"HTTP 503 Service Unavailable \(after 2 attempts\)",
    "reset": r"connection reset \(after 2 attempts\)",
    "stall": rf"timeout after {TIMEOUT:g} s \(after 2 attempts\)",
    "truncate": r"truncated body: got \d+ of \d+ bytes \(after 2 attempts\)",
}


@pytest.fixture(scope="module")
def client2x2():
    """2 worker processes x 2 threads: 4 tasks fetch at the same time."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def archive_list(mixed_archive):
    """The archive's spectra (every layout, broken files; ids unique) as a directory listing."""
    info, _ = mixed_archive
    df = DirectorySource(info.path, pattern="**/*").list()
    df = df[df.path.str.contains("/") & (df.path != "broken/dup.fits.gz")]
    return info, df.reset_index(drop=True)


def _votable(df, base_url: str, where: Path) -> Path:
    t = Table(
        {
            "id": df["id"].astype(str).tolist(),
            "access_url": [base_url + quote(p) for p in df["path"]],
        }
    )
    where.parent.mkdir(parents=True, exist_ok=True)
    t.write(where, format="votable", overwrite=True)
    return where


def _remote(tmp_path: Path, name: str, vot: Path, fetch: dict, block_size: int) -> Experiment:
    return Experiment(
        {"votable": str(vot), "access_column": "access_url", "id_column": "id"},
        HALPHA,
        name=name,
        store=tmp_path / "experiments",
        block_size=block_size,
        fetch=fetch,
    )


def _by_id(ds):
    ids = ds.id.values.tolist()
    return {i: k for k, i in enumerate(ids)}


def test_faults_then_rerun_completes_the_failed_ones(archive_list, tmp_path, client2x2):
    info, df = archive_list
    # the same files read locally: the reference
    local = Experiment(
        {"directory": str(info.path), "pattern": "**/*"},
        HALPHA,
        name="local",
        store=tmp_path / "experiments",
        block_size=40,
    )
    local.spectra = df
    ref = local.run(client2x2, progress=False, verbose=False).load()
    ref_at = _by_id(ref)
    assert (ref.status.values == 2).sum() > 0  # broken files: failures that are not transient
    assert not ref.transient.values.any()

    faults = Faults(
        error_rate=0.15,
        reset_rate=0.1,
        stall_rate=0.05,
        stall_seconds=10,
        truncate_rate=0.1,
        match=r"\.(fits|gz|xml|csv)$",
        seed=5,
    )
    fetch = {"retries": 1, "timeout": TIMEOUT, "backoff": 0.01, "concurrency": 4}
    with StaticServer(info.path) as server, FaultProxy(server.url, faults) as proxy:
        vot = _votable(df, proxy.url, tmp_path / "list.xml")
        exp = _remote(tmp_path, "faulty", vot, fetch, block_size=30)
        ds = exp.run(client2x2, progress=False, verbose=False).load()
        targets = {i: "/" + quote(p) for i, p in zip(df["id"], df["path"])}

        # ---- first run: every spectrum whole, or failed with the reason of its last fault
        assert ds.id.values.tolist() == df["id"].tolist()
        failed_transient = []
        for k, sid in enumerate(ds.id.values):
            hist = proxy.history(targets[sid])
            assert 1 <= len(hist) <= 2, (sid, hist)  # one retry at most
            assert all(f is not None for _, _, f in hist[:-1])  # retried only after a fault
            last = hist[-1][2]
            r = ref_at[sid]
            if last is None:  # the last attempt got the file: as read locally
                assert ds.status.values[k] == ref.status.values[r], sid
                assert ds.error.values[k] == ref.error.values[r], sid
                assert not ds.transient.values[k]
                np.testing.assert_allclose(
                    ds.features.values[k], ref.features.values[r], rtol=1e-5, atol=1e-6
                )
            else:
                assert ds.status.values[k] == 2, (sid, hist)
                assert re.fullmatch(REASONS[last], ds.error.values[k]), (ds.error.values[k], hist)
                assert ds.transient.values[k]
                assert np.isnan(ds.features.values[k]).all()
                failed_transient.append(sid)
        kinds = {proxy.history(targets[s])[-1][2] for s in failed_transient}
        assert kinds == set(REASONS), kinds  # every kind of fault was met, and recorded
        assert exp.last_run["n_transient"] == len(failed_transient)
        before = FeatureStore(exp.store_path)
        ok_before = np.flatnonzero(ds.status.values == 1)
        feats_before = ds.features.values[ok_before].copy()

        # ---- rerun with the faults off: exactly the transient failures are fetched again
        proxy.set_faults(Faults())
        proxy.reset()
        ds2 = exp.run(client2x2, progress=False, verbose=False).load()
        assert exp.last_run["retried"] == len(failed_transient)
        assert exp.last_run["retried_ok"] + exp.last_run["retried_failed"] == len(failed_transient)
        assert sorted(proxy.targets()) == sorted(targets[s] for s in failed_transient)
        assert all(len(proxy.history(t)) == 1 for t in proxy.targets())
        assert proxy.stats().requests == len(failed_transient)
        # nothing lost nor duplicated: the list's ids, once each, all as read locally
        assert ds2.id.values.tolist() == df["id"].tolist()
        assert len(set(ds2.id.values.tolist())) == len(df)
        assert not ds2.transient.values.any()
        order = [ref_at[s] for s in ds2.id.values]
        np.testing.assert_array_equal(ds2.status.values, ref.status.values[order])
        np.testing.assert_array_equal(ds2.error.values, ref.error.values[order])
        np.testing.assert_allclose(
            ds2.features.values, ref.features.values[order], rtol=1e-5, atol=1e-6
        )
        # the spectra that were ok were not touched
        np.testing.assert_array_equal(ds2.features.values[ok_before], feats_before)
        after = FeatureStore(exp.store_path)
        assert after.attrs["complete"] and not after.attrs["retrying"]
        assert after.attrs["revision"] != before.attrs.get("revision")
        assert after.summary()["n_transient"] == 0
        assert not Path(str(exp.store_path) + ".partial").exists()

        # ---- a third run: nothing to retry, nothing fetched
        proxy.reset()
        exp.run(client2x2, progress=False, verbose=False)
        assert exp.last_run["cached"] and proxy.stats().requests == 0
        assert open_store(exp.store_path).sizes["spectrum"] == len(df)


def test_rerun_retries_what_still_fails_and_keeps_the_rest(archive_list, tmp_path, client2x2):
    """Faults that outlast the first rerun: the second rerun retries only what still failed."""
    info, df = archive_list
    df = df[df.path.str.startswith("lamost-dr7/")].reset_index(drop=True)
    fetch = {"retries": 0, "timeout": 5, "backoff": 0, "concurrency": 4}
    with StaticServer(info.path) as server, FaultProxy(server.url, error_first=2) as proxy:
        vot = _votable(df, proxy.url, tmp_path / "lamost.xml")
        half = set(df["path"][::2])
        proxy.set_faults(match="|".join(re.escape(quote(p)) for p in half) + "$")
        exp = _remote(tmp_path, "twice", vot, fetch, block_size=8)
        ds = exp.run(client2x2, progress=False, verbose=False)
        failed = set(ds.id.values[ds.status.values == 2])
        assert failed == set(df["id"][df["path"].isin(half)])
        assert all(
            e == "HTTP 503 Service Unavailable" for e in ds.error.values[ds.status.values == 2]
        )
        ds = exp.run(client2x2, progress=False, verbose=False)  # attempt 2: still 503
        assert exp.last_run["retried"] == len(half) and exp.last_run["retried_ok"] == 0
        assert set(ds.id.values[ds.status.values == 2]) == failed
        ds = exp.run(client2x2, progress=False, verbose=False)  # attempt 3: forwarded
        assert exp.last_run["retried"] == len(half) and exp.last_run["retried_ok"] == len(half)
        assert (ds.status.values == 1).all()
        for p in df["path"]:
            n = 3 if p in half else 1
            assert len(proxy.history("/" + quote(p))) == n, p


def test_concurrency_limit_holds_across_tasks_and_workers(archive_list, tmp_path, client2x2):
    info, df = archive_list
    df = df[~df.path.str.startswith("broken/")].reset_index(drop=True)
    fetch = {"retries": 0, "timeout": 10, "concurrency": 3}
    with StaticServer(info.path) as server, FaultProxy(server.url, latency=0.05) as proxy:
        vot = _votable(df, proxy.url, tmp_path / "all.xml")
        exp = _remote(tmp_path, "limited", vot, fetch, block_size=20)  # 12 tasks, 4 at a time
        ds = exp.run(client2x2, progress=False, verbose=False)
        stats = proxy.stats()
        proxy_port = proxy.origin.rsplit(":", 1)[1]
    assert stats.requests == len(df)
    assert (ds.status.values == 1).sum() >= len(df) - 5  # the archive's outliers may fail
    assert 2 <= stats.max_inflight <= 3, stats
    names = client2x2.run_on_scheduler(
        lambda dask_scheduler: sorted(dask_scheduler.extensions["semaphores"].max_leases)
    )
    assert f"vocloud-fetch/127.0.0.1:{proxy_port}/3" in names


def test_a_retry_cut_short_resumes(archive_list, tmp_path, client2x2):
    """A retry stopped after one chunk: the next run retries only the rows still failing."""
    info, df = archive_list
    df = df[df.path.str.startswith("lamost-dr7/")].reset_index(drop=True)
    fetch = {"retries": 0, "timeout": 5, "backoff": 0, "concurrency": 4}
    with StaticServer(info.path) as server, FaultProxy(server.url, error_first=1) as proxy:
        vot = _votable(df, proxy.url, tmp_path / "cut.xml")
        exp = _remote(tmp_path, "cut", vot, fetch, block_size=8)
        ds = exp.run(client2x2, progress=False, verbose=False)
        assert (ds.status.values == 2).all() and ds.transient.values.all()
        complete = FeatureStore(exp.store_path)
        partial = Path(str(exp.store_path) + ".partial")
        clone = complete.clone_for_retry(partial, complete.transient_rows())
        rows = clone.rows_to_retry(0)
        block = TaskInputs.of_files(
            [proxy.url + quote(p) for p in df.path[rows]], [None] * rows.size,
            exp.params.to_dict(), exp.fetch_options,
        )  # fmt: skip
        retry_rows(str(partial), 0, rows.tolist(), block)
        # ... and the run stopped here: the complete store is still the result
        assert (open_store(exp.store_path).status.values == 2).all()
        ds = exp.run(client2x2, progress=False, verbose=False)
        assert exp.last_run["retried"] == len(df) - rows.size
        assert (ds.status.values == 1).all() and not ds.transient.values.any()
        for p in df["path"]:
            assert [f for _, _, f in proxy.history("/" + quote(p))] == ["error", None], p

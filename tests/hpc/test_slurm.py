"""Experiments on Dask workers that are real SLURM batch jobs (dask-jobqueue SLURMCluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hpc_helpers import squeue

from vocloud import Experiment
from vocloud.datasets import make_archive
from vocloud.run.cluster import get_client
from vocloud.store import FeatureStore

# The reference: vocloud's own LocalCluster. Features are float32 sums whose SIMD order follows
# the arrays' alignment in each worker process, so other processes (or machines) agree to float32
# precision, not bit for bit: features scaled to [-1, 1] are compared at 1e-6.
LOCAL = {"n_workers": 1, "dashboard_address": None}
FLOAT32 = {"rtol": 1e-6, "atol": 1e-6}


def _job_name(batch: dict) -> str:
    return batch["slurm"]["job_name"]


def _wait_gone(name: str, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    left = squeue(name)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = squeue(name)
    return left


@pytest.fixture(scope="module")
def archive_info(tmp_path_factory):
    root = tmp_path_factory.mktemp("hpc-archive")
    return make_archive(root / "spectra", 1200, layouts="iraf-linear", seed=7, n_jobs=1)


@pytest.fixture(scope="module")
def archive(archive_info):
    return archive_info.path


@pytest.fixture(scope="module")
def n_normal(archive_info) -> int:
    """The archive's spectra that are not synthetic outliers: these all preprocess."""
    return int((archive_info.truth()["class"] != "outlier").sum())


def test_workers_are_slurm_jobs_on_loopback_and_end_with_the_client(batch) -> None:
    name = _job_name(batch)
    with get_client(batch=batch, quiet=True) as c:
        c.wait_for_workers(2, timeout=120)
        job_ids = c.run(lambda: os.environ.get("SLURM_JOB_ID"))
        running = squeue(name)
        assert len(job_ids) == 2
        assert set(job_ids.values()) == set(running), (job_ids, running)
        assert set(running.values()) == {"RUNNING"}
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in job_ids)
        assert c.scheduler.address.startswith("tcp://127.0.0.1:")
        # one single-threaded worker per core, as on vocloud's LocalCluster
        assert set(c.nthreads().values()) == {1}
    assert _wait_gone(name) == {}, "the SLURM jobs outlived the client"


def test_experiment_on_slurm_jobs_matches_a_local_run(batch, archive, n_normal, tmp_path) -> None:
    source = {"directory": str(archive), "pattern": "**/*.fits"}
    steps = [{"method": "pca", "params": {"n_components": 4}}]
    exp = Experiment(
        source, name="hpc", store=tmp_path / "slurm", block_size=200, batch=batch, steps=steps
    )
    ds = exp.run(progress=False, verbose=False)
    ref = Experiment(source, name="hpc", store=tmp_path / "local", block_size=200).run(
        cluster_kwargs=LOCAL, progress=False, verbose=False
    )
    assert exp.last_run["chunks_computed"] == 6
    assert list(ds.id.values) == list(ref.id.values)
    np.testing.assert_array_equal(ds.status.values, ref.status.values)
    np.testing.assert_allclose(ds.features.values, ref.features.values, **FLOAT32)
    assert int((ds.status == 1).sum()) >= n_normal > 1000
    # the step ran (on the same jobs, before they ended)
    assert [p.name for p in (exp.directory / "steps").iterdir() if p.name.startswith("pca-")]
    assert _wait_gone(_job_name(batch)) == {}


def test_cli_runs_an_experiment_file_with_run_batch(batch, archive, n_normal, tmp_path) -> None:
    spec = {
        "name": "hpc-cli",
        "store": str(tmp_path / "experiments"),
        "source": {"directory": str(archive), "pattern": "**/*.fits"},
        "run": {"block_size": 300, "batch": batch},
        "steps": [{"method": "pca", "params": {"n_components": 3}}],
    }
    f = tmp_path / "hpc.json"
    f.write_text(json.dumps(spec))
    r = subprocess.run(
        [sys.executable, "-m", "vocloud.cli", "run", str(f), "--no-progress", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    # one set of jobs for the preprocessing and the step
    assert r.stdout.count("2 SLURM jobs asked for") == 1, r.stdout
    assert "vocloud: step pca" in r.stdout
    summary = json.loads(r.stdout[r.stdout.index("{\n") :])
    assert summary["n_spectra"] == 1200
    assert summary["n_ok"] >= n_normal > 1000
    assert summary["n_ok"] + summary["n_failed"] == 1200
    assert _wait_gone(_job_name(batch)) == {}


def test_a_job_cancelled_mid_run_loses_nothing(batch, tmp_path) -> None:
    """scancel of one of the two worker jobs while chunks are being written: Dask moves its
    tasks to the other job, and the store ends whole and equal to a local run."""
    make_archive(tmp_path / "spectra", 4000, layouts="iraf-linear", seed=3, n_jobs=2)
    source = {"directory": str(tmp_path / "spectra"), "pattern": "**/*.fits"}
    exp = Experiment(source, name="cancel", store=tmp_path / "slurm", block_size=100, batch=batch)
    partial = exp.folder.partial_path(exp.cache_key)
    cancelled: list[str] = []

    def cancel_one_job() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not cancelled:
            try:
                done = int(FeatureStore(partial).done_chunks().sum())
            except Exception:
                done = 0
            running = [j for j, s in squeue(_job_name(batch)).items() if s == "RUNNING"]
            if done >= 3 and len(running) == 2:
                subprocess.run(["scancel", running[0]], check=True)
                cancelled.append(running[0])
                return
            time.sleep(0.05)

    t = threading.Thread(target=cancel_one_job, daemon=True)
    t.start()
    ds = exp.run(progress=False, verbose=False)
    t.join(5)
    assert cancelled, "the run ended before a job could be cancelled"
    assert exp.last_run["chunks_computed"] == 40
    ref = Experiment(source, name="cancel", store=tmp_path / "local", block_size=100).run(
        cluster_kwargs=LOCAL, progress=False, verbose=False
    )
    assert len(ds.id) == 4000 and len(set(ds.id.values)) == 4000
    assert list(ds.id.values) == list(ref.id.values)
    np.testing.assert_array_equal(ds.status.values, ref.status.values)
    np.testing.assert_allclose(ds.features.values, ref.features.values, **FLOAT32)


def test_jobs_that_stay_queued_give_a_clear_error_and_are_cancelled(batch) -> None:
    batch["slurm"].update(wait=5, jobs=1, job_extra_directives=["--begin=now+3600"])
    name = _job_name(batch)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="no Dask worker connected within 5 s") as err:
        with get_client(batch=batch, quiet=True):
            pass
    # the job is named with the state and reason SLURM gives
    assert "PENDING (BeginTime)" in str(err.value), err.value
    assert time.monotonic() - t0 < 60
    assert _wait_gone(name) == {}, "a queued job was left behind"

"""A run on vocloud's own LocalCluster whose workers are all gone for good (none restarted):
the chunk tasks that wait fail after ``distributed.scheduler.no-workers-timeout`` with dask's
reason, the run ends with that error naming its chunks instead of waiting for ever, and the chunks
finished before are kept for the rerun."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import yaml
import zarr
from astropy.table import Table
from distributed import default_client

from vocloud.datasets import make_archive
from vocloud.demo import DEMO_EXPERIMENT
from vocloud.run.experiment import Experiment
from vocloud.run.workers import LOCAL_CLUSTER_CONFIG, NO_WORKERS_TIMEOUT
from vocloud.sources.directory import DirectorySource
from vocloud.testing import FaultProxy, Faults, StaticServer

HALPHA = yaml.safe_load(DEMO_EXPERIMENT)["preprocess"]
N, BLOCK = 24, 4


def test_vocloud_cluster_fails_waiting_tasks_when_no_worker_runs():
    assert LOCAL_CLUSTER_CONFIG["distributed.scheduler.no-workers-timeout"] == "300s"
    assert NO_WORKERS_TIMEOUT == 300  # the same as the watchdog of the parts computed alone


def _chunks_done(experiments: Path) -> int:
    partial = list(experiments.glob("*/*.zarr.partial"))
    if not partial:
        return 0
    try:
        return int(np.sum(zarr.open_array(str(partial[0] / "chunk_done"), mode="r")[:]))
    except (OSError, KeyError, ValueError):  # not written yet
        return 0


def _remove_every_worker(experiments: Path, done: list[int], stop: threading.Event) -> None:
    """Once a chunk is stored, scale the run's LocalCluster to no worker (what a cluster whose
    workers all died and were not restarted looks like to the scheduler)."""
    while not stop.is_set():
        n = _chunks_done(experiments)
        if n:
            done.append(n)
            default_client().cluster.scale(0)
            return
        time.sleep(0.05)


@pytest.mark.timeout(180)  # the failure this guards against is a wait for ever
def test_a_run_whose_workers_are_all_gone_fails_per_chunk_and_resumes(tmp_path, monkeypatch):
    info = make_archive(tmp_path / "spectra", N, layouts="iraf-linear", seed=4, n_jobs=1)
    listing = DirectorySource(info.path, pattern="**/*.fits").list()
    monkeypatch.setitem(LOCAL_CLUSTER_CONFIG, "distributed.scheduler.no-workers-timeout", "2s")
    experiments = tmp_path / "experiments"
    # every file 0.3 s late: a chunk of 4 takes over a second, so that most are still to do
    with StaticServer(info.path) as server, FaultProxy(server.url, latency=0.3) as proxy:
        vot = tmp_path / "list.vot"
        Table(
            {
                "id": listing["id"].astype(str).tolist(),
                "access_url": [proxy.url + quote(p) for p in listing["path"]],
            }
        ).write(vot, format="votable")
        exp = Experiment(
            {"votable": str(vot), "access_column": "access_url", "id_column": "id"},
            HALPHA,
            name="gone",
            store=experiments,
            block_size=BLOCK,
            fetch={"retries": 0, "timeout": 10, "concurrency": 1},
            cluster_kwargs={"n_workers": 1, "threads_per_worker": 1, "dashboard_address": None},
        )
        done: list[int] = []
        stop = threading.Event()
        remover = threading.Thread(target=_remove_every_worker, args=(experiments, done, stop))
        remover.start()
        try:
            with pytest.raises(RuntimeError) as err:
                exp.run(progress=False, verbose=False)
        finally:
            stop.set()
            remover.join()
        message = str(err.value)
        assert done, "no chunk was stored before the run ended: " + message
        # the reason, dask's, named per chunk task; the run ended, it did not wait
        failed = int(message.split(" chunk tasks failed")[0].split()[-1])
        assert 1 <= failed <= N // BLOCK - done[0], message
        assert "NoWorkerError: Attempted to run task 'vocloud-" in message, message
        assert "waiting without any running workers" in message, message
        assert "a rerun resumes from them" in message, message
        # the chunks stored before are kept (at least those seen), the store is not complete
        kept = _chunks_done(experiments)
        assert done[0] <= kept < N // BLOCK
        assert not exp.is_cached()
        # the rerun (workers again, no latency) computes the rest only
        proxy.set_faults(Faults())
        ds = exp.run(progress=False, verbose=False)
    assert exp.last_run["chunks_computed"] == N // BLOCK - kept
    assert int((ds.status == 1).sum()) == N

"""Runs of one experiment at once, a killed lock holder, and SIGKILLs at random points of store
creation and commit: real `vocloud run` processes, real LocalClusters, real files."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from vocloud.datasets import make_archive
from vocloud.demo import DEMO_EXPERIMENT
from vocloud.run.experiment import Experiment
from vocloud.store import FeatureStore, open_store

HALPHA = yaml.safe_load(DEMO_EXPERIMENT)["preprocess"]


def _experiment_file(folder: Path, n: int, block_size: int, **run) -> Path:
    make_archive(folder / "spectra", n, layouts="lamost-dr8", seed=7, n_jobs=1)
    spec = {
        "name": "halpha",
        "store": "./experiments",
        "source": {"directory": "./spectra", "pattern": "**/*.fits"},
        "preprocess": HALPHA,
        "run": {"block_size": block_size, "n_workers": 1, **run},
    }
    f = folder / "halpha.yaml"
    f.write_text(yaml.safe_dump(spec))
    return f


def _run_cli(f: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vocloud.cli", "run", str(f), "--no-progress", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its LocalCluster's processes die with it on killpg
    )


def assert_same_store(path: Path, ref) -> None:
    ds = open_store(path)
    assert ds.attrs["complete"] is True
    assert ds.id.values.tolist() == ref.id.values.tolist()
    np.testing.assert_array_equal(ds.status.values, ref.status.values)
    np.testing.assert_array_equal(ds.error.values, ref.error.values)
    np.testing.assert_array_equal(ds.features.values, ref.features.values)
    assert not FeatureStore(path).summary()["n_pending"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, client):
    """An experiment file and the store of one uninterrupted run of it."""
    folder = tmp_path_factory.mktemp("concurrent")
    f = _experiment_file(folder, 300, 20)
    ref = Experiment.from_file(f, name="reference").run(client, progress=False, verbose=False)
    return f, ref.load()


@pytest.mark.parametrize("n_runs", [2, 4])
def test_runs_started_together_all_succeed_and_make_one_store(reference, n_runs, tmp_path):
    f, ref = reference
    shutil_copy = tmp_path / "halpha.yaml"
    spec = yaml.safe_load(f.read_text())
    spec["source"]["directory"] = str(f.parent / "spectra")
    shutil_copy.write_text(yaml.safe_dump(spec))
    procs = [_run_cli(shutil_copy) for _ in range(n_runs)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out
        assert "Traceback" not in out and "Error" not in out, out
    # one run computed the store, the others waited for its lock and found it
    assert sum("vocloud: preprocessing" in out for out in outs) == 1, outs
    assert sum("cache hit" in out for out in outs) == n_runs - 1, outs
    assert any("is held by vocloud run of 'halpha' (pid" in out for out in outs), outs
    exp = Experiment.from_file(shutil_copy)
    assert_same_store(exp.store_path, ref)
    folder = exp.directory
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "experiment.json",
        exp.store_path.name,
    ]
    assert json.loads((folder / "experiment.json").read_text())["current"] == exp.store_path.name


def test_a_killed_lock_holders_waiter_completes(tmp_path, client):
    f = _experiment_file(tmp_path, 3000, 5)  # 600 small tasks on one worker: a slow holder
    exp = Experiment.from_file(f)
    partial = exp.folder.partial_path(exp.cache_key)
    holder = _run_cli(f)
    waiter = None
    try:
        deadline = time.monotonic() + 180
        done = 0
        while time.monotonic() < deadline and not done:
            try:
                done = FeatureStore(partial).done_chunks().sum()
            except Exception:
                done = 0
            time.sleep(0.05)
        assert done, "the first run did not start writing"
        waiter = _run_cli(f)
        # --no-wait fails at once, naming the holder
        res = subprocess.run(
            [sys.executable, "-m", "vocloud.cli", "run", str(f), "--no-wait"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert holder.poll() is None, "the holder finished before it could be killed"
        assert res.returncode == 3, res.stdout + res.stderr
        assert f"is held by vocloud run of 'halpha' (pid {holder.pid} on " in res.stderr
        assert "Traceback" not in res.stderr
        assert waiter.poll() is None  # the waiter is waiting
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        out = waiter.communicate(timeout=600)[0]
    finally:
        for p in (holder, waiter):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    assert waiter.returncode == 0, out
    assert "Traceback" not in out
    assert f"(pid {holder.pid} on" in out and "waiting for it" in out
    assert "resuming" in out  # the waiter took the dead holder's lock and its chunks over
    ref = Experiment.from_file(f, name="fresh").run(client, progress=False, verbose=False)
    assert_same_store(exp.store_path, ref)


# A run in one process (a threaded LocalCluster, so that every file write is in it) that kills
# itself with SIGKILL at its Nth write to the experiment folder (N = argv[2]; 0: never, and it
# writes how many it made to argv[3]). Python's audit hooks see every open for writing, rename,
# link, unlink, mkdir and rmtree, from every thread (zarr writes from its own).
KILLER = """
import os, signal, sys
from pathlib import Path
target, root = int(sys.argv[2]), os.path.realpath(sys.argv[4])
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT
count = 0

def hook(event, args):
    global count
    if event == "open":
        mode, flags = args[1], args[2]
        if not ((isinstance(mode, str) and set(mode) & set("wax+")) or (flags or 0) & WRITE):
            return
    elif event not in ("os.rename", "os.remove", "os.mkdir", "os.rmdir", "shutil.rmtree",
                       "os.link", "os.truncate"):
        return
    if not args or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    if not os.path.realpath(os.fsdecode(args[0])).startswith(root):
        return
    count += 1
    if count == target:
        os.kill(os.getpid(), signal.SIGKILL)

sys.addaudithook(hook)
from vocloud.run.experiment import Experiment
Experiment.from_file(sys.argv[1]).run(
    cluster_kwargs={"n_workers": 1, "threads_per_worker": 2, "processes": False,
                    "dashboard_address": None},
    progress=False, verbose=False,
)
if target == 0:
    Path(sys.argv[3]).write_text(str(count))
"""


def test_sigkill_at_random_points_of_store_creation_and_commit(reference, tmp_path, client):
    f, ref = reference
    spec = yaml.safe_load(f.read_text())
    spec["source"]["directory"] = str(f.parent / "spectra")
    spec["run"]["block_size"] = 100  # 3 chunks: creation and commit are most of the writes
    mine = tmp_path / "halpha.yaml"
    mine.write_text(yaml.safe_dump(spec))
    exp = Experiment.from_file(mine)
    folder = exp.directory

    def killer(target: int) -> subprocess.CompletedProcess[str]:
        count = tmp_path / "count.txt"
        return subprocess.run(
            [sys.executable, "-c", KILLER, str(mine), str(target), str(count), str(folder)],
            capture_output=True,
            text=True,
            timeout=300,
        )

    res = killer(0)
    assert res.returncode == 0, res.stderr
    n_writes = int((tmp_path / "count.txt").read_text())
    assert n_writes > 40
    # the clean run: equal to the reference but for the block size (blocks of 100 rows are
    # fitted together: a few float32 ulps from blocks of 20)
    clean = open_store(exp.store_path).load()
    np.testing.assert_array_equal(clean.status.values, ref.status.values)
    np.testing.assert_allclose(clean.features.values, ref.features.values, rtol=2e-6, atol=1e-6)
    rng = random.Random(20261206)
    # 7 kills among the first third of the writes (making the store: lock, partial, arrays),
    # 6 in the middle (chunks), 7 in the last third (last chunks, commit, pointer, unlock)
    third = n_writes // 3
    targets = sorted(
        rng.sample(range(1, third + 1), 7)
        + rng.sample(range(third + 1, 2 * third + 1), 6)
        + rng.sample(range(2 * third + 1, n_writes + 1), 7)
    )
    print(f"{n_writes} writes; SIGKILL at the writes {targets}")
    killed = 0
    for target in targets:
        import shutil

        shutil.rmtree(folder)
        res = killer(target)
        assert res.returncode in (-signal.SIGKILL, 0), res.stderr
        killed += res.returncode == -signal.SIGKILL
        # the rerun: a complete store equal to a clean run's, whatever the kill left
        again = Experiment.from_file(mine)
        again.run(client, progress=False, verbose=False)
        assert_same_store(again.store_path, clean)
        assert not again.folder.partial_path(again.cache_key).exists()
        assert json.loads((folder / "experiment.json").read_text())["current"] == (
            again.store_path.name
        )
    assert killed >= 18, f"only {killed} of 20 runs were killed (targets {targets} of {n_writes})"

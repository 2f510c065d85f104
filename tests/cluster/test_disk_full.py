"""A full disk during a run: a clear error, finished chunks kept, and once space is freed the
rerun resumes to a store equal to a clean run. The store lives on a real 1 MB tmpfs (mounted
here: needs root; otherwise skipped with the reason, a failure under CI)."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from tiers import unavailable

from vocloud.datasets import make_archive
from vocloud.run.experiment import Experiment
from vocloud.store import FeatureStore

CLUSTER = {"n_workers": 2, "dashboard_address": None}


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0 or not shutil.which("mount"):
        unavailable("disk-full", "mounting a small tmpfs needs root and mount(8)")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_is_named_and_the_rerun_resumes_to_a_whole_store(tmp_path, small_disk):
    make_archive(tmp_path / "spectra", 300, layouts="iraf-linear", seed=3, n_jobs=1)
    src = {"directory": str(tmp_path / "spectra"), "pattern": "**/*.fits"}
    kw = {"name": "full", "store": small_disk, "block_size": 50, "cluster_kwargs": CLUSTER}
    with pytest.raises(RuntimeError) as err:
        Experiment(src, **kw).run(progress=False, verbose=False)
    msg = str(err.value)
    assert "No space left on device" in msg and "a rerun resumes" in msg
    partial = next(small_disk.glob("full/features-*.zarr.partial"))
    done_before = int(FeatureStore(partial).done_chunks().sum())
    assert not list(small_disk.glob("full/features-*.zarr"))  # no store that looks whole
    # space freed: the rerun computes only what is missing and equals a clean run
    subprocess.run(["mount", "-o", "remount,size=100m", str(small_disk)], check=True)
    exp = Experiment(src, **kw)
    ds = exp.run(progress=False, verbose=False)
    assert exp.last_run["chunks_computed"] == 6 - done_before
    assert not partial.exists()
    clean = Experiment(
        src, name="clean", store=tmp_path / "exp", block_size=50, cluster_kwargs=CLUSTER
    ).run(progress=False, verbose=False)
    np.testing.assert_array_equal(ds.status.values, clean.status.values)
    assert int((ds.status == 1).sum()) == 300
    # other worker processes, other chunk boundaries of the same rows: float32 precision
    np.testing.assert_allclose(ds.features.values, clean.features.values, rtol=1e-6, atol=1e-6)

"""Shared fixtures: synthetic archives made once per session by vocloud.datasets, and a real
LocalCluster (2 worker processes x 1 thread on loopback) per test module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Keep BLAS single-threaded in the test process, as in the cluster workers.
os.environ.setdefault("OMP_NUM_THREADS", "1")


#: Test folders whose every test needs a service, and the marker they get (``-m`` selects on it).
TIER_FOLDERS = {"vo": "vo", "hpc": "hpc", "browser": "browser"}


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers
def pytest_collection_modifyitems(config, items):
    """Mark every test under tests/vo, tests/hpc and tests/browser with its tier."""
    root = Path(__file__).parent
    for item in items:
        try:
            folder = Path(item.path).relative_to(root).parts[0]
        except ValueError:
            continue
        if folder in TIER_FOLDERS:
            item.add_marker(getattr(pytest.mark, TIER_FOLDERS[folder]))


@pytest.fixture(scope="session")
def mixed_archive(tmp_path_factory):
    """A small archive in every layout (some gzipped), plus the broken files, made once."""
    from vocloud.datasets import make_archive, make_broken_files

    root = tmp_path_factory.mktemp("archive")
    info = make_archive(
        root / "spectra", 240, layouts="mixed", seed=11, gzip_fraction=0.2, n_jobs=1
    )
    broken = make_broken_files(root / "spectra" / "broken")
    return info, broken


@pytest.fixture(scope="module")
def client():
    """A client of a real 2-worker LocalCluster on loopback, one per test module."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c

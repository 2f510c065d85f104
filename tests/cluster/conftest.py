"""Cluster tier: real dask.distributed LocalClusters on loopback."""

from __future__ import annotations

import dask
import pytest
from distributed import Client, LocalCluster


def pytest_collection_modifyitems(items):
    for item in items:
        if "/cluster/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="module")
def small_workers():
    """Two 700 MB workers (test_poison, test_store_weight): one that reads the killer dies; a task on a dying worker fails at
    once (allowed-failures 0), so that the search for the culprit is quick."""
    with (
        dask.config.set(
            {
                "distributed.scheduler.allowed-failures": 0,
                # a worker that survived a spike but kept its memory (not returned to the OS)
                # would stay paused between 80 % and 95 % and take no task: never pause
                "distributed.worker.memory.pause": False,
            }
        ),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit="700MB",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client

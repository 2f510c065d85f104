"""Faults between vocloud and the real DaCHS: a FaultProxy in front of the server breaks DataLink
and SODA requests (5xx, resets, stalls, truncated bodies, latency). Every spectrum either arrives
whole (features equal to a run without faults) or is recorded failed with its reason; a rerun
completes the failed ones; nothing is lost or duplicated in the store.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from vocloud.run.experiment import Experiment
from vocloud.testing import FaultProxy, Faults

pytestmark = pytest.mark.filterwarnings("ignore:The unit 'Angstrom' has been deprecated")

N = 60
REASON = re.compile(
    r"HTTP 503 Service Unavailable|connection reset|timeout after|truncated body|DataLink"
)


def test_faults_on_datalink_and_soda_then_a_rerun_completes(dachs, client, tmp_path, preprocess):
    query = f"SELECT TOP {N} * FROM {dachs.table} ORDER BY ssa_pubDID"
    clean = Experiment(
        {"tap": dachs.tap_url, "query": query},
        preprocess,
        name="clean",
        store=tmp_path / "clean",
        block_size=20,
    ).run(client, progress=False, verbose=False)
    alias = dachs.base_url.replace("localhost", "127.0.0.1")
    with FaultProxy(
        dachs.base_url,
        aliases=[alias],
        latency=0.02,
        match=r"/dl/dl(get|meta)",
        error_rate=0.15,
        reset_rate=0.1,
        stall_rate=0.05,
        stall_seconds=3.0,
        truncate_rate=0.1,
        seed=7,
    ) as proxy:
        tap = proxy.url.rstrip("/") + "/tap"
        spec = {"tap": tap, "query": query}
        fetch = {"retries": 1, "timeout": 1.5, "backoff": 0.0, "concurrency": 4}
        exp = Experiment(
            spec, preprocess, name="faulty", store=tmp_path / "faulty", block_size=20, fetch=fetch
        )
        assert exp.spectra["datalink_url"].str.startswith(proxy.origin).all()
        ds = exp.run(client, progress=False, verbose=False)
        faults = proxy.stats().faults
        assert sum(faults.values()) > 0, faults
        ids = list(ds.id.values)
        assert ids == list(clean.id.values)  # nothing lost, nothing duplicated, same order
        ok = ds.status.values == 1
        failed = ~ok & (clean.status.values == 1)
        assert failed.any(), "no spectrum failed: the faults did not bite"
        for err in ds.error.values[failed]:
            assert REASON.search(err), err
        # those that arrived are whole: the same features as without faults
        np.testing.assert_allclose(
            ds.features.values[ok], clean.features.values[ok], rtol=0, atol=1e-6
        )
        # the rerun, faults off, completes the failed ones and touches nothing else
        proxy.set_faults(Faults())
        again = Experiment(
            spec, preprocess, name="faulty", store=tmp_path / "faulty", block_size=20, fetch=fetch
        )
        ds2 = again.run(client, progress=False, verbose=False)
    assert list(ds2.id.values) == ids
    np.testing.assert_array_equal(ds2.status.values, clean.status.values)
    good = clean.status.values == 1
    np.testing.assert_allclose(
        ds2.features.values[good], clean.features.values[good], rtol=0, atol=1e-6
    )

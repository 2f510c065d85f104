"""The HPC tier: Dask workers as real SLURM batch jobs on a single-node SLURM (``make test-hpc``).

``scripts/slurm/ensure.sh`` installs SLURM from Debian (slurmctld, slurmd, munge), writes a
loopback-only ``/etc/slurm/slurm.conf`` (one node ``localhost``, partition ``debug``), starts
the daemons and writes ``cluster.json`` into its state directory (``$VOCLOUD_SLURM_STATE``,
default ``/tmp/vocloud-slurm``); when it cannot, it writes the reason to ``skip-reason`` there.

Every test in ``tests/hpc`` is marked ``hpc`` (by tests/conftest.py) (``make test-unit`` and ``make test-cluster``
deselect them).

Fixtures
--------
``slurm`` (session): a :class:`SlurmCluster` (partition, node, cpus, memory_mb) once ``sinfo``
    answers; else a skip with the reason ensure.sh gave, or a FAILURE under ``CI=true``.
``batch`` (function): a ``run.batch`` entry for that SLURM: 1-core jobs, loopback only, job
    logs in a temporary folder, 180 s to wait for the first worker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from hpc_helpers import squeue
from tiers import tier_state, unavailable

STATE_DIR = Path(os.environ.get("VOCLOUD_SLURM_STATE", "/tmp/vocloud-slurm"))


@dataclass(frozen=True)
class SlurmCluster:
    """The local SLURM of the HPC tier."""

    partition: str
    node: str
    cpus: int
    memory_mb: int


@pytest.fixture(scope="session")
def slurm() -> SlurmCluster:
    conf = tier_state(
        STATE_DIR,
        "cluster.json",
        "SLURM",
        "run `make test-hpc`, or as root `bash scripts/slurm/ensure.sh`",
    )
    if shutil.which("sinfo") is None:
        unavailable("SLURM", "SLURM's sinfo is not on PATH")
    state = subprocess.run(
        ["sinfo", "-h", "-n", conf["node"], "-o", "%t"], capture_output=True, text=True
    )
    if state.returncode or state.stdout.strip() not in ("idle", "mix", "alloc"):
        unavailable(
            "SLURM",
            f"SLURM node {conf['node']} is not up ({state.stdout.strip() or state.stderr.strip()}): "
            "start it with `bash scripts/slurm/ensure.sh` (root)",
        )
    return SlurmCluster(conf["partition"], conf["node"], int(conf["cpus"]), int(conf["memory_mb"]))


@pytest.fixture
def batch(slurm, tmp_path, request) -> dict:
    """A ``run.batch`` entry: 1-core SLURM jobs on loopback, with a job name of this test."""
    name = "vocloud-" + request.node.name.replace("_", "-")[:40]
    yield {
        "slurm": {
            "jobs": 2,
            "wait": 180,
            "cores": 1,
            "memory": "2GB",
            "walltime": "00:15:00",
            "queue": slurm.partition,
            "job_name": name,
            "interface": "lo",
            "scheduler_options": {"dashboard_address": "127.0.0.1:0"},
            "worker_extra_args": ["--dashboard-address", "127.0.0.1:0"],
            "log_directory": str(tmp_path / "slurm-logs"),
            "death_timeout": 60,
        }
    }
    left = squeue(name)
    if left:  # a test that failed half-way: do not leave its jobs on the node
        subprocess.run(["scancel", *left], check=False)

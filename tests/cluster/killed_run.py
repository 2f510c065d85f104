"""A ``vocloud run`` in a process of its own, SIGKILLed once some chunks are stored: the crash
that a rerun must resume from."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import zarr


def run_killed_midway(
    experiment_file: Path, partial: Path, chunks: int, log: Path, timeout: float = 300.0
) -> tuple[int, int | None]:
    """Run ``vocloud run experiment_file`` and kill its process group once ``chunks`` chunks of
    its ``partial`` store are done (or it ends, or ``timeout`` passes); its output goes to
    ``log``. Returns the chunks done when it was killed and its exit code."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vocloud.cli", "run", str(experiment_file), "--no-progress"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    done = 0
    deadline = time.monotonic() + timeout  # a loaded machine: the run may take long to start
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                done = int(np.sum(zarr.open_array(str(partial / "chunk_done"), mode="r")[:]))
            except Exception:
                pass  # not created yet, or read while being rewritten: keep the last count
            if done >= chunks:
                break
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
    return done, proc.returncode

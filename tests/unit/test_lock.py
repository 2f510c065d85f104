"""The run lock of a store (vocloud.store.lock) between real processes, and the pointer file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vocloud.store import ExperimentFolder, StoreLock, StoreLocked

# a holder process: takes the lock, says so, then sleeps until killed
HOLDER = """
import sys, time
from vocloud.store import StoreLock
lock = StoreLock(sys.argv[1], holder="test holder", heartbeat=float(sys.argv[2]))
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def _holder(path: Path, heartbeat: float = 10.0) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(heartbeat)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_holder_is_named_and_waited_for_then_a_killed_one_is_taken_over(tmp_path):
    path = tmp_path / "features-x.zarr.lock"
    proc = _holder(path)
    try:
        record = json.loads(path.read_text())
        assert record["pid"] == proc.pid and record["host"] == socket.gethostname()
        assert record["holder"] == "test holder" and record["started"]
        with pytest.raises(StoreLocked, match=rf"held by test holder \(pid {proc.pid} on "):
            StoreLock(path).acquire(wait=False)
        told: list[str] = []
        got = threading.Event()
        waiter = StoreLock(path, poll=0.05)

        def wait() -> None:
            waiter.acquire(on_wait=told.append)
            got.set()

        t = threading.Thread(target=wait)
        t.start()
        time.sleep(0.5)
        assert not got.is_set()  # the holder lives: the waiter waits
        assert len(told) == 1 and f"pid {proc.pid}" in told[0] and "waiting" in told[0]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        t.join(10)
        assert got.is_set()  # the dead holder's lock was taken over
        assert json.loads(path.read_text())["pid"] == os.getpid()
        waiter.release()
        assert not path.exists()
    finally:
        proc.kill()
        proc.wait()


def test_an_unreaped_killed_holder_is_dead_too(tmp_path):
    """A SIGKILLed holder that its parent has not waited for yet is a zombie: dead."""
    path = tmp_path / "s.lock"
    proc = _holder(path)
    os.kill(proc.pid, signal.SIGKILL)
    time.sleep(0.2)  # a zombie now (not reaped)
    try:
        with StoreLock(path, poll=0.05):
            assert json.loads(path.read_text())["pid"] == os.getpid()
    finally:
        proc.wait()


def test_another_hosts_lock_is_taken_only_once_its_heartbeat_stops(tmp_path):
    """A lock of another host: alive while its mtime moves, dead after stale_after seconds
    without a touch (seen by the waiter's own clock)."""
    path = tmp_path / "s.lock"
    record = {
        "holder": "vocloud run",
        "host": "node-elsewhere",
        "pid": 1,
        "started": "2026-01-01T00:00:00+00:00",
        "token": "t",
        "process_start": None,
        "flock": False,
    }
    path.write_text(json.dumps(record))
    stop = threading.Event()

    def beat() -> None:  # the other host's heartbeat
        while not stop.wait(0.1):
            os.utime(path, ns=(time.time_ns(), time.time_ns()))

    t = threading.Thread(target=beat)
    t.start()
    lock = StoreLock(path, stale_after=0.6, poll=0.05)
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (lock.acquire(), done.set()))
    waiter.start()
    time.sleep(1.5)
    assert not done.is_set(), "a lock whose heartbeat goes on was taken"
    stop.set()
    t.join()
    t0 = time.monotonic()
    waiter.join(10)
    assert done.is_set() and 0.4 < time.monotonic() - t0 < 5
    lock.release()


def test_the_holder_touches_its_lock(tmp_path):
    path = tmp_path / "s.lock"
    with StoreLock(path, heartbeat=0.1):
        first = path.stat().st_mtime_ns
        time.sleep(0.5)
        assert path.stat().st_mtime_ns > first


def test_pointer_updates_from_many_processes_are_all_kept(tmp_path):
    """Eight processes recording steps in one experiment.json at once: none is lost."""
    code = (
        "import sys\nfrom pathlib import Path\nfrom vocloud.store import ExperimentFolder\n"
        "f = ExperimentFolder(sys.argv[1])\n"
        "for k in range(5):\n"
        "    f.record_step(Path('features-a.zarr'), {'method': f'm{sys.argv[2]}-{k}',"
        " 'input': 'features'})\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(i)]) for i in range(8)
    ]
    assert [p.wait(120) for p in procs] == [0] * 8
    steps = ExperimentFolder(tmp_path).recorded_steps(Path("features-a.zarr"))
    assert sorted(s["method"] for s in steps) == sorted(
        f"m{i}-{k}" for i in range(8) for k in range(5)
    )
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_iterations_recorded_by_many_processes_get_distinct_numbers(tmp_path):
    """Six processes recording active-learning iterations at once: 1..30, each recorded once."""
    code = (
        "import sys\nfrom vocloud.store import ExperimentFolder\n"
        "f = ExperimentFolder(sys.argv[1])\n"
        "for k in range(5):\n"
        "    f.record_iteration({'who': f'{sys.argv[2]}-{k}'})\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(i)]) for i in range(6)
    ]
    assert [p.wait(120) for p in procs] == [0] * 6
    records = ExperimentFolder(tmp_path).iteration_records()
    assert [r["iteration"] for r in records] == list(range(1, 31))
    assert sorted(r["who"] for r in records) == sorted(
        f"{i}-{k}" for i in range(6) for k in range(5)
    )

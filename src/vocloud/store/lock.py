"""The run lock of a feature store: one run writes a store at a time, on a laptop or a cluster.

How it holds on every file system an experiment folder may live on (local disks, NFS, Lustre,
GPFS):

* The lock is a file, ``<store>.lock``, made by writing the holder's record (who, host, pid,
  start time) to a temporary file and hard-linking it to the lock's name: ``link(2)`` is atomic
  and fails when the name exists on all of them (it is what ``open(2)`` recommends on NFS, where
  ``O_EXCL`` was not always atomic), and the lock never exists half-written.
* The holder also holds ``flock`` on it. ``flock``/``fcntl`` alone would not do: Lustre honours
  them across nodes only when mounted with ``-o flock`` (``localflock`` keeps them per node),
  NFS only with a working ``lockd``. On the holder's host it tells a waiter at once that the
  holder is dead (the kernel drops the locks of a dead process); elsewhere the heartbeat does.
* A dead holder's lock is taken over. Same host: its pid is gone, a zombie, or another process
  (its start time differs), or its ``flock`` is free. Other host: the holder touches the lock
  every ``heartbeat`` seconds; a waiter that sees the lock's mtime and content unchanged for
  ``stale_after`` seconds *of its own monotonic clock* takes it (no two hosts' clocks compared).
* A takeover is serialised by a second, short-lived lock (``<store>.lock.break``) and removes
  the lock only when its content is still the record judged dead, so two waiters never remove
  each other's fresh lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vocloud.store.clock import utc_now

#: Seconds between two touches of a held lock.
HEARTBEAT = 10.0
#: Seconds a lock of another host may stay untouched before it is taken for dead.
STALE_AFTER = 60.0
#: A ``.break`` lock older than this (seconds) is left by a crashed takeover and removed.
BREAK_STALE = 30.0


class StoreLocked(RuntimeError):
    """Another run holds the store's lock (raised when not waiting for it)."""


@dataclass(frozen=True)
class LockRecord:
    """Who holds a lock: written into the lock file as JSON."""

    holder: str
    host: str
    pid: int
    started: str
    token: str
    process_start: str | None = None
    flock: bool = False

    def describe(self) -> str:
        """``"vocloud run (pid 1234 on node7, since 2026-12-06T15:00:00+00:00)"``."""
        return f"{self.holder} (pid {self.pid} on {self.host}, since {self.started})"


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux: clock ticks since boot), ``""`` when it runs but
    this system does not tell, None when it does not run (or is a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except FileNotFoundError:
        return None
    except OSError:
        stat = ""
    if stat:
        fields = stat[stat.rindex(")") + 2 :].split()
        return None if fields[0] in ("Z", "X") else fields[19]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return ""


def _link_create(path: Path, content: bytes, hold: bool = False) -> tuple[bool, int | None]:
    """Create ``path`` holding ``content`` atomically (write a temporary file, hard-link it);
    False when ``path`` exists. With ``hold``, the file is returned open with ``flock`` taken
    (before it is linked, so that no waiter sees the lock without its ``flock``)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    try:
        os.write(fd, content)
        os.fsync(fd)
        if hold:
            with contextlib.suppress(OSError):  # no flock here: waiters use the pid alone
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False, None
        except OSError:  # no hard links on this file system: O_EXCL, then the content
            try:
                fd2 = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False, None
            os.write(fd2, content)
            os.close(fd2)
        if hold:
            keep, fd = fd, -1
            return True, keep
        return True, None
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


class StoreLock:
    """An exclusive lock on a feature store, held by one run at a time (see the module's notes).

    Parameters
    ----------
    path : str or Path
        The lock file (``<store>.lock``).
    holder : str
        What holds it, shown to whoever waits (``"vocloud run"``).
    heartbeat, stale_after : float
        Seconds between touches of the held lock; seconds without a touch after which another
        host's lock is taken for dead.
    poll : float
        Seconds between two looks at a held lock while waiting.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "features-x.zarr.lock"
    >>> with StoreLock(p, holder="doctest"):
    ...     StoreLock(p).acquire(wait=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vocloud.store.lock.StoreLocked: ...features-x.zarr.lock is held by doctest (pid ...
    >>> p.exists()
    False
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        holder: str = "vocloud run",
        heartbeat: float = HEARTBEAT,
        stale_after: float = STALE_AFTER,
        poll: float = 0.5,
    ) -> None:
        self.path = Path(path)
        self.holder = holder
        self.heartbeat = float(heartbeat)
        self.stale_after = float(stale_after)
        self.poll = float(poll)
        self._fd: int | None = None
        self._content = b""
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._seen: tuple[bytes, int, float] | None = None  # (content, mtime_ns, first seen)

    # -- holding ----------------------------------------------------------------------------
    def acquire(self, *, wait: bool = True, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock; while another live run holds it, wait (``on_wait`` is told once who
        holds it) or, with ``wait=False``, raise :class:`StoreLocked` naming the holder."""
        told = False
        while True:
            if self._try_take():
                return
            record, content, mtime = self._look()
            if content is None:  # released just now: try again at once
                continue
            if self._dead(record, content, mtime):
                self._break(content)
                continue
            who = record.describe() if record else "an unreadable record"
            message = f"{self.path} is held by {who}"
            if not wait:
                raise StoreLocked(message)
            if on_wait is not None and not told:
                on_wait(f"{message}; waiting for it")
                told = True
            time.sleep(self.poll)

    def _try_take(self) -> bool:
        pid = os.getpid()
        record = LockRecord(
            holder=self.holder,
            host=socket.gethostname(),
            pid=pid,
            started=utc_now(),
            token=uuid.uuid4().hex,
            process_start=_process_start(pid),
            flock=True,
        )
        content = json.dumps(record.__dict__).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        made, fd = _link_create(self.path, content, hold=True)
        if not made:
            return False
        self._fd, self._content = fd, content
        self._stop.clear()
        self._beat = threading.Thread(target=self._beat_loop, name="vocloud-lock", daemon=True)
        self._beat.start()
        return True

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self) -> None:
        """Give the lock up (remove the lock file if it is still this holder's)."""
        if self._fd is None:
            return
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        try:
            if self._read_content() == self._content:
                os.unlink(self.path)
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    # -- looking at another holder ----------------------------------------------------------
    def _read_content(self) -> bytes | None:
        try:
            with open(self.path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def _look(self) -> tuple[LockRecord | None, bytes | None, int]:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return None, None, 0
        content = self._read_content()
        if content is None:
            return None, None, 0
        try:
            record = LockRecord(**json.loads(content))
        except (ValueError, TypeError):
            record = None
        return record, content, mtime

    def holder_record(self) -> LockRecord | None:
        """The record of whoever holds the lock now (None when it is free)."""
        return self._look()[0]

    def _dead(self, record: LockRecord | None, content: bytes, mtime: int) -> bool:
        if record is not None and record.host == socket.gethostname():
            if record.pid == os.getpid():
                return False  # this process (another thread or experiment) holds it
            start = _process_start(record.pid)
            if start is None or (start and record.process_start and start != record.process_start):
                return True
            if record.flock and self._flock_free():
                return True
            return False
        # another host (or an unreadable record): dead when untouched for stale_after seconds
        now = time.monotonic()
        if self._seen is None or self._seen[:2] != (content, mtime):
            self._seen = (content, mtime, now)
            return False
        return now - self._seen[2] >= self.stale_after

    def _flock_free(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        else:
            return True
        finally:
            os.close(fd)  # releases the flock taken just above, if any

    def _break(self, content: bytes) -> None:
        """Remove a dead holder's lock, if it is still that one."""
        brk = self.path.with_name(self.path.name + ".break")
        made, _ = _link_create(brk, f"{socket.gethostname()} {os.getpid()}".encode())
        if not made:
            with contextlib.suppress(OSError):
                if time.time() - os.stat(brk).st_mtime > BREAK_STALE:
                    os.unlink(brk)
            time.sleep(min(self.poll, 0.1))
            return
        try:
            if self._read_content() == content:
                os.unlink(self.path)
        finally:
            self._seen = None
            with contextlib.suppress(OSError):
                os.unlink(brk)

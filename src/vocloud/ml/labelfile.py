"""The experiment's labels file, written by people labelling by eye (dashboard) and read by steps.

A CSV of ``id,label,time`` (UTC ISO time of the change) kept as a log: a change appends one row
per labelled id, under an exclusive lock on ``<file>.lock``, so a click costs the same whatever
the number of labels. The last row of an id is its label; an empty label takes it back;
``unsure`` is a label like any other. Readers (:func:`read_label_table`, and
:func:`vocloud.ml.labels.load_labels` for any CSV with these three columns) fold the log so,
under a shared lock, and never see half a row. When the rows appended since the file was last
written whole outgrow it (the log at least twice the label set, and over :data:`COMPACT_MIN_BYTES`),
the change that notices rewrites it with one row per id (temporary file + rename: a crash never
leaves half a file). Two browser sessions labelling at once both keep their labels.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
>>> save_labels(path, {"s1": "shell", "s2": "absorption"}, time="2026-12-06T15:00:00+00:00")
2
>>> _ = save_labels(path, {"s2": "unsure"})
>>> _ = save_labels(path, {"s3": "shell"})
>>> _ = save_labels(path, {"s3": ""})  # taken back
>>> read_label_table(path)[["id", "label"]].values.tolist()
[['s1', 'shell'], ['s2', 'unsure']]
>>> len(path.read_text().splitlines())  # the header and one row per change
6
>>> compact_labels(path)
2
>>> path.read_text().splitlines()[1]
's1,shell,2026-12-06T15:00:00+00:00'
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd

from vocloud.store.clock import utc_now
from vocloud.store.folder import LABELS_FILE, ExperimentFolder

__all__ = [
    "COLUMNS",
    "LABELS_FILE",
    "compact_labels",
    "experiment_labels",
    "fold_label_log",
    "is_label_log",
    "read_label_table",
    "save_labels",
]


COLUMNS = ("id", "label", "time")
#: A log is rewritten with one row per id only once its appended rows exceed this many bytes
#: (and the size it had when last written whole): small files are not rewritten every few clicks.
COMPACT_MIN_BYTES = 64 * 1024


def experiment_labels(experiment_dir: str | os.PathLike[str]) -> Path:
    """The labels file of an experiment folder (it may not exist yet)."""
    return ExperimentFolder(experiment_dir).labels_path


# A short flock, not StoreLock: held for an append and freed by the kernel if its holder dies.
@contextlib.contextmanager
def _locked(path: Path, *, shared: bool = False) -> Iterator[int | None]:
    """``flock`` on ``<path>.lock``: exclusive (creating the folder), or shared for a reader.

    Yields the lock file's descriptor (it also keeps :func:`_sizes`); None for a reader that
    cannot create the lock file (a read-only folder, where no writer can write either).
    """
    lock = path.with_name(path.name + ".lock")
    if shared:
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError:
            yield None
            return
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the flock


def _sizes(lock_fd: int) -> tuple[int, int] | None:
    """(size when last written whole, size after the last change) as the lock file keeps them."""
    try:
        rec = json.loads(os.pread(lock_fd, 256, 0) or b"null")
        return int(rec["whole"]), int(rec["written"])
    except (ValueError, TypeError, KeyError):
        return None


def _keep_sizes(lock_fd: int, whole: int, written: int) -> None:
    data = json.dumps({"whole": whole, "written": written}).encode()
    os.pwrite(lock_fd, data, 0)
    os.ftruncate(lock_fd, len(data))


def is_label_log(columns: object) -> bool:
    """Whether a table with these columns is a labels file as :func:`save_labels` writes it."""
    return set(COLUMNS) <= {str(c) for c in columns}  # type: ignore[attr-defined]


def fold_label_log(frame: pd.DataFrame) -> pd.DataFrame:
    """The labels of a log: the last row of each id, without the ids whose last label is empty.

    Rows are kept in the order of their last change.

    Examples
    --------
    >>> log = pd.DataFrame({"id": ["a", "b", "a", "b"], "label": ["x", "y", "z", ""]})
    >>> fold_label_log(log).values.tolist()
    [['a', 'z']]
    """
    last = frame.drop_duplicates("id", keep="last")
    return last[last["label"] != ""].reset_index(drop=True)


def _read_log(p: Path) -> pd.DataFrame:
    frame = pd.read_csv(p, dtype=str, keep_default_na=False, na_filter=False)
    if frame.isna().to_numpy().any():  # rows shorter than the header
        frame = frame.fillna("")
    missing = [c for c in ("id", "label") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{p}: labels file without column(s) {missing} (has {list(frame.columns)})"
        )
    if "time" not in frame.columns:
        frame["time"] = ""
    return frame


def read_label_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The labels of the labels file as a DataFrame of ``id, label, time`` (the log folded: one
    row per labelled id, in the order of their last change; empty when there is no file).

    Raises
    ------
    ValueError
        The file has no ``id`` or ``label`` column.
    """
    p = Path(path)
    if not p.exists():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    with _locked(p, shared=True):  # a change being appended is read whole or not at all
        return fold_label_log(_read_log(p))


def _csv_rows(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def _write_whole(p: Path, frame: pd.DataFrame) -> int:
    """Write ``frame`` as the labels file by temporary file + rename; its size."""
    fd, tmp = tempfile.mkstemp(prefix=p.name + ".", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            frame.to_csv(fh, index=False, lineterminator="\n")
            fh.flush()
            os.fsync(fh.fileno())
            size = fh.tell()
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return size


def _header(p: Path) -> list[str] | None:
    """The column names of an existing labels file (None when it is empty)."""
    with open(p, encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh), None)


def compact_labels(path: str | os.PathLike[str]) -> int:
    """Rewrite the labels file with one row per labelled id (what :func:`save_labels` does when
    the log has outgrown the labels); the number of labels. Nothing to do without a file."""
    p = Path(path)
    with _locked(p) as lock_fd:
        if not p.exists():
            return 0
        frame = fold_label_log(_read_log(p))
        size = _write_whole(p, frame)
        _keep_sizes(lock_fd, size, size)
    return len(frame)


def save_labels(
    path: str | os.PathLike[str], labels: Mapping[str, str], *, time: str | None = None
) -> int:
    """Give (or change, or take back) the labels of some spectra in the labels file.

    One row per id is appended to the file (created with its folder and header if missing) and
    synced before the lock is released; the file is rewritten whole only when the log has
    outgrown its labels, or when its columns are not ``id, label, time``.

    Parameters
    ----------
    path : path
        The labels file.
    labels : mapping
        ``{id: label}``; an empty label takes that id's label back.
    time : str, optional
        ISO time recorded with these labels (default: now, UTC).

    Returns
    -------
    int
        Number of ids written or taken back.

    Raises
    ------
    ValueError
        An id or a label with a line break (it would corrupt the CSV file), an empty id, or an
        existing file without ``id`` or ``label`` column.
    """
    p = Path(path)
    stamp = time or utc_now("milliseconds")
    clean: dict[str, str] = {}
    for k, v in labels.items():
        key, val = str(k).strip(), str(v or "").strip()
        if not key or any(c in key + val for c in "\r\n"):
            raise ValueError(f"label {val!r} of spectrum {key!r}: empty id or line break")
        clean[key] = val
    if not clean:
        return 0
    with _locked(p) as lock_fd:
        assert lock_fd is not None
        size = p.stat().st_size if p.exists() else 0
        header = _header(p) if size else list(COLUMNS)
        if header is None or not is_label_log(header):  # e.g. written by hand: whole, with time
            frame = _read_log(p) if size else pd.DataFrame(columns=list(COLUMNS))
            new = pd.DataFrame({"id": list(clean), "label": list(clean.values()), "time": stamp})
            frame = fold_label_log(pd.concat([frame, new], ignore_index=True)).fillna("")
            size = _write_whole(p, frame)
            _keep_sizes(lock_fd, size, size)
            return len(clean)
        value = {"time": stamp}
        rows = [
            [k if c == "id" else v if c == "label" else value.get(c, "") for c in header]
            for k, v in clean.items()
        ]
        data = _csv_rows(rows if size else [header, *rows])
        fd = os.open(p, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a last row typed without its line end
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        written = size + len(data)
        kept = _sizes(lock_fd)
        # Sizes another program left different (the file edited or replaced): a new start.
        whole = kept[0] if kept and kept[1] == size else size if size else written
        if written - whole > max(whole, COMPACT_MIN_BYTES):
            whole = written = _write_whole(p, fold_label_log(_read_log(p)))
        _keep_sizes(lock_fd, whole, written)
    return len(clean)

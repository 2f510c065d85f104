"""The experiment's labels file, written by people labelling by eye (dashboard) and read by steps.

A CSV of ``id,label,time`` (UTC ISO time of the last change of that id's label). Every change
reads the file, replaces or adds the rows of the labelled ids, writes a temporary file and
renames it over the old one, all under an exclusive lock on ``<file>.lock``: two browser
sessions labelling at once both keep their labels, a crash never leaves half a file, and a
label given earlier is only ever replaced by a new label of the same spectrum.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
>>> save_labels(path, {"s1": "shell", "s2": "absorption"}, time="2026-12-06T15:00:00+00:00")
2
>>> _ = save_labels(path, {"s2": "unsure"})
>>> read_label_table(path)[["id", "label"]].values.tolist()
[['s1', 'shell'], ['s2', 'unsure']]
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd

from vocloud.store.clock import utc_now
from vocloud.store.folder import LABELS_FILE, ExperimentFolder

__all__ = ["LABELS_FILE", "experiment_labels", "read_label_table", "save_labels"]


COLUMNS = ("id", "label", "time")


def experiment_labels(experiment_dir: str | os.PathLike[str]) -> Path:
    """The labels file of an experiment folder (it may not exist yet)."""
    return ExperimentFolder(experiment_dir).labels_path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<path>.lock`` (POSIX ``flock``: released if the process dies)."""
    import fcntl  # POSIX only: imported where it is used, so that reading labels works anywhere

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_label_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The labels file as a DataFrame of ``id, label, time`` (empty when there is no file).

    Raises
    ------
    ValueError
        The file has no ``id`` or ``label`` column.
    """
    p = Path(path)
    if not p.exists():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    frame = pd.read_csv(p, dtype=str, keep_default_na=False)
    missing = [c for c in ("id", "label") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{p}: labels file without column(s) {missing} (has {list(frame.columns)})"
        )
    if "time" not in frame.columns:
        frame["time"] = ""
    return frame


def save_labels(
    path: str | os.PathLike[str], labels: Mapping[str, str], *, time: str | None = None
) -> int:
    """Give (or change) the labels of some spectra in the labels file, atomically.

    Parameters
    ----------
    path : path
        The labels file (created with its folder if missing).
    labels : mapping
        ``{id: label}``; an empty label removes that id's row.
    time : str, optional
        ISO time recorded with these labels (default: now, UTC).

    Returns
    -------
    int
        Number of ids written or removed.

    Raises
    ------
    ValueError
        An id or a label with a line break (it would corrupt the CSV file) or an empty id.
    """
    p = Path(path)
    stamp = time or utc_now("milliseconds")
    clean: dict[str, str] = {}
    for k, v in labels.items():
        key, val = str(k).strip(), str(v or "").strip()
        if not key or any(c in key + val for c in "\r\n"):
            raise ValueError(f"label {val!r} of spectrum {key!r}: empty id or line break")
        clean[key] = val
    with _locked(p):
        frame = read_label_table(p)
        frame = frame[~frame["id"].isin(clean)]
        new = pd.DataFrame(
            {"id": list(clean), "label": list(clean.values()), "time": stamp}, columns=COLUMNS
        )
        frame = pd.concat([frame, new[new["label"] != ""]], ignore_index=True)
        fd, tmp = tempfile.mkstemp(prefix=p.name + ".", suffix=".tmp", dir=p.parent)
        try:
            with os.fdopen(fd, "w", newline="") as fh:
                frame.to_csv(fh, index=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, p)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return len(clean)

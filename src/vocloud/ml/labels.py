"""Class labels of spectra (e.g. classified by eye) and their alignment with a feature store.

- :func:`load_labels` -- labels from a CSV or VOTable file, a pandas DataFrame/Series, an astropy
  Table or a mapping, as a :class:`pandas.Series` (index: spectrum id, values: label ``str``);
- :func:`align_labels` -- the rows of a feature store that carry a label, and those labels.

Examples
--------
>>> from vocloud.ml.labels import align_labels, load_labels
>>> labels = load_labels({"b": "shell", "c": "absorption", "x": "shell"})
>>> rows, y = align_labels(["a", "b", "c"], labels)
>>> rows.tolist(), y.tolist()
([1, 2], ['shell', 'absorption'])
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from astropy.table import Table

from vocloud.ml.labelfile import is_label_log, read_label_table

__all__ = ["align_labels", "labels_digest", "load_labels"]

_VOTABLE_SUFFIXES = (".vot", ".votable", ".xml", ".vot.gz", ".xml.gz")
_MAX_LISTED = 10


def _as_str(values: Any) -> pd.Series:
    """Values as stripped ``str`` (bytes decoded), missing values kept as ``None``."""

    def conv(v: Any) -> str | None:
        if v is None or v is np.ma.masked:
            return None
        if isinstance(v, float) and np.isnan(v):
            return None
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        s = str(v).strip()
        return s or None

    return pd.Series([conv(v) for v in values], dtype=object)


def _read_votable(path: Path) -> pd.DataFrame:
    try:
        table = Table.read(str(path), format="votable")
    except Exception as exc:  # astropy raises many kinds on bad XML
        raise ValueError(f"{path}: cannot read as a VOTable: {exc}") from exc
    return _table_frame(table)


def _table_frame(table: Any) -> pd.DataFrame:
    """An astropy Table as a DataFrame of object columns (no masked-array surprises)."""
    return pd.DataFrame(
        {name: list(np.ma.filled(table[name], fill_value=None)) for name in table.colnames}
        if len(table)
        else {name: [] for name in table.colnames}
    )


def _is_votable(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(_VOTABLE_SUFFIXES):
        return True
    if name.endswith((".csv", ".tsv", ".txt", ".csv.gz")):
        return False
    with open(path, "rb") as fh:
        head = fh.read(512).lstrip().lower()
    return head.startswith((b"<?xml", b"<votable"))


def _frame_from_source(source: Any, id_column: str) -> tuple[pd.DataFrame, str]:
    """The labels source as a DataFrame and a description of it for error messages."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"labels file not found: {path}")
        if _is_votable(path):
            return _read_votable(path), str(path)
        sep = "\t" if path.name.lower().endswith(".tsv") else ","
        try:
            header = pd.read_csv(path, sep=sep, nrows=0).columns
            if sep == "," and is_label_log(header):  # the last word of each id, read locked
                return read_label_table(path), str(path)
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep)
        except Exception as exc:
            raise ValueError(f"{path}: cannot read as CSV: {exc}") from exc
        return frame, str(path)
    if isinstance(source, pd.Series):
        frame = source.rename("label").rename_axis(id_column).reset_index()
        return frame, "the labels Series"
    if isinstance(source, pd.DataFrame):
        frame = source
        if id_column not in frame.columns and frame.index.name == id_column:
            frame = frame.reset_index()
        return frame, "the labels DataFrame"
    if hasattr(source, "colnames"):  # astropy Table
        return _table_frame(source), "the labels Table"
    if isinstance(source, Mapping):
        frame = pd.DataFrame(
            {id_column: list(source.keys()), "label": list(source.values())}, dtype=object
        )
        return frame, "the labels mapping"
    raise TypeError(
        "labels source must be a CSV/VOTable path, a pandas DataFrame or Series, an astropy "
        f"Table or a mapping, not {type(source).__name__}"
    )


def load_labels(
    source: str | os.PathLike[str] | pd.DataFrame | pd.Series | Mapping[Any, Any] | Any,
    *,
    id_column: str = "id",
    label_column: str = "label",
) -> pd.Series:
    """Load class labels of spectra.

    Parameters
    ----------
    source : path, DataFrame, Series, astropy Table or mapping
        A CSV file (``.tsv``: tab separated), a VOTable file (``.vot``, ``.xml``, or any file
        starting with ``<?xml``/``<VOTABLE``), a table with ``id_column`` and ``label_column``
        (a DataFrame may hold the ids in its index of that name), a Series (index: ids, values:
        labels) or a mapping ``{id: label}``. A CSV file with columns ``id``, ``label`` and
        ``time`` is a labels file as :func:`vocloud.ml.labelfile.save_labels` writes it: a log
        of changes, whose last row of an id is its label (an empty one: no label).
    id_column, label_column : str
        Column names of the spectrum id and of the label (ignored for a Series or a mapping).

    Returns
    -------
    pandas.Series
        Index: spectrum ids (``str``, named ``id_column``); values: labels (``str``), named
        ``label_column``. Rows with an empty or missing label are dropped; ids are stripped of
        surrounding blanks; repeated ``(id, label)`` rows are kept once.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    KeyError
        A column is missing; the message names the source and the columns it has.
    ValueError
        An id has conflicting labels (the message names them), an id is missing, or the file
        cannot be parsed.

    Examples
    --------
    >>> import pandas as pd
    >>> load_labels(pd.DataFrame({"id": ["s1", "s2", "s2"], "label": ["shell", "absorption",
    ...                                                               "absorption"]})).to_dict()
    {'s1': 'shell', 's2': 'absorption'}
    >>> load_labels(pd.DataFrame({"obsid": ["s1"], "label": ["x"]}))
    Traceback (most recent call last):
    ...
    KeyError: "the labels DataFrame has no id column 'id' (columns: obsid, label)"
    >>> load_labels({"s1": "shell", "s2": "shell"}).index.name
    'id'
    """
    frame, what = _frame_from_source(source, id_column)
    is_pair = isinstance(source, pd.Series | Mapping) and not isinstance(source, pd.DataFrame)
    lab_col = "label" if is_pair else label_column
    columns = [str(c) for c in frame.columns]
    for kind, col in (("id", id_column), ("label", lab_col)):
        if col not in frame.columns:
            raise KeyError(f"{what} has no {kind} column {col!r} (columns: {', '.join(columns)})")
    ids = _as_str(frame[id_column].to_numpy())
    labels = _as_str(frame[lab_col].to_numpy())
    has_label = labels.notna().to_numpy()
    if (ids.isna().to_numpy() & has_label).any():
        n = int((ids.isna().to_numpy() & has_label).sum())
        raise ValueError(f"{what}: {n} labelled rows have no {id_column!r}")
    pairs = pd.DataFrame({"id": ids[has_label], "label": labels[has_label]}).drop_duplicates()
    dup = pairs["id"].duplicated(keep=False).to_numpy()
    if dup.any():
        conflicts = pairs[dup].groupby("id", sort=True)["label"].apply(lambda s: sorted(s))
        listed = "; ".join(f"{i!r}: {', '.join(v)}" for i, v in conflicts.head(_MAX_LISTED).items())
        more = f" and {len(conflicts) - _MAX_LISTED} more" if len(conflicts) > _MAX_LISTED else ""
        raise ValueError(f"{what}: {len(conflicts)} ids have conflicting labels: {listed}{more}")
    return pd.Series(
        pairs["label"].to_numpy(dtype=object),
        index=pd.Index(pairs["id"].to_numpy(dtype=object), name=id_column),
        name=label_column,
        dtype=object,
    )


def labels_digest(labels: pd.Series | Mapping[Any, Any]) -> str:
    """SHA-256 of a set of labels: of its ``(id, label)`` pairs sorted by id, so that it changes
    exactly when a label is given, changed or taken back (not with the order of the rows, the
    times or a rewrite of the file that holds them).

    Examples
    --------
    >>> labels_digest({"b": "shell", "a": "x"}) == labels_digest({"a": "x", "b": "shell"})
    True
    >>> labels_digest({"a": "x"}) == labels_digest({"a": "unsure"})
    False
    """
    items = labels.items() if isinstance(labels, Mapping) else zip(labels.index, labels.to_numpy())
    pairs = sorted((str(i), str(v)) for i, v in items)
    return hashlib.sha256(json.dumps(pairs, ensure_ascii=False).encode()).hexdigest()


def align_labels(
    ids: Sequence[Any] | np.ndarray | Any, labels: pd.Series | Mapping[Any, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Match labels to the spectra of a store by id.

    Parameters
    ----------
    ids : array-like
        The ids of the store rows (e.g. ``ds["id"]`` of :func:`vocloud.store.open_store`).
    labels : Series or mapping
        As returned by :func:`load_labels` (index: id, values: label).

    Returns
    -------
    row_indices : numpy.ndarray of int64
        Ascending rows of ``ids`` that have a label.
    y : numpy.ndarray of object
        Their labels (``str``).

    Warns
    -----
    UserWarning
        Some labelled ids are not in ``ids`` (count and examples).

    Raises
    ------
    ValueError
        No labelled id is in ``ids``.

    Examples
    --------
    >>> rows, y = align_labels(np.array(["a", "b", "c", "d"]), {"d": "shell", "a": "shell"})
    >>> rows, y
    (array([0, 3]), array(['shell', 'shell'], dtype=object))
    """
    if not isinstance(labels, pd.Series):
        labels = load_labels(labels)
    store_ids = _as_str(np.asarray(ids, dtype=object).ravel())
    lab_index = pd.Index(_as_str(labels.index.to_numpy()))
    if lab_index.has_duplicates:
        raise ValueError("labels have duplicate ids: use load_labels() to check them")
    pos = lab_index.get_indexer(store_ids.to_numpy(dtype=object))
    rows = np.flatnonzero(pos >= 0).astype(np.int64)
    if rows.size == 0:
        raise ValueError(
            f"none of the {len(labels)} labelled ids is among the {len(store_ids)} store ids "
            f"(labels e.g. {list(lab_index[:3])}, store e.g. {list(store_ids[:3])})"
        )
    found = np.zeros(len(lab_index), dtype=bool)
    found[pos[rows]] = True
    if not found.all():
        missing = lab_index[~found]
        warnings.warn(
            f"{missing.size} of {len(lab_index)} labelled ids are not in the store, "
            f"e.g. {list(missing[:5])}",
            UserWarning,
            stacklevel=2,
        )
    y = labels.to_numpy(dtype=object)[pos[rows]]
    return rows, y

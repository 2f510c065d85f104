"""The spectra list: a pandas DataFrame with one row per spectrum, and what vocloud derives from it.

Columns follow IVOA names where they exist: ``id``, ``access_url``, ``access_format``, ``s_ra``,
``s_dec``, ``em_min``, ``em_max`` (metres), ``target``, plus pass-through columns. Users may filter the
DataFrame before running an experiment on it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

SpectraList = pd.DataFrame
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz")

#: Columns that identify the content of a spectrum in the cache key, when present.
_KEY_COLUMNS = ("id", "access_url", "size", "mtime_ns")


def duplicate_reasons(spectra: pd.DataFrame) -> np.ndarray:
    """For each row, ``None`` or the reason it is a duplicate of an earlier row with the same ``id``.

    Examples
    --------
    >>> df = pd.DataFrame({"id": ["a", "b", "a"], "path": ["a.fits", "b.fits", "a.fits.gz"]})
    >>> duplicate_reasons(df).tolist()
    [None, None, 'duplicate id (same id as a.fits)']
    """
    out = np.full(len(spectra), None, dtype=object)
    ids = spectra["id"].to_numpy()
    dup = pd.Series(ids).duplicated(keep="first").to_numpy()
    if dup.any():
        label = spectra["path"] if "path" in spectra else spectra["id"]
        first = {}
        for i, (k, lab) in enumerate(zip(ids, label)):
            if not dup[i]:
                first.setdefault(k, lab)
            else:
                out[i] = f"duplicate id (same id as {first[k]})"
    return out


def list_hash(spectra: pd.DataFrame) -> str:
    """A stable hash of the spectra list: ids, access URLs and, where known, file sizes and mtimes.

    Examples
    --------
    >>> df = pd.DataFrame({"id": ["a"], "access_url": ["/x/a.fits"]})
    >>> len(list_hash(df))
    64
    """
    h = hashlib.sha256()
    cols = [c for c in _KEY_COLUMNS if c in spectra.columns]
    h.update(("|".join(cols) + "\n").encode())
    for col in cols:
        values = spectra[col].to_numpy()
        if values.dtype.kind in "iuf":
            h.update(np.ascontiguousarray(values).tobytes())
        else:
            h.update("\x00".join(map(str, values)).encode("utf-8", "surrogateescape"))
        h.update(b"\x01")
    return h.hexdigest()

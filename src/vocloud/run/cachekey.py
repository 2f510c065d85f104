"""The cache key of an experiment: which spectra, processed how, give which feature store."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocloud.io.read import MAX_FILE_SIZE
from vocloud.preprocess import PreprocessParams
from vocloud.spectralist import list_hash

#: Bumped when the meaning of stored features changes, so old caches are not reused.
FEATURE_VERSION = 2


def json_default(o: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and paths."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def cache_key(
    spectra: pd.DataFrame,
    params: PreprocessParams,
    cutout: str | None = None,
    max_file_size: int = MAX_FILE_SIZE,
) -> str:
    """Hash of the spectra list, the preprocessing parameters and the feature version.

    ``cutout`` (the download option, for a list with DataLink URLs: a server cutout gives the
    continuum fit less of the spectrum) and a ``max_file_size`` other than the default (which
    files are refused) make other stores too.

    Examples
    --------
    >>> import pandas as pd
    >>> spectra = pd.DataFrame({"id": ["a"], "access_url": ["a.fits"]})
    >>> key = cache_key(spectra, PreprocessParams())
    >>> len(key), key == cache_key(spectra, PreprocessParams(), max_file_size=10)
    (64, False)
    """
    parts: dict[str, Any] = {
        "list": list_hash(spectra),
        "preprocess": params.to_dict(),
        "feature_version": FEATURE_VERSION,
    }
    if cutout is not None:
        parts["cutout"] = cutout
    if max_file_size != MAX_FILE_SIZE:
        parts["max_file_size"] = max_file_size
    payload = json.dumps(parts, sort_keys=True, default=json_default)
    return hashlib.sha256(payload.encode()).hexdigest()

"""The raw cache: each downloaded body on disk under the hash of its URL (without credentials)
and query, written atomically, so a rerun downloads nothing twice."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from vocloud.fetch.urls import redact

__all__ = ["cache_key", "cache_path", "cache_read", "cache_write"]

log = logging.getLogger(__name__)


def cache_key(url: str, params: Mapping[str, Any] | None = None) -> str:
    """The cache key of a URL: sha256 (hex) of the URL without credentials and the sorted params.

    Parameters
    ----------
    url : str
        The URL; ``user:password@`` is removed before hashing.
    params : mapping or None
        Query parameters added by :func:`fetch`; their order does not matter.

    Returns
    -------
    str
        64 hex digits; the cache file is ``<cache_dir>/<key[:2]>/<key>``.

    Examples
    --------
    >>> k = cache_key("https://user:secret@example.org/spec/1.fits")
    >>> k == cache_key("https://example.org/spec/1.fits")
    True
    >>> len(k)
    64
    >>> cache_key("http://h/x", {"b": 2, "a": 1}) == cache_key("http://h/x", {"a": 1, "b": 2})
    True
    >>> cache_key("http://h/x", {"a": 1}) == cache_key("http://h/x")
    False
    """
    text = redact(url)
    if params:
        text += "\n" + urlencode(sorted((str(k), str(v)) for k, v in params.items()))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def cache_path(cache_dir: str, key: str) -> str:
    return os.path.join(cache_dir, key[:2], key)


def cache_read(path: str, shown: str) -> bytes | None:
    """The cached body at ``path``, or None when there is none (or it cannot be read)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read the fetch cache for %s: %s", shown, exc)
        return None
    log.debug("fetch cache hit %s", shown)
    return data


def cache_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then replace)."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    except OSError as exc:
        log.warning("cannot write to the fetch cache %s: %s", folder, exc)
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot write to the fetch cache %s: %s", folder, exc)
        try:
            os.unlink(tmp)
        except OSError:
            pass

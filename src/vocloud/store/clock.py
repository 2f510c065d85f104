"""The time stamps of the experiment folder's records: UTC, ISO 8601.

Lock holders, pointer file, step records, iteration records and labels all stamp their time
here, so that they compare as strings and read alike.

Examples
--------
>>> stamp = utc_now()
>>> stamp.endswith("+00:00") and len(stamp) == len("2026-12-06T15:00:00+00:00")
True
>>> len(utc_now("milliseconds")) == len("2026-12-06T15:00:00.000+00:00")
True
"""

from __future__ import annotations

import datetime as _dt

__all__ = ["utc_now"]


def utc_now(timespec: str = "seconds") -> str:
    """The current UTC time as ISO 8601 with its offset, e.g. ``2026-12-06T15:00:00+00:00``.

    Parameters
    ----------
    timespec : str
        Precision, as :meth:`datetime.datetime.isoformat` takes it (``"seconds"``,
        ``"milliseconds"``, ...).

    Examples
    --------
    >>> utc_now()[:2]
    '20'
    """
    return _dt.datetime.now(_dt.UTC).isoformat(timespec=timespec)

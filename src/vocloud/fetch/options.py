"""How remote spectra are fetched: :class:`FetchOptions`, checked once when made, frozen and
picklable, so the same object goes from the experiment to every task."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from vocloud.fetch.credentials import Credentials

__all__ = ["CUTOUT_MODES", "DEFAULT_OPTIONS", "FetchOptions"]

CUTOUT_MODES = ("server", "local", "none")


@dataclass(frozen=True)
class FetchOptions:
    """How remote spectra are fetched.

    Parameters
    ----------
    concurrency : int
        Parallel requests per server (``host:port``) for the whole run: inside a
        dask.distributed worker a cluster-wide :class:`distributed.Semaphore` per server bounds
        the requests of all tasks together; elsewhere a semaphore of the process does.
    retries : int
        Extra attempts on 5xx answers, timeouts, connection errors and truncated bodies; none on
        4xx answers.
    timeout : float
        Seconds, for the connection and for each read (not for the whole download).
    backoff : float
        Seconds waited before the first retry, doubled for each further retry.
    cache_dir : str or None
        Folder of an on-disk cache of the raw downloads; None: no cache.
    cutout : {"server", "local", "none"}
        For spectra with a DataLink service (TAP, ObsCore and SSAP lists): ``"server"`` asks the
        service's SODA endpoint for a cutout around the experiment's line (BAND in metres) and
        falls back to the whole file when the service offers no SODA; ``"local"`` fetches the
        whole file (DataLink ``#this``) and cuts it locally; ``"none"`` fetches ``access_url`` as
        it is, resolving DataLink only when the access URL is a DataLink document.
    credentials : Credentials or mapping
        Logins per host (``host`` or ``host:port``): ``{"archive.example.org": {"user": "alice",
        "password_env": "ARCHIVE_PASSWORD"}}`` (the password read from that environment
        variable when the request is made) or ``{"user": ..., "password": ...}``. Sent only to
        the matching host (HTTP Basic or FTP login); never shown by ``repr``, in errors or logs.

    Examples
    --------
    >>> FetchOptions.from_dict({"retries": 1, "timeout": 5})  # doctest: +NORMALIZE_WHITESPACE
    FetchOptions(concurrency=8, retries=1, timeout=5.0, backoff=0.5, cache_dir=None,
                 cutout='server', credentials=Credentials({}))
    >>> FetchOptions.from_dict({"credentials": {"ftp.example.org:21": {"user": "bob",
    ...                                                                "password": "secret"}}})
    ...                                                     # doctest: +NORMALIZE_WHITESPACE
    FetchOptions(concurrency=8, retries=3, timeout=30.0, backoff=0.5, cache_dir=None,
                 cutout='server', credentials=Credentials({'ftp.example.org:21': {'user': 'bob',
                 'password': '***'}}))
    >>> FetchOptions.from_dict({"retry": 1})
    Traceback (most recent call last):
    ...
    ValueError: unknown fetch option(s): 'retry'; valid options: 'concurrency', 'retries', 'timeout', 'backoff', 'cache_dir', 'cutout', 'credentials'
    """

    concurrency: int = 8
    retries: int = 3
    timeout: float = 30.0
    backoff: float = 0.5
    cache_dir: str | None = None
    cutout: str = "server"
    credentials: Credentials = field(default_factory=Credentials)

    def __post_init__(self) -> None:
        object.__setattr__(self, "credentials", Credentials.from_config(self.credentials))
        if self.cutout not in CUTOUT_MODES:
            raise ValueError(
                f"fetch option 'cutout' must be one of {', '.join(CUTOUT_MODES)}, not {self.cutout!r}"
            )
        for name, low in (("concurrency", 1), ("retries", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"fetch option {name!r} must be an integer >= {low}, not {value!r}"
                )
        for name, positive in (("timeout", True), ("backoff", False)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"fetch option {name!r} must be a number, not {value!r}")
            if (
                not (value > 0 if positive else value >= 0)
                or value != value
                or value == float("inf")
            ):
                bound = "> 0" if positive else ">= 0"
                raise ValueError(f"fetch option {name!r} must be finite and {bound}, not {value!r}")
            object.__setattr__(self, name, float(value))
        if self.cache_dir is not None:
            if not isinstance(self.cache_dir, str | os.PathLike) or not os.fspath(self.cache_dir):
                raise ValueError(
                    f"fetch option 'cache_dir' must be a path or None, not {self.cache_dir!r}"
                )
            object.__setattr__(self, "cache_dir", str(os.fspath(self.cache_dir)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | FetchOptions | None) -> FetchOptions:
        """Options from a mapping (e.g. a ``fetch:`` section of a configuration).

        Parameters
        ----------
        d : mapping, FetchOptions or None
            Option names and values; missing ones keep their default. A :class:`FetchOptions`
            is returned as it is (it was checked when it was made).

        Returns
        -------
        FetchOptions

        Raises
        ------
        ValueError
            If a key is not an option (all unknown keys are named) or a value is invalid.
        """
        if d is None:
            return cls()
        if isinstance(d, FetchOptions):
            return d  # already checked: options are parsed once, then passed on as they are
        if not isinstance(d, Mapping):
            raise ValueError(f"fetch options must be a mapping, not {type(d).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = [k for k in d if k not in names]
        if unknown:
            raise ValueError(
                f"unknown fetch option(s): {', '.join(repr(k) for k in unknown)}; "
                f"valid options: {', '.join(repr(n) for n in names)}"
            )
        return cls(**d)


#: The options used when none are given.
DEFAULT_OPTIONS = FetchOptions()

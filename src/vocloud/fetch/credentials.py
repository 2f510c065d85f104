"""Credentials for remote archives, per host: from the experiment file or from the environment.

A password is only ever sent to the hosts it was configured for:

* ``fetch: credentials:`` in the experiment file (:class:`Credentials`) maps a host name, or
  ``host:port``, to a login: ``{user: alice, password_env: ARCHIVE_PASSWORD}`` (the password is
  read from that environment variable where and when the request is made, e.g. on a Dask worker)
  or ``{user: bob, password: secret}`` (allowed, but the password then sits in the file).
  Host names match the URL's host case-insensitively; a key with a port matches only that port
  (the URL's own, or the scheme's default: 80, 443, 21), a key without one any port.
* ``VOCLOUD_HTTP_USER`` / ``VOCLOUD_HTTP_PASSWORD`` (HTTP Basic) and ``VOCLOUD_FTP_USER`` /
  ``VOCLOUD_FTP_PASSWORD`` are sent only to the hosts named in ``VOCLOUD_HTTP_HOSTS`` /
  ``VOCLOUD_FTP_HOSTS`` (comma-separated ``host`` or ``host:port``). When the user variable is
  set and the hosts variable is not, they are sent to no host, and one warning per process says
  so.

Passwords never appear in a ``repr``, an error message or a log record.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult

from vocloud.fetch.urls import port as url_port

__all__ = [
    "ENV_VARIABLES",
    "Credentials",
    "HostPattern",
    "Login",
    "MissingPasswordError",
    "configured_login",
    "env_login",
]

log = logging.getLogger(__name__)

#: Per protocol: the user, password and hosts environment variables.
ENV_VARIABLES = {
    "http": ("VOCLOUD_HTTP_USER", "VOCLOUD_HTTP_PASSWORD", "VOCLOUD_HTTP_HOSTS"),
    "ftp": ("VOCLOUD_FTP_USER", "VOCLOUD_FTP_PASSWORD", "VOCLOUD_FTP_HOSTS"),
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BAD_HOST_CHARS = re.compile(r"[\s/@?#\\%\[\]]")
_LOGIN_KEYS = ("user", "password", "password_env")


class MissingPasswordError(LookupError):
    """The environment variable that holds a configured password is not set.

    Examples
    --------
    >>> str(MissingPasswordError("archive.example.org", "ARCHIVE_PASSWORD"))
    'credentials for archive.example.org: the environment variable ARCHIVE_PASSWORD is not set'
    """

    def __init__(self, host: str, variable: str) -> None:
        super().__init__(host, variable)
        self.host = host
        self.variable = variable

    def __str__(self) -> str:
        return f"credentials for {self.host}: the environment variable {self.variable} is not set"


@dataclass(frozen=True)
class HostPattern:
    """A host name (lower case), and a port or None for any port.

    Examples
    --------
    >>> p = HostPattern.parse("FTP.Example.org:21")
    >>> p, str(p)
    (HostPattern(host='ftp.example.org', port=21), 'ftp.example.org:21')
    >>> p.matches("ftp.example.org", 21), p.matches("ftp.example.org", 2121)
    (True, False)
    >>> HostPattern.parse("[::1]:8080"), HostPattern.parse("::1")
    (HostPattern(host='::1', port=8080), HostPattern(host='::1', port=None))
    >>> HostPattern.parse("https://archive.example.org")
    Traceback (most recent call last):
    ...
    ValueError: 'https://archive.example.org': give a host name or host:port, not a URL
    """

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        """``host``, ``host:port``, ``[ipv6]``, ``[ipv6]:port`` or a bare IPv6 address."""
        if not isinstance(text, str):
            raise ValueError(f"{text!r}: a host name must be a string")
        t = text.strip()
        if "://" in t:
            raise ValueError(f"{text!r}: give a host name or host:port, not a URL")
        port_text: str | None = None
        if t.startswith("["):
            host, bracket, rest = t[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError(f"{text!r}: not a host name or host:port")
            port_text = rest[1:] if rest else None
        elif t.count(":") == 1:
            host, _, port_text = t.partition(":")
        else:
            host = t  # a name, or a bare IPv6 address
        host = host.lower()
        if not host or _BAD_HOST_CHARS.search(host):
            raise ValueError(f"{text!r}: not a host name or host:port")
        port: int | None = None
        if port_text is not None:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
            port = int(port_text)
        return cls(host, port)

    def matches(self, host: str, port: int | None) -> bool:
        """Whether a URL's host (any case) and port (its own or the scheme's default) match."""
        return host.lower() == self.host and (self.port is None or self.port == port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


@dataclass(frozen=True, repr=False)
class Login:
    """A user and where its password comes from: literal, or an environment variable.

    The ``repr`` never shows a literal password, and :meth:`resolve` reads ``password_env`` each
    time it is called (where the request is made).

    Examples
    --------
    >>> Login("bob", password="secret")
    Login(user='bob', password='***')
    >>> Login("alice", password_env="ARCHIVE_PASSWORD")
    Login(user='alice', password_env='ARCHIVE_PASSWORD')
    """

    user: str
    password: str | None = field(default=None, repr=False)
    password_env: str | None = None

    def resolve(self, host: str = "") -> tuple[str, str]:
        """``(user, password)``, reading ``password_env`` now.

        Raises
        ------
        MissingPasswordError
            ``password_env`` names a variable that is not set.
        """
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise MissingPasswordError(host or "this host", self.password_env)
            return self.user, value
        return self.user, self.password or ""

    def __repr__(self) -> str:
        how = (
            f"password_env={self.password_env!r}"
            if self.password_env is not None
            else "password='***'"
        )
        return f"Login(user={self.user!r}, {how})"

    __str__ = __repr__

    def _public(self) -> dict[str, Any]:
        """What may be shown: the user, and the variable or a redacted password."""
        if self.password_env is not None:
            return {"user": self.user, "password_env": self.password_env}
        return {"user": self.user, "password": "***"}


def _login_from_config(key: str, value: Any) -> Login:
    """A :class:`Login` from ``{user: ..., password: ...}`` or ``{user: ..., password_env: ...}``.

    Error messages name the host key and the field, never a value.
    """
    where = f"fetch option 'credentials': {key!r}"
    if isinstance(value, Login):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{where}: expected a mapping like {{user: NAME, password_env: VARIABLE}}, "
            f"not a {type(value).__name__}"
        )
    unknown = [k for k in value if k not in _LOGIN_KEYS]
    if unknown:
        names = ", ".join(repr(k) if isinstance(k, str) else type(k).__name__ for k in unknown)
        raise ValueError(
            f"{where}: unknown key(s) {names}; valid keys: user, password, password_env"
        )
    user = value.get("user")
    if not isinstance(user, str) or not user:
        raise ValueError(f"{where}: 'user' must be a non-empty string")
    has_password = value.get("password") is not None
    has_env = value.get("password_env") is not None
    if has_password == has_env:
        raise ValueError(f"{where}: give one of 'password_env' (preferred) or 'password'")
    if has_password:
        if not isinstance(value["password"], str):
            raise ValueError(
                f"{where}: 'password' must be a string (quote it in YAML), "
                f"not a {type(value['password']).__name__}"
            )
        return Login(user, password=value["password"])
    env = value["password_env"]
    if not isinstance(env, str) or not _ENV_NAME.match(env):
        raise ValueError(f"{where}: 'password_env' must be the name of an environment variable")
    return Login(user, password_env=env)


@dataclass(frozen=True, repr=False)
class Credentials:
    """Logins per host (the ``credentials`` fetch option); the ``repr`` redacts passwords.

    Parameters
    ----------
    entries : tuple of (HostPattern, Login)
        Usually made by :meth:`from_config`.

    Examples
    --------
    >>> creds = Credentials.from_config({
    ...     "archive.example.org": {"user": "alice", "password_env": "ARCHIVE_PASSWORD"},
    ...     "ftp.example.org:21": {"user": "bob", "password": "secret"},
    ... })
    >>> creds  # doctest: +NORMALIZE_WHITESPACE
    Credentials({'archive.example.org': {'user': 'alice', 'password_env': 'ARCHIVE_PASSWORD'},
                 'ftp.example.org:21': {'user': 'bob', 'password': '***'}})
    >>> creds.lookup("Archive.Example.org", 443)
    Login(user='alice', password_env='ARCHIVE_PASSWORD')
    >>> creds.lookup("ftp.example.org", 2121) is None, creds.lookup("example.org", 80) is None
    (True, True)
    >>> Credentials.from_config({"archive.example.org": {"user": "alice", "pasword": "x"}})
    Traceback (most recent call last):
    ...
    ValueError: fetch option 'credentials': 'archive.example.org': unknown key(s) 'pasword'; valid keys: user, password, password_env
    """

    entries: tuple[tuple[HostPattern, Login], ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | Credentials | None) -> Credentials:
        """Credentials from the ``credentials:`` mapping of a ``fetch:`` section.

        Raises
        ------
        ValueError
            A key is not a host name or ``host:port``, two keys name the same host and port, or
            a login is malformed; the message names the key, never a password.
        """
        if config is None:
            return cls()
        if isinstance(config, Credentials):
            return config
        if not isinstance(config, Mapping):
            raise ValueError(
                "fetch option 'credentials' must be a mapping of host names to "
                f"{{user: ..., password_env: ...}}, not a {type(config).__name__}"
            )
        entries: list[tuple[HostPattern, Login]] = []
        seen: dict[HostPattern, str] = {}
        for key, value in config.items():
            try:
                pattern = HostPattern.parse(key)
            except ValueError as exc:
                raise ValueError(f"fetch option 'credentials': {exc}") from None
            if pattern in seen:
                raise ValueError(
                    f"fetch option 'credentials': {seen[pattern]!r} and {key!r} name the same host"
                )
            seen[pattern] = key
            entries.append((pattern, _login_from_config(key, value)))
        return cls(tuple(entries))

    def lookup(self, host: str, port: int | None) -> Login | None:
        """The login for a URL's host and port: a ``host:port`` key before a ``host`` one."""
        best: Login | None = None
        for pattern, login in self.entries:
            if pattern.matches(host, port):
                if pattern.port is not None:
                    return login
                best = best or login
        return best

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[HostPattern]:
        return (p for p, _ in self.entries)

    def __repr__(self) -> str:
        return f"Credentials({ {str(p): login._public() for p, login in self.entries}!r})"

    __str__ = __repr__

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        # a task key is made from its arguments: without the literal passwords
        return tuple(
            (str(p), login.user, login.password_env, login.password is not None)
            for p, login in self.entries
        )


# --------------------------------------------------------------------------------- environment
_warned: set[str] = set()
_warn_lock = threading.Lock()


def _warn_once(key: str, message: str, *args: Any) -> None:
    with _warn_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message, *args)


def _env_hosts(variable: str) -> list[HostPattern]:
    patterns = []
    for item in os.environ.get(variable, "").split(","):
        if not item.strip():
            continue
        try:
            patterns.append(HostPattern.parse(item))
        except ValueError as exc:
            _warn_once(f"{variable}={item}", "%s: ignored entry %s", variable, exc)
    return patterns


def env_login(
    kind: str, host: str, port: int | None, *, warn: bool = True
) -> tuple[str, str] | None:
    """``(user, password)`` from the environment for a URL's host and port, or None.

    Parameters
    ----------
    kind : {"http", "ftp"}
        Which variables: ``VOCLOUD_HTTP_*`` (http and https) or ``VOCLOUD_FTP_*``.
    host, port : str, int or None
        The URL's host and port (its own or the scheme's default).
    warn : bool
        Log the one warning per process when the user variable is set and the hosts variable is
        not (the credentials then go to no host).

    Returns
    -------
    tuple or None
        The credentials when ``VOCLOUD_<KIND>_USER`` is set and the host is one of
        ``VOCLOUD_<KIND>_HOSTS``.

    Examples
    --------
    >>> import os
    >>> os.environ.update(VOCLOUD_HTTP_USER="u", VOCLOUD_HTTP_PASSWORD="p",
    ...                   VOCLOUD_HTTP_HOSTS="archive.example.org, data.example.org:8443")
    >>> env_login("http", "ARCHIVE.example.org", 443), env_login("http", "data.example.org", 443)
    (('u', 'p'), None)
    >>> for k in ("USER", "PASSWORD", "HOSTS"):
    ...     del os.environ[f"VOCLOUD_HTTP_{k}"]
    """
    user_var, password_var, hosts_var = ENV_VARIABLES[kind]
    user = os.environ.get(user_var)
    if not user:
        return None
    if not os.environ.get(hosts_var, "").strip():
        if warn:
            _warn_once(
                hosts_var,
                "%s is set but %s is not: the credentials from the environment are sent to no "
                "host. Set %s to the hosts they are for (comma-separated host or host:port), or "
                "give per-host credentials in the experiment file (fetch: credentials:)",
                user_var,
                hosts_var,
                hosts_var,
            )
        return None
    if any(p.matches(host, port) for p in _env_hosts(hosts_var)):
        return user, os.environ.get(password_var, "")
    return None


def configured_login(
    kind: str, parts: SplitResult, credentials: Credentials
) -> tuple[str, str] | None:
    """The login for a URL (without ``user:password@``): from ``credentials``, else the environment.

    Parameters
    ----------
    kind : {"http", "ftp"}
        Which environment variables apply (:func:`env_login`).
    parts : urllib.parse.SplitResult
        The URL.
    credentials : Credentials
        The configured logins (the ``credentials`` fetch option).

    Raises
    ------
    MissingPasswordError
        The login configured for the host reads its password from an unset variable.

    Examples
    --------
    >>> from urllib.parse import urlsplit
    >>> creds = Credentials.from_config({"ftp.example.org": {"user": "bob", "password": "pw"}})
    >>> configured_login("ftp", urlsplit("ftp://ftp.example.org/a.fits"), creds)
    ('bob', 'pw')
    """
    host = (parts.hostname or "").lower()
    port = url_port(parts)
    if not host:
        return None
    login = credentials.lookup(host, port)
    if login is not None:
        shown = f"[{host}]" if ":" in host else host
        return login.resolve(shown if port is None else f"{shown}:{port}")
    return env_login(kind, host, port)

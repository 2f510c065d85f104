"""URLs as the fetch stage sees them: credentials split off and hidden, servers (``host:port``)
compared for redirects and per-server limits."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_PORTS",
    "port",
    "redact",
    "same_server",
    "scrub",
    "server_name",
    "split_credentials",
]

#: The port of a URL without one, by scheme.
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without ``user:password@``, and the (unquoted) user and password."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None, None
    user, colon, password = userinfo.partition(":")
    clean = urlunsplit(parts._replace(netloc=hostport))
    return clean, unquote(user), (unquote(password) if colon else None)


def redact(url: str) -> str:
    """``url`` without credentials, safe to print; never raises."""
    try:
        return split_credentials(url)[0]
    except ValueError:
        return "<invalid URL>"


def scrub(text: str, secrets: Sequence[str | None]) -> str:
    """``text`` with every (non-trivial) secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) > 1:
            text = text.replace(secret, "***")
    return text


def port(parts: SplitResult) -> int | None:
    """The port of a URL, its own or its scheme's default; None for a bad or unknown one."""
    try:
        return parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None


def same_server(origin: SplitResult, target: SplitResult) -> bool:
    """Whether a redirect stays on the server of ``origin`` (or goes from http:80 to https:443)."""
    if (origin.hostname or "").lower() != (target.hostname or "").lower():
        return False
    a, b = port(origin), port(target)
    if a == b:
        return a is not None
    upgrade = origin.scheme.lower() == "http" and target.scheme.lower() == "https"
    return upgrade and (a, b) == (80, 443)


def server_name(parts: SplitResult) -> str:
    """``host:port`` of a URL: what the concurrency limit counts per."""
    port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    return f"{(parts.hostname or '').lower()}:{port}"

"""One ftp download with :mod:`ftplib`: anonymous unless a login is given, binary mode, the size
checked when the server tells it."""

from __future__ import annotations

import ftplib
from urllib.parse import unquote, urlsplit

from vocloud.fetch.errors import Fail, Retry, connection_reason
from vocloud.fetch.urls import scrub

__all__ = ["ftp_attempt"]

_CHUNK = 1 << 16


def ftp_attempt(url: str, user: str | None, password: str | None, timeout: float) -> bytes:
    """One download of an ftp URL (credentials already removed from ``url``); anonymous without
    a ``user``."""
    secrets = [user, password]
    parts = urlsplit(url)
    path = unquote(parts.path)
    if path.startswith("/"):
        path = path[1:]  # RFC 1738: relative to the login folder ("/%2F..." for an absolute one)
    if not path or path.endswith("/"):
        raise Fail("no file name in the ftp URL")
    ftp = ftplib.FTP(timeout=timeout)
    try:
        try:
            ftp.connect(parts.hostname or "", parts.port or 21)
            if user is None:
                ftp.login()  # anonymous
            else:
                ftp.login(user, password or "")
            ftp.voidcmd("TYPE I")
            size: int | None
            try:
                size = ftp.size(path)
            except ftplib.Error:
                size = None
            chunks: list[bytes] = []
            ftp.retrbinary(f"RETR {path}", chunks.append, blocksize=_CHUNK)
        except ftplib.error_perm as exc:
            msg = scrub(str(exc).strip(), secrets)
            code = int(msg[:3]) if msg[:3].isdigit() else None
            raise Fail(f"FTP {msg}", code) from None
        except ftplib.error_temp as exc:
            msg = scrub(str(exc).strip(), secrets)
            code = int(msg[:3]) if msg[:3].isdigit() else None
            raise Retry(f"FTP {msg}", code) from None
        except ftplib.Error as exc:
            raise Retry(f"FTP {scrub(str(exc).strip(), secrets)}") from None
        except (OSError, EOFError) as exc:
            raise Retry(connection_reason(exc, timeout)) from None
    finally:
        try:
            ftp.close()
        except OSError:
            pass
    data = b"".join(chunks)
    if size is not None and len(data) < size:
        raise Retry(f"truncated body: got {len(data)} of {size} bytes")
    return data

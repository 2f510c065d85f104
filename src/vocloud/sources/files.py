"""Remote file listings as spectra lists: HTTP(S) directory indexes and FTP servers.

Both sources walk a remote folder tree the way :class:`~vocloud.sources.DirectorySource` walks a
local one, and give the same ``id`` and ``path`` for the same archive: the POSIX path relative to
the start URL, without a compression suffix for ``id``.

Credentials, first that applies: ``user:password@`` in the start URL; ``credentials`` (the
experiment file's ``fetch: credentials:``, per host, see :mod:`vocloud.fetch.credentials`);
``VOCLOUD_HTTP_USER`` / ``VOCLOUD_HTTP_PASSWORD`` (``VOCLOUD_FTP_*`` for FTP) when the start URL's
host is listed in ``VOCLOUD_HTTP_HOSTS`` (``VOCLOUD_FTP_HOSTS``); ``~/.netrc`` for HTTP.
"""

from __future__ import annotations

import ftplib
import posixpath
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit

import pandas as pd
import requests

from vocloud.fetch.credentials import Credentials, MissingPasswordError, env_login
from vocloud.sources.directory import _pattern_regex
from vocloud.spectralist import COMPRESSION_SUFFIXES, SpectraList

#: Upper bound on the number of folder pages (or FTP folders) read by one listing.
MAX_PAGES = 100_000
_MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


class RemoteSourceError(OSError):
    """A remote listing failed; the message names the URL (without credentials) and the cause."""

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


def _safe_relpath(rel: str) -> bool:
    """Whether an unquoted relative path is acceptable: relative, no ``..``, no backslash or NUL.

    Empty segments and hidden names (a segment starting with ``.``) are refused too, as
    :class:`~vocloud.sources.DirectorySource` skips hidden files and folders.

    Examples
    --------
    >>> [_safe_relpath(p) for p in ["a/b.fits", "../b", "/b", "a\\\\b", "a//b", ".hidden"]]
    [True, False, False, False, False, False]
    """
    if not rel or "\\" in rel or "\x00" in rel or rel.startswith("/"):
        return False
    return all(seg and not seg.startswith(".") for seg in rel.split("/"))


def _spectrum_id(relpath: str) -> str:
    for suf in COMPRESSION_SUFFIXES:
        if relpath.endswith(suf):
            return relpath[: -len(suf)]
    return relpath


def _configured(
    kind: str,
    credentials: Credentials | None,
    host: str,
    port: int,
    warn: bool = True,
) -> tuple[str, str] | None:
    """Credentials for ``host:port`` from ``credentials``, else from the environment (only when
    the host is listed in ``VOCLOUD_<KIND>_HOSTS``)."""
    login = credentials.lookup(host, port) if credentials else None
    if login is not None:
        return login.resolve(f"{_host_for_url(host)}:{port}")
    return env_login(kind, host, port, warn=warn)


def _has_login(kind: str, credentials: Credentials | None, host: str, port: int) -> bool:
    """Whether credentials are configured for ``host:port`` (nothing read nor logged)."""
    if credentials and credentials.lookup(host, port) is not None:
        return True
    return env_login(kind, host, port, warn=False) is not None


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _frame(rows: list[tuple[str, str, int | None]]) -> SpectraList:
    rows = sorted(rows)
    df = pd.DataFrame(
        {
            "id": pd.Series([_spectrum_id(r[0]) for r in rows], dtype=object),
            "access_url": pd.Series([r[1] for r in rows], dtype=object),
            "path": pd.Series([r[0] for r in rows], dtype=object),
        }
    )
    sizes = [r[2] for r in rows]
    if rows and all(s is not None for s in sizes):
        df["size"] = pd.Series(sizes, dtype="int64")
    elif any(s is not None for s in sizes):
        df["size"] = pd.Series(sizes, dtype="Int64")
    return df


def _sort_key(entry: tuple[str, str, bool, int | None]) -> str:
    # folders sort as "name/" so that a depth-first walk yields files in path order
    return entry[0] + ("/" if entry[2] else "")


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() == "a":
            for name, value in attrs:
                if name.lower() == "href" and value:
                    self.hrefs.append(value.strip())


class _RemoteListing:
    """What HTTPIndexSource and FTPSource share: the listing options, the login, describe() and
    the depth-first walk (``_entries(dir_rel, dir_ref)`` yields (name_rel, ref, is_dir, size)).

    A subclass sets ``_kind`` (the describe() key and the credentials' kind) and ``_what`` (how
    messages name it); its ``_parse_url`` checks the start URL and sets ``url``, ``_host`` and
    ``_port``.
    """

    _kind: str
    _what: str
    url: str
    _host: str
    _port: int

    def __init__(
        self,
        url: str,
        pattern: str | list[str] = "**/*",
        recursive: bool = True,
        timeout: float = 30.0,
        max_files: int | None = None,
        credentials: Credentials | Mapping[str, Any] | None = None,
    ) -> None:
        parts = urlsplit(url)
        self._parse_url(parts)
        self._url_login = (
            (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        )
        self.credentials = None if credentials is None else Credentials.from_config(credentials)
        self.pattern = [pattern] if isinstance(pattern, str) else list(pattern)
        self.recursive = bool(recursive)
        self.timeout = float(timeout)
        self.max_files = None if max_files is None else int(max_files)
        for p in self.pattern:
            _pattern_regex(p)

    def describe(self) -> dict[str, Any]:
        """JSON-able description for provenance (without credentials)."""
        return {
            self._kind: self.url,
            "pattern": self.pattern,
            "recursive": self.recursive,
            "max_files": self.max_files,
            "authenticated": self._url_login is not None
            or _has_login(self._kind, self.credentials, self._host, self._port),
        }

    def _parse_url(self, parts: SplitResult) -> None:
        raise NotImplementedError

    def _label(self) -> str:
        return f"{self._what} {self.url}"

    def _login(self) -> tuple[str, str] | None:
        """The URL's login, else the configured one, else None (a password is read now)."""
        try:
            return self._url_login or _configured(
                self._kind, self.credentials, self._host, self._port
            )
        except MissingPasswordError as exc:
            raise RemoteSourceError(f"{self._label()}: {exc}", self.url) from None

    def _walk(self, root_ref: str) -> list[tuple[str, str, int | None]]:
        regexes = [_pattern_regex(p) for p in self.pattern]
        out: list[tuple[str, str, int | None]] = []
        visited = {""}
        pages = 0
        stack: list[tuple[str, str, bool, int | None]] = [("", root_ref, True, None)]
        while stack:
            rel, ref, is_dir, size = stack.pop()
            if not is_dir:
                out.append((rel, ref, size))
                if self.max_files is not None and len(out) >= self.max_files:
                    break
                continue
            pages += 1
            if pages > MAX_PAGES:
                raise RemoteSourceError(
                    f"{self._label()}: more than {MAX_PAGES} folders, stopped", self.url
                )
            children = []
            for crel, cref, cdir, csize in self._entries(rel, ref):
                if not _safe_relpath(crel):
                    continue
                if cdir:
                    if not self.recursive or crel in visited:
                        continue
                    visited.add(crel)
                elif not any(rx.match(crel) for rx in regexes):
                    continue
                children.append((crel, cref, cdir, csize))
            # de-duplicate (an index may link a file twice) and push in reverse path order
            uniq = {c[0] + ("/" if c[2] else ""): c for c in children}
            stack.extend(sorted(uniq.values(), key=_sort_key, reverse=True))
        return out

    def _entries(self, rel: str, ref: str) -> Iterator[tuple[str, str, bool, int | None]]:
        raise NotImplementedError


class HTTPIndexSource(_RemoteListing):
    """Spectra files listed by an HTTP(S) directory index (Apache, nginx, ``python -m http.server``).

    Parameters
    ----------
    url : str
        Start folder; a trailing ``/`` is added when missing. Credentials may be given in the URL
        (``https://user:password@host/path/``), by ``credentials``, or in the environment
        variables ``VOCLOUD_HTTP_USER`` and ``VOCLOUD_HTTP_PASSWORD`` when the host is listed in
        ``VOCLOUD_HTTP_HOSTS``; they are sent as HTTP basic auth (only to the start URL's server)
        and never appear in :meth:`describe`, in ``access_url`` or in error messages.
    pattern : str or list of str
        Glob pattern(s) on the path relative to ``url``; ``**`` matches any number of folders
        (default ``"**/*"``: every file).
    recursive : bool
        Follow links to sub-folders (default). With ``False`` only the start page is read.
    timeout : float
        Seconds for each HTTP request.
    max_files : int or None
        Stop after this many matching files (the first ones in path order).
    credentials : Credentials or mapping, optional
        Logins per host (:class:`vocloud.fetch.Credentials`, as the ``fetch:
        credentials:`` of an experiment file, which an experiment passes on); the password is read
        (``password_env``) when the listing is made.

    Notes
    -----
    Links are resolved with :func:`urllib.parse.urljoin` and only those under the start URL (same
    scheme, host, port and path prefix) are kept: parent links, sort links (any URL with a query),
    fragments and links to other hosts are ignored, and redirects leaving the start URL are
    refused. Links ending with ``/`` are folders. A link whose unquoted relative path is absolute,
    contains a ``..`` segment, a backslash or a NUL is skipped, as are hidden names (starting with
    ``.``), like :class:`~vocloud.sources.DirectorySource` does. At most :data:`MAX_PAGES` folder
    pages are read. Index pages do not give exact sizes, so there is no ``size`` column.

    Examples
    --------
    >>> src = HTTPIndexSource("https://example.org/spectra", pattern="**/*.fits")
    >>> src.describe()["http"]
    'https://example.org/spectra/'

    An index served on loopback (vocloud.testing.StaticServer, folder listings as
    :mod:`http.server` makes them):

    >>> import tempfile, pathlib
    >>> from vocloud.testing import StaticServer
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "night1").mkdir()
    >>> for name in ("night1/a.fits", "night1/b.fits", "notes.txt"):
    ...     _ = (folder / name).write_bytes(b"x")
    >>> with StaticServer(folder) as server:
    ...     spectra = HTTPIndexSource(server.url, pattern="**/*.fits").list()
    >>> spectra["id"].tolist()
    ['night1/a.fits', 'night1/b.fits']
    """

    _auth: tuple[str, str] | None = None  # the login list() sends
    _kind = "http"
    _what = "HTTP index"

    def _parse_url(self, parts: SplitResult) -> None:
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"HTTPIndexSource: expected an http(s)://host/path/ URL, got {scheme!r}"
            )
        self._scheme = scheme
        self._host = parts.hostname.lower()
        self._port = parts.port or _DEFAULT_PORTS[scheme]
        path = parts.path or "/"
        if not path.endswith("/"):
            path += "/"
        self._path = path
        self._upath = unquote(path)
        netloc = _host_for_url(self._host)
        if parts.port is not None:
            netloc += f":{parts.port}"
        self._netloc = netloc
        self.url = f"{scheme}://{netloc}{path}"

    def _inside(self, url: str) -> tuple[str, str] | None:
        """``(relative unquoted path, clean absolute URL)`` of a URL under the start URL, or None."""
        p = urlsplit(url)
        if p.scheme.lower() != self._scheme or p.query or (p.hostname or "").lower() != self._host:
            return None
        try:
            port = p.port or _DEFAULT_PORTS[self._scheme]
        except ValueError:
            return None
        if port != self._port:
            return None
        upath = unquote(p.path)
        if not upath.startswith(self._upath):
            return None
        return upath[len(self._upath) :], f"{self._scheme}://{self._netloc}{p.path}"

    def _get(self, session: Any, url: str) -> tuple[str, str]:
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                r = session.get(url, timeout=self.timeout, allow_redirects=False, auth=self._auth)
            except requests.RequestException as exc:
                raise RemoteSourceError(
                    f"HTTP index {url}: request failed ({type(exc).__name__})", url
                ) from None
            if r.is_redirect:
                target = urljoin(url, r.headers.get("Location", ""))
                inside = self._inside(target)
                if inside is None:
                    raise RemoteSourceError(
                        f"HTTP index {url}: HTTP {r.status_code} redirect leaves the start URL "
                        f"{self.url}, refused",
                        url,
                        r.status_code,
                    )
                url = inside[1]
                continue
            if r.status_code >= 400:
                raise RemoteSourceError(
                    f"HTTP index {url}: HTTP {r.status_code} {r.reason or ''}".rstrip(),
                    url,
                    r.status_code,
                )
            return url, r.text
        raise RemoteSourceError(f"HTTP index {url}: too many redirects", url)

    def _entries(self, rel: str, ref: str) -> Iterator[tuple[str, str, bool, int | None]]:
        page_url, text = self._get(self._session, ref)
        parser = _LinkParser()
        parser.feed(text)
        parser.close()
        for href in parser.hrefs:
            if href.startswith(("#", "?")):
                continue
            try:
                inside = self._inside(urljoin(page_url, href).split("#", 1)[0])
            except ValueError:  # malformed link, e.g. "http://[bad"
                continue
            if inside is None:
                continue
            crel, curl = inside
            if crel.endswith("/"):
                yield crel[:-1], curl, True, None
            elif crel:
                yield crel, curl, False, None

    def list(self) -> SpectraList:
        """Walk the index pages and return the spectra list, sorted by path.

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, ``access_url`` (absolute URL, no credentials), ``path`` (relative,
            POSIX, unquoted).

        Raises
        ------
        RemoteSourceError
            An index page could not be read (the message names the URL and the HTTP status).
        """
        self._auth = self._login()
        with requests.Session() as session:
            self._session = session
            try:
                rows = self._walk(self.url)
            finally:
                del self._session
        return _frame(rows)


class FTPSource(_RemoteListing):
    """Spectra files on an FTP server, listed recursively with MLSD (or NLST where unsupported).

    Parameters
    ----------
    url : str
        ``ftp://[user[:password]@]host[:port]/path/``; the path is relative to the login folder.
        Anonymous login unless credentials are in the URL, in ``credentials``, or in the
        environment variables ``VOCLOUD_FTP_USER`` and ``VOCLOUD_FTP_PASSWORD`` when the host is
        listed in ``VOCLOUD_FTP_HOSTS``; they never appear in :meth:`describe`, ``access_url`` or
        error messages.
    pattern : str or list of str
        Glob pattern(s) on the path relative to ``url``; ``**`` matches any number of folders.
    recursive : bool
        Walk sub-folders (default).
    timeout : float
        Seconds for the connection and each command.
    max_files : int or None
        Stop after this many matching files (the first ones in path order).
    credentials : Credentials or mapping, optional
        Logins per host, as for :class:`HTTPIndexSource`.

    Notes
    -----
    Same id, pattern and safety rules as :class:`HTTPIndexSource`. With MLSD the ``size`` column
    is filled from the listing; with the NLST fallback folders are recognised by trying to enter
    them and there is no ``size``. ``access_url`` is ``ftp://host:port/path`` without credentials.

    Examples
    --------
    >>> src = FTPSource("ftp://user:secret@ftp.example.org/pub/spectra", pattern="**/*.fits")
    >>> src.describe()["ftp"]
    'ftp://ftp.example.org:21/pub/spectra/'
    >>> src.list()  # doctest: +SKIP
    """

    _password = ""  # the password list() logs in with, hidden in error messages
    _kind = "ftp"
    _what = "FTP"

    def _parse_url(self, parts: SplitResult) -> None:
        if parts.scheme.lower() != "ftp" or not parts.hostname:
            raise ValueError(f"FTPSource: expected an ftp://host/path/ URL, got {parts.scheme!r}")
        self._host = parts.hostname
        self._port = parts.port or 21
        upath = unquote(parts.path).strip("/")
        if "\\" in upath or "\x00" in upath or ".." in upath.split("/"):
            raise ValueError("FTPSource: the URL path must not contain '..', '\\' or NUL")
        self._upath = upath
        prefix = "/" + quote(upath) + "/" if upath else "/"
        self.url = f"ftp://{_host_for_url(self._host)}:{self._port}{prefix}"

    def _error(self, what: str, exc: Exception) -> RemoteSourceError:
        msg = str(exc).replace(self._password, "***") if self._password else str(exc)
        return RemoteSourceError(f"FTP {self.url}: {what} failed: {msg}", self.url)

    def _list_dir(self, path: str) -> Iterator[tuple[str, bool, int | None]]:
        ftp = self._ftp
        if self._use_mlsd:
            try:
                items = list(ftp.mlsd(path, facts=["type", "size"]))
            except ftplib.error_perm as exc:
                if str(exc)[:3] not in ("500", "501", "502", "504"):
                    raise
                self._use_mlsd = False
            else:
                for name, facts in items:
                    kind = facts.get("type", "").lower()
                    if kind in ("cdir", "pdir") or name in (".", "..") or "/" in name:
                        continue
                    if kind not in ("file", "dir"):
                        continue  # symlinks (OS.unix=slink) and devices are not followed
                    is_dir = kind == "dir"
                    size = facts.get("size")
                    yield name, is_dir, int(size) if size and size.isdigit() else None
                return
        try:
            names = ftp.nlst(path)
        except ftplib.error_perm as exc:
            if path != self._root and str(exc)[:3] == "550":
                return  # some servers answer 550 for an empty folder
            raise
        for entry in names:
            name = posixpath.basename(entry.rstrip("/"))
            if not name or name in (".", ".."):
                continue
            full = posixpath.join(path, name)
            try:
                ftp.cwd(full)
            except ftplib.error_perm:
                yield name, False, None
            else:
                ftp.cwd(self._home)
                yield name, True, None

    def _entries(self, rel: str, ref: str) -> Iterator[tuple[str, str, bool, int | None]]:
        for name, is_dir, size in self._list_dir(ref):
            crel = f"{rel}/{name}" if rel else name
            if is_dir:
                yield crel, posixpath.join(ref, name), True, None
            else:
                yield crel, self.url + quote(crel), False, size

    def list(self) -> SpectraList:
        """Walk the FTP folders and return the spectra list, sorted by path.

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, ``access_url`` (``ftp://host:port/path``), ``path`` (relative, POSIX),
            and ``size`` (bytes) when the server supports MLSD.

        Raises
        ------
        RemoteSourceError
            Connection, login or listing failed (the message names the URL, not the credentials).
        """
        user, self._password = self._login() or ("anonymous", "anonymous@")
        ftp = ftplib.FTP(timeout=self.timeout)
        try:
            step = "connection"
            ftp.connect(self._host, self._port, timeout=self.timeout)
            step = "login"
            ftp.login(user, self._password)
            step = "listing"
            self._home = ftp.pwd()
            self._root = posixpath.join(self._home, self._upath) if self._upath else self._home
            self._ftp = ftp
            self._use_mlsd = True
            rows = self._walk(self._root)
        except RemoteSourceError:
            raise
        except (OSError, EOFError, ftplib.Error) as exc:
            raise self._error(step, exc) from None
        finally:
            self.__dict__.pop("_ftp", None)
            try:
                ftp.quit()
            except (OSError, EOFError, ftplib.Error):
                ftp.close()
        return _frame(rows)

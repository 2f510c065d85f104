"""Fetch remote spectra (http, https, ftp) with retries, a per-host concurrency limit and a raw cache.

Spectra lists may hold remote access URLs; they are fetched inside Dask tasks with :func:`fetch`
(one URL) or :func:`fetch_many` (a block of URLs, downloaded in parallel threads), and spectra with
a DataLink service with :func:`fetch_spectra` (:mod:`vocloud.fetch.datalink`).

One module per job: :mod:`~vocloud.fetch.options` (:class:`FetchOptions`), :mod:`~vocloud.fetch.download`
(retries, :func:`fetch`, :func:`fetch_many`), :mod:`~vocloud.fetch.http`, :mod:`~vocloud.fetch.ftp`,
:mod:`~vocloud.fetch.cache` (the raw cache), :mod:`~vocloud.fetch.limits` (per-server limit across
the run), :mod:`~vocloud.fetch.credentials`, :mod:`~vocloud.fetch.datalink` (DataLink and SODA),
:mod:`~vocloud.fetch.urls` and :mod:`~vocloud.fetch.errors`.

* http/https use :mod:`requests` (one ``Session`` per thread, body streamed, ``Content-Length``
  checked). Redirects are followed by hand (at most :data:`MAX_REDIRECTS`), only to http/https,
  and credentials are not sent on to another host.
* ftp uses :mod:`ftplib`, anonymous unless the URL, the ``credentials`` option or the
  environment give a user for the URL's host.
* Retries (``FetchOptions.retries``) on 5xx answers, timeouts, connection errors and truncated
  bodies, with a doubling back-off; never on 4xx answers.
* Credentials never appear in error messages, logs, cache keys or cache file names: the URL is
  always shown and hashed without them.

Credentials (HTTP Basic, FTP login) are sent only to the host they are for. For each request,
the first of these that applies is used (see :mod:`vocloud.fetch.credentials`):

1. ``user:password@`` in the URL itself: for that URL only (and a redirect to the same host and
   port, or from http on port 80 to https on port 443 of the same host);
2. ``FetchOptions.credentials`` (``fetch: credentials:`` in the experiment file), per host or
   ``host:port``: ``{user: alice, password_env: ARCHIVE_PASSWORD}``, the password read from the
   environment where the request is made, or ``{user: bob, password: secret}``;
3. ``VOCLOUD_HTTP_USER`` / ``VOCLOUD_HTTP_PASSWORD`` (http, https) and ``VOCLOUD_FTP_USER`` /
   ``VOCLOUD_FTP_PASSWORD`` (ftp), for the hosts listed in ``VOCLOUD_HTTP_HOSTS`` /
   ``VOCLOUD_FTP_HOSTS`` only (comma-separated host or host:port). Without the hosts variable
   they are sent to no host, and one warning per process says so;
4. for http(s), ``~/.netrc`` (per host, as :mod:`requests` reads it).

Each redirect is checked anew: a redirect never takes credentials to a host they were not given
for, nor from https down to http.
"""

from vocloud.fetch.cache import cache_key
from vocloud.fetch.credentials import Credentials, MissingPasswordError
from vocloud.fetch.datalink import fetch_spectra, resolve_datalinks
from vocloud.fetch.download import MAX_THREADS, fetch, fetch_many
from vocloud.fetch.errors import FetchError
from vocloud.fetch.http import MAX_REDIRECTS
from vocloud.fetch.limits import SEMAPHORE_PREFIX
from vocloud.fetch.options import CUTOUT_MODES, DEFAULT_OPTIONS, FetchOptions

__all__ = [
    "CUTOUT_MODES",
    "DEFAULT_OPTIONS",
    "MAX_REDIRECTS",
    "MAX_THREADS",
    "SEMAPHORE_PREFIX",
    "Credentials",
    "FetchError",
    "FetchOptions",
    "MissingPasswordError",
    "cache_key",
    "fetch",
    "fetch_many",
    "fetch_spectra",
    "resolve_datalinks",
]

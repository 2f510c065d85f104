"""Loopback servers of the unit tests (a module of its own: tests are not packages).

:class:`LoopbackServers` starts http.server and pyftpdlib servers on a loopback address, each
served by a daemon thread, and stops them all when it is closed. A test module has the fixture
``servers`` (a :class:`LoopbackServers` stopped after the test) with

    servers = pytest.fixture(running_servers, name="servers")

The HTTP servers record every GET as ``(path, Authorization header)``; a handler answers from
``route``: a subclass of :class:`RoutingHandler` (scripted answers) or of :class:`FileHandler`
(the files of a folder, and whatever ``route`` answers first).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tiers import require


class LoopbackHTTPServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server on ``(host, any free port)`` that records the requests."""

    request_queue_size = 64  # the default 5 can drop SYNs of a burst (client retries after 1 s)

    def __init__(self, host: str, handler: Any) -> None:
        super().__init__((host, 0), handler)
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str | None]] = []
        self.base = f"http://{host}:{self.server_address[1]}"

    def record(self, path: str, auth: str | None) -> int:
        """Record a request; how many requests to ``path`` there were, this one included."""
        with self.lock:
            self.requests.append((path, auth))
            return sum(p == path for p, _ in self.requests)

    def auth_of(self, path: str) -> list[str | None]:
        """The Authorization headers of the requests to ``path``, in order (None: none sent)."""
        with self.lock:
            return [a for p, a in self.requests if p == path]

    def count(self, path: str) -> int:
        return len(self.auth_of(path))

    def url(self, path: str, creds: str = "") -> str:
        """URL of ``path``, with ``user:password`` credentials when given."""
        return self.base.replace("://", f"://{creds}@" if creds else "://") + path


class _Replies:
    """Quiet handlers with a one-call answer."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(
        self: Any, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class RoutingHandler(_Replies, http.server.BaseHTTPRequestHandler):
    """Records ``(path without the query, Authorization)`` of each GET, then answers with
    ``route(path, query, n)``, ``n`` counting the requests to ``path`` (this one included)."""

    protocol_version = "HTTP/1.1"
    timeout = 2  # an idle keep-alive connection ends its thread by itself
    server: LoopbackHTTPServer

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        n = self.server.record(path, self.headers.get("Authorization"))
        try:
            self.route(path, query, n)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def route(self, path: str, query: str, n: int) -> None:
        self.send(404)


class FileHandler(_Replies, http.server.SimpleHTTPRequestHandler):
    """Records ``(path with the query, Authorization)`` of each GET, then serves the files of
    the server's folder unless ``route(path)`` answered (returned True)."""

    server: LoopbackHTTPServer

    def do_GET(self) -> None:
        self.server.record(self.path, self.headers.get("Authorization"))
        if not self.route(self.path):
            super().do_GET()

    def route(self, path: str) -> bool:
        return False


@dataclass
class LoopbackFTP:
    """A pyftpdlib server: its port, the users that logged in (``failed:USER``: refused) and
    the commands it received (``MLSD``, ``NLST``, ...), in order."""

    port: int
    logins: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


S = TypeVar("S", bound=LoopbackHTTPServer)


class LoopbackServers(contextlib.AbstractContextManager["LoopbackServers"]):
    """Starts servers, each in a daemon thread; :meth:`close` (or leaving ``with``) stops them."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()

    def http(
        self,
        handler: Any = RoutingHandler,
        host: str = "127.0.0.1",
        *,
        directory: str | Path | None = None,
        server: type[S] = LoopbackHTTPServer,  # type: ignore[assignment]
    ) -> S:
        """An HTTP server on ``host`` with ``handler`` (a :class:`FileHandler` serves
        ``directory``)."""
        if directory is not None:
            handler = functools.partial(handler, directory=str(directory))
        srv = server(host, handler)
        thread = threading.Thread(
            target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()

        @self._stack.callback
        def stop() -> None:  # also when the test stopped it already
            srv.shutdown()
            srv.server_close()
            thread.join(timeout=5)

        return srv

    def ftp(
        self,
        root: str | Path,
        host: str = "127.0.0.1",
        users: Mapping[str, str] | None = None,
        *,
        mlsd: bool = True,
        names_user_on_failure: bool = False,
    ) -> LoopbackFTP:
        """A pyftpdlib FTP server of the folder ``root`` (read only) on ``host``: anonymous and
        ``users`` (name: password) may log in. ``mlsd=False``: it answers MLSD and MLST with
        "500 not understood", as old servers do (clients fall back to NLST).
        ``names_user_on_failure``: a refused login is answered "530 Login incorrect for USER",
        as some servers do. Skips the test when pyftpdlib is missing, or fails under CI."""
        require("pyftpdlib", "no loopback FTP server (pyftpdlib is in the test extra)")
        from pyftpdlib.authorizers import AuthenticationFailed, DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.ioloop import IOLoop
        from pyftpdlib.servers import FTPServer

        class Authorizer(DummyAuthorizer):
            def validate_authentication(self, username: str, password: str, handler: Any) -> None:
                try:
                    super().validate_authentication(username, password, handler)
                except AuthenticationFailed:
                    # recorded before the answer (on_login_failed runs after the client has it)
                    info.logins.append(f"failed:{username}")
                    if names_user_on_failure:
                        raise AuthenticationFailed(f"login incorrect for {username}") from None
                    raise

        authorizer = Authorizer()
        for user, password in (users or {}).items():
            authorizer.add_user(user, password, str(root), perm="elr")
        authorizer.add_anonymous(str(root), perm="elr")
        info = LoopbackFTP(port=0)

        class Handler(FTPHandler):
            timeout = 5
            auth_failed_timeout = 0.05  # pyftpdlib waits 3 s before answering a bad login
            if not mlsd:  # an unknown command to this server: "500 Command not understood"
                proto_cmds = {
                    k: v for k, v in FTPHandler.proto_cmds.items() if k not in ("MLSD", "MLST")
                }

            def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
                info.commands.append(cmd)
                super().pre_process_command(line, cmd, arg)

            def on_login(self, username: str) -> None:
                info.logins.append(username)

        Handler.authorizer = authorizer
        srv = FTPServer((host, 0), Handler, ioloop=IOLoop())  # one loop per server thread
        info.port = srv.socket.getsockname()[1]
        thread = threading.Thread(
            target=srv.serve_forever,
            kwargs={"timeout": 0.05, "blocking": True, "handle_exit": False},
            daemon=True,
        )
        thread.start()

        @self._stack.callback
        def stop() -> None:
            srv.close_all()
            thread.join(5)

        return info

    def close(self) -> None:
        self._stack.close()

    def __exit__(self, *exc: object) -> None:
        self.close()


def running_servers() -> Iterator[LoopbackServers]:
    """The ``servers`` fixture: the servers a test starts, stopped after it."""
    with LoopbackServers() as running:
        yield running

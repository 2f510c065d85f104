"""Serve an experiment's dashboards with a Bokeh server (``vocloud dashboard``)."""

from __future__ import annotations

import os
import socket
from typing import Any

from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.server.server import Server

from vocloud.viz.data import SomMapData
from vocloud.viz.som_map import color_key, som_document

#: Where a dashboard is served by default: loopback only (use --address to share it).
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 5006


def make_server(
    experiment_dir: str | os.PathLike[str],
    *,
    port: int = DEFAULT_PORT,
    address: str = DEFAULT_ADDRESS,
    step: str | None = None,
    color_by: str = "hits",
    allow_websocket_origin: list[str] | None = None,
    scheduler: str | None = None,
) -> Any:
    """A Bokeh server (not yet started) with the experiment's SOM dashboard at ``/som``.

    The experiment is checked now (a missing SOM step is an error here, not in the browser).

    Parameters
    ----------
    experiment_dir : str or Path
        The experiment folder.
    port : int
        0 picks a free port (``server.port`` tells which).
    address : str
        The interface to listen on (default loopback only).
    step, color_by
        As for :func:`vocloud.viz.som_document`.
    allow_websocket_origin : list of str, optional
        Hosts (``host:port``) whose pages may connect; default this address and localhost.
    scheduler : str, optional
        A Dask scheduler address: the Label tab's "Run the next iteration" scores the stored
        spectra there (default: in the dashboard's own process).

    Examples
    --------
    A tiny experiment with a SOM step, its dashboard served on a free loopback port while
    this thread asks for the page (``vocloud dashboard`` runs the loop in the main thread and
    a browser shows the page):

    >>> import tempfile, threading, urllib.request
    >>> from vocloud import Experiment
    >>> from vocloud.datasets import make_archive
    >>> tmp = tempfile.mkdtemp()
    >>> _ = make_archive(f"{tmp}/spectra", 40, layouts="iraf-linear", n_jobs=1)
    >>> exp = Experiment({"directory": f"{tmp}/spectra", "pattern": "**/*.fits"},
    ...                  name="map", store=f"{tmp}/experiments", block_size=20,
    ...                  steps=[{"method": "som", "params": {"shape": [3, 3], "epochs": 2}}])
    >>> _ = exp.run(cluster_kwargs={"n_workers": 1, "processes": False,
    ...             "dashboard_address": None}, progress=False, verbose=False)
    >>> server = make_server(exp.directory, port=0)
    >>> server.start()
    >>> loop = threading.Thread(target=server.io_loop.start)
    >>> loop.start()
    >>> page = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/som", timeout=60)
    >>> page.status, b"bokeh" in page.read().lower()
    (200, True)
    >>> server.io_loop.add_callback(server.io_loop.stop)
    >>> loop.join(30)
    >>> server.stop()
    """

    # Loaded now (a missing SOM step is an error here, not in the browser) and shared by the
    # sessions (each would hold its own ~60-80 MB per 100,000 spectra); loaded again when the
    # experiment has a newer SOM step or feature store than the one shown.
    shared = [SomMapData(experiment_dir, step)]
    color_key(
        color_by, shared[0].predicted is not None
    )  # a bad colouring fails here, not as HTTP 500

    def app(doc: Any) -> None:
        if step is None and not shared[0].is_current():
            shared[0] = SomMapData(experiment_dir, step)
        som_document(
            doc, experiment_dir, step=step, color_by=color_by, data=shared[0], scheduler=scheduler
        )

    if port == 0:
        port = _free_port(address)
    origins = allow_websocket_origin or sorted(
        {f"{host}:{port}" for host in (address, "127.0.0.1", "localhost")}
    )
    return Server(
        {"/som": Application(FunctionHandler(app))},
        port=port,
        address=address,
        allow_websocket_origin=origins,
        num_procs=1,
    )


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def serve(
    experiment_dir: str | os.PathLike[str],
    *,
    port: int = DEFAULT_PORT,
    address: str = DEFAULT_ADDRESS,
    show: bool = False,
    **kwargs: Any,
) -> None:
    """Serve the dashboards until interrupted; prints the URL (and opens it with ``show``)."""
    server = make_server(experiment_dir, port=port, address=address, **kwargs)
    server.start()
    host = "localhost" if address in ("127.0.0.1", "0.0.0.0", "") else address
    url = f"http://{host}:{server.port}/som"
    print(f"vocloud: SOM dashboard at {url} (Ctrl-C to stop)", flush=True)
    if show:
        server.io_loop.add_callback(server.show, "/som")
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()

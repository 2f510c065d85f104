"""An experiment over a loopback HTTP server: directory index source, fetch in the tasks, raw
cache (a rerun downloads nothing), failures named per spectrum."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import yaml

from vocloud.demo import DEMO_EXPERIMENT
from vocloud.run.experiment import Experiment

HALPHA = yaml.safe_load(DEMO_EXPERIMENT)["preprocess"]


@pytest.fixture
def http_archive(mixed_archive):
    info, _ = mixed_archive
    hits: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            hits.append(self.path)
            if self.path.endswith("/missing-on-server.fits"):
                self.send_error(404)
                return
            super().do_GET()

    handler = functools.partial(Handler, directory=str(info.path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield info, f"http://127.0.0.1:{server.server_address[1]}/", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_http_source_fetch_and_raw_cache(http_archive, tmp_path, client):
    info, url, hits = http_archive
    spec = {
        "name": "remote",
        "store": "./experiments",
        "source": {"http": url, "pattern": "lamost-dr7/**/*.fits"},
        "preprocess": HALPHA,
        "fetch": {"concurrency": 4, "retries": 1, "timeout": 10},
        "run": {"block_size": 20},
    }
    f = tmp_path / "remote.yaml"
    f.write_text(yaml.safe_dump(spec))
    exp = Experiment.from_file(f)
    ids = exp.spectra["id"].tolist()
    idx = info.index
    expected = idx["id"][
        idx["path"].str.startswith("lamost-dr7/") & idx["path"].str.endswith(".fits")
    ]
    assert ids == sorted(expected.tolist())
    ds = exp.run(client, progress=False, verbose=False)
    truth = info.truth().set_index("id")["class"]
    normal = np.array([truth[i] != "outlier" for i in ds.id.values])
    assert (ds.status.values[normal] == 1).all()
    fetched = [h for h in hits if h.endswith(".fits")]
    assert len(fetched) == len(ids)  # each file downloaded once
    assert any((tmp_path / "experiments" / ".raw-cache").rglob("*"))
    # a second experiment on the same list and cache downloads nothing
    hits.clear()
    again = Experiment.from_file(f, name="remote2")
    again.run(client, progress=False, verbose=False)
    assert not [h for h in hits if h.endswith(".fits")]
    # a spectrum the server does not have is recorded with the HTTP status, the rest go on
    more = again.spectra.copy()
    more.loc[len(more)] = {
        **more.iloc[0].to_dict(),
        "id": "missing-on-server.fits",
        "access_url": url + "missing-on-server.fits",
        "path": "missing-on-server.fits",
    }
    third = Experiment.from_file(f, name="remote3")
    third.spectra = more
    ds3 = third.run(client, progress=False, verbose=False)
    assert ds3.error.values[-1].startswith("HTTP 404")
    assert (ds3.status.values[:-1][normal] == 1).all()

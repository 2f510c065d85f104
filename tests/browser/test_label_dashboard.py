"""Labelling in the dashboard, in a real headless Chromium: the Label tab's batch labelled with
clicks and keys, saved in the experiment's labels file, the next iteration run from the page;
the spectra of a SOM neuron labelled at once, and sent to a SAMP client."""

from __future__ import annotations

import os
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from viz_experiment import som_experiment

from vocloud.ml.labelfile import experiment_labels, read_label_table, save_labels
from vocloud.viz import SomMapData

MODEL = "(name) => Bokeh.documents[0].get_model_by_name(name)"
BATCH = 8
NEURON_XY = """(neuron) => {
  const doc = Bokeh.documents[0];
  const fig = doc.get_model_by_name('som_map');
  const src = doc.get_model_by_name('neurons');
  const view = [...Bokeh.index.all_views()].find(v => v.model === fig);
  const i = src.data.neuron.indexOf(neuron);
  const xs = src.data.xs[i], ys = src.data.ys[i];
  const cx = xs.reduce((a, b) => a + b) / xs.length, cy = ys.reduce((a, b) => a + b) / ys.length;
  const rect = view.canvas_view.el.getBoundingClientRect();
  return [rect.left + view.frame.x_scale.compute(cx), rect.top + view.frame.y_scale.compute(cy)];
}"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """The dashboard experiment, 4 labels of each class, one active-learning iteration run."""
    root = tmp_path_factory.mktemp("label")
    exp = som_experiment(root)
    truth = pd.read_csv(root / "spectra" / "truth.csv").set_index("id")["class"]
    save_labels(experiment_labels(exp.directory), truth.groupby(truth).head(4).to_dict())
    exp.run_step(
        "active-learning", batch_size=BATCH, query="margin", model_params={"n_estimators": 40}
    )
    return exp.directory


@pytest.fixture
def samp_hub(tmp_path):
    """A SAMP hub on loopback (its lockfile in tmp_path) and a TOPCAT-like client of it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy.samp is deprecated in astropy 8
        from astropy.samp import SAMPHubServer, SAMPIntegratedClient
    from astropy.table import Table

    lock = tmp_path / "samp.lock"
    hub = SAMPHubServer(web_profile=False, lockfile=str(lock), addr="127.0.0.1")
    hub.start()
    got, mutex = [], threading.Lock()

    def on_table(private_key, sender_id, msg_id, mtype, params, extra):
        t = Table.read(params["url"], format="votable")
        with mutex:
            got.append((params, t))
        if msg_id is not None:  # a call: reply once loaded, as TOPCAT does
            client.ereply(msg_id, "samp.ok", result={})

    client = SAMPIntegratedClient(name="TOPCAT-like", addr="127.0.0.1")
    client.connect(hub=hub)
    client.bind_receive_message("table.load.votable", on_table)
    try:
        yield lock, got
    finally:
        client.disconnect()
        hub.stop()


@pytest.fixture
def dashboard(experiment, samp_hub, serve_dashboard):
    """`vocloud dashboard` (one per test: a fresh state), its SAMP hub that of ``samp_hub``;
    its URL."""
    env = {**os.environ, "SAMP_HUB": f"std-lockurl:{samp_hub[0].as_uri()}"}
    with serve_dashboard(experiment, env=env) as url:
        yield url


def _open(page, url):
    page.goto(url)
    page.wait_for_function(
        "() => window.Bokeh && Bokeh.documents.length > 0 && "
        "Bokeh.documents[0].get_model_by_name('label_batch') !== null",
        timeout=30000,
    )
    page.wait_for_timeout(300)


def _model_text(page, name):
    return page.evaluate(f"() => ({MODEL})({name!r}).text")


def _labels(experiment):
    t = read_label_table(experiment_labels(experiment))
    return dict(zip(t["id"], t["label"])), dict(zip(t["id"], t["time"]))


def test_label_a_batch_with_clicks_and_keys_then_run_the_next(page, dashboard, experiment):
    _open(page, dashboard)
    page.get_by_text("Label", exact=True).click()
    page.wait_for_function(f"() => ({MODEL})('label_plot') !== null", timeout=10000)
    first = page.evaluate(f"() => ({MODEL})('label_batch').data.id")
    assert len(first) == BATCH
    classes = sorted(set(_labels(experiment)[0].values()))
    before, _ = _labels(experiment)
    assert not set(first) & set(before)
    # the current spectrum is the first of the batch, drawn as stored
    drawn = page.evaluate(f"() => Array.from(({MODEL})('label_spectrum').data.y)")
    data = SomMapData(experiment)
    row = int(np.flatnonzero(data.ids == first[0])[0])
    np.testing.assert_allclose(drawn, data.spectra(np.array([row]))[0], rtol=1e-6)
    assert first[0] in page.evaluate(f"() => ({MODEL})('label_current').text")

    # a click on a class button labels the current spectrum and moves on
    page.get_by_role("button", name=f"1: {classes[0]}").click()
    page.wait_for_function(
        f"() => ({MODEL})('label_batch').data.label[0] === {classes[0]!r}", timeout=10000
    )
    # keys: "2" the second class for the next spectrum, "0" unsure for the third
    page.mouse.click(5, 5)  # focus on the page, not on a field
    page.keyboard.press("2")
    page.wait_for_function(
        f"() => ({MODEL})('label_batch').data.label[1] === {classes[1]!r}", timeout=10000
    )
    page.keyboard.press("0")
    page.wait_for_function(
        f"() => ({MODEL})('label_batch').data.label[2] === 'unsure'", timeout=10000
    )
    labels, times = _labels(experiment)
    assert labels[first[0]] == classes[0] and labels[first[1]] == classes[1]
    assert labels[first[2]] == "unsure"
    assert all(labels[k] == v for k, v in before.items())  # earlier labels kept
    assert all(times[i] for i in first[:3])

    # the next iteration, run from the page, shows another batch
    page.get_by_role("button", name="Run the next iteration").click()
    page.wait_for_function(
        f"() => ({MODEL})('label_run_status').text.startsWith('iteration 2')", timeout=60000
    )
    assert _model_text(page, "label_status").startswith("Iteration 2 (margin, random-forest)")
    second = page.evaluate(f"() => ({MODEL})('label_batch').data.id")
    assert len(second) == BATCH and second != first
    assert not set(second) & set(first[:3])  # labelled (or unsure) spectra are not asked again
    assert page.console_errors == []


def test_label_the_spectra_of_a_neuron(page, dashboard, experiment):
    data = SomMapData(experiment)
    neuron = int(np.argmax(data.neurons["hits"]))
    members = set(data.ids[data.members(neuron)].tolist())
    _open(page, dashboard)
    page.mouse.click(*page.evaluate(NEURON_XY, neuron))
    page.wait_for_function(
        f"() => ({MODEL})('som_label').label === 'label the {len(members)} selected'",
        timeout=15000,
    )
    page.get_by_label("or a new class").first.fill("neuron-class")
    page.get_by_role("button", name=f"label the {len(members)} selected").click()
    page.wait_for_function(
        f"() => ({MODEL})('som_label_info').text.startsWith('{len(members)} spectra labelled')",
        timeout=10000,
    )
    labels, _ = _labels(experiment)
    assert {i for i, v in labels.items() if v == "neuron-class"} == members
    assert page.console_errors == []


def test_send_the_spectra_of_a_neuron_to_samp(page, dashboard, experiment, samp_hub):
    _, got = samp_hub
    data = SomMapData(experiment)
    neuron = int(np.argmax(data.neurons["hits"]))
    members = data.ids[data.members(neuron)].tolist()
    _open(page, dashboard)
    page.mouse.click(*page.evaluate(NEURON_XY, neuron))
    page.wait_for_function(
        f"() => ({MODEL})('som_label').label === 'label the {len(members)} selected'",
        timeout=15000,
    )
    page.get_by_role("button", name="send to SAMP").first.click()
    page.wait_for_function(
        f"() => ({MODEL})('som_label_info').text.includes('sent to 1 SAMP client')",
        timeout=15000,
    )
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    params, table = got[0]
    assert params["name"] == "vocloud som selection"
    assert sorted(str(i) for i in table["id"]) == sorted(members)
    assert {"outlier_score", "neuron"} <= set(table.colnames)
    assert page.console_errors == []

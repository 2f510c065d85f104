"""The dashboard's Forest tab in a real headless Chromium: a click on a confusion-matrix cell
draws and lists the spectra of that (true, cross-validated prediction) pair."""

from __future__ import annotations

import numpy as np
import pytest
from viz_experiment import make_som_experiment

from vocloud.steps.runner import STEPS_FOLDER, recorded_steps
from vocloud.store import read_array
from vocloud.viz import SomMapData

MODEL = "(name) => Bokeh.documents[0].get_model_by_name(name)"
CELL_XY = """([t, p]) => {
  const fig = Bokeh.documents[0].get_model_by_name('confusion_matrix');
  const view = [...Bokeh.index.all_views()].find(v => v.model === fig);
  const rect = view.canvas_view.el.getBoundingClientRect();
  const x = view.frame.x_scale.compute(fig.x_range.synthetic(p));
  const y = view.frame.y_scale.compute(fig.y_range.synthetic(t));
  return [rect.left + x, rect.top + y];
}"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return make_som_experiment(tmp_path_factory.mktemp("forest"))


@pytest.fixture(scope="module")
def dashboard(experiment, serve_dashboard):
    with serve_dashboard(experiment) as url:
        yield url


def test_a_confusion_cell_click_draws_its_spectra(page, dashboard, experiment):
    data = SomMapData(experiment)
    (rec,) = [
        r
        for r in recorded_steps(experiment, data._features_store)
        if r["method"] == "random-forest"
    ]
    path = experiment / STEPS_FOLDER / rec["store"]
    label = read_array(path, "label").astype(str)
    cv = read_array(path, "cv_predicted_class").astype(str)
    pairs = {}
    for i in np.flatnonzero(label != ""):
        pairs.setdefault((label[i], cv[i]), []).append(i)
    off = {k: v for k, v in pairs.items() if k[0] != k[1]}
    (t, p), rows = max((off or pairs).items(), key=lambda kv: len(kv[1]))
    page.goto(dashboard)
    page.wait_for_function(
        f"() => window.Bokeh && Bokeh.documents.length && ({MODEL})('confusion_matrix')",
        timeout=30000,
    )
    page.get_by_text("Forest", exact=True).click()
    page.wait_for_timeout(800)
    page.mouse.click(*page.evaluate(CELL_XY, [t, p]))
    page.wait_for_function(
        f"() => ({MODEL})('confusion_selection').text.startsWith('true {t}, predicted {p}')",
        timeout=15000,
    )
    text = page.evaluate(f"() => ({MODEL})('confusion_selection').text")
    assert f": {len(rows)} spectra" in text, text
    listed = page.evaluate(f"() => ({MODEL})('confusion_table').data.id")
    assert sorted(listed) == sorted(data.ids[rows].tolist())
    drawn = page.evaluate(f"() => ({MODEL})('confusion_spectra').data.ys.length")
    assert drawn == min(len(rows), 40)
    # the predictions table filtered by class
    n = page.evaluate(f"() => ({MODEL})('predictions_table').source.data.id.length")
    assert n > 0
    assert page.console_errors == []

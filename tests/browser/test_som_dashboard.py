"""The SOM dashboard served by `vocloud dashboard`, clicked in a real headless Chromium."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from viz_experiment import make_som_experiment

from vocloud.viz import SomMapData

# Screen position (page pixels) of a neuron's tile centre, from the plot's own scales.
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
MODEL = "(name) => Bokeh.documents[0].get_model_by_name(name)"


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return make_som_experiment(tmp_path_factory.mktemp("viz"))


@pytest.fixture(scope="module")
def dashboard(experiment, serve_dashboard):
    """`vocloud dashboard` of the experiment (one for the module); its URL."""
    with serve_dashboard(experiment) as url:
        yield url


def _open(page, url):
    page.goto(url)
    page.wait_for_function(
        "() => window.Bokeh && Bokeh.documents.length > 0 && "
        "Bokeh.documents[0].get_model_by_name('som_map') !== null",
        timeout=30000,
    )
    page.wait_for_timeout(300)  # first paint of the canvas


def _selection_text(page, startswith="neuron"):
    page.wait_for_function(
        f"() => Bokeh.documents[0].get_model_by_name('selection').text.startsWith('{startswith}')",
        timeout=15000,
    )
    return page.evaluate(f"() => ({MODEL})('selection').text")


def test_clicking_a_neuron_shows_its_spectra(page, dashboard, experiment, tmp_path) -> None:
    data = SomMapData(experiment)
    hits = data.neurons["hits"]
    neuron = int(np.argmax(hits))  # the fullest neuron: more spectra than are drawn
    r, c = divmod(neuron, data.shape[1])
    _open(page, dashboard)
    x, y = page.evaluate(NEURON_XY, neuron)
    page.mouse.click(x, y)
    text = _selection_text(page)
    assert text.startswith(f"neuron ({r}, {c}): {hits[neuron]:,} spectra"), text
    drawn = page.evaluate(f"() => ({MODEL})('member_spectra').data.ys.length")
    assert drawn == min(int(hits[neuron]), 40)
    # the table lists the neuron's spectra, highest outlier score first, as the store says
    ids = page.evaluate(f"() => ({MODEL})('member_table').data.id")
    assert ids == data.ids[data.members(neuron)].tolist()
    first = page.evaluate(f"() => ({MODEL})('member_spectra').data.ys[0]")
    np.testing.assert_allclose(first, data.spectra(data.members(neuron)[:1])[0], rtol=1e-6)
    # and the table shows them on the page
    page.get_by_text(ids[0]).first.wait_for(timeout=5000)
    shot = tmp_path / "som.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    assert page.console_errors == []


def test_shift_click_adds_neurons(page, dashboard, experiment) -> None:
    data = SomMapData(experiment)
    hits = data.neurons["hits"]
    full = np.flatnonzero(hits > 0)
    a, b = int(full[0]), int(full[-1])  # far apart: the tooltip at one does not cover the other
    _open(page, dashboard)
    page.mouse.click(*page.evaluate(NEURON_XY, a))
    _selection_text(page)
    # a second click soon after the first is a double click to Bokeh (no tap): wait, as a user does
    page.wait_for_timeout(800)
    page.mouse.move(5, 5)  # off the map: its tooltip goes
    page.keyboard.down("Shift")
    page.mouse.click(*page.evaluate(NEURON_XY, b))
    page.keyboard.up("Shift")
    text = _selection_text(page, "neurons")
    assert f": {hits[a] + hits[b]:,} spectra" in text, text
    n = page.evaluate(f"() => ({MODEL})('member_table').data.id.length")
    assert n == hits[a] + hits[b]
    assert page.console_errors == []


def test_colour_menu_recolours_the_map(page, dashboard, experiment) -> None:
    data = SomMapData(experiment)
    _open(page, dashboard)
    page.get_by_label("colour by").select_option("U-matrix distance")
    page.wait_for_function(
        f"() => Math.abs(({MODEL})('neurons').data.value[0] - {float(data.neurons['umatrix'][0])!r}) < 1e-9",
        timeout=10000,
    )
    page.get_by_label("colour by").select_option("majority class")
    page.wait_for_function(f"() => ({MODEL})('class_legend').visible", timeout=10000)
    legend = page.evaluate(f"() => ({MODEL})('class_legend').text")
    for name in set(data.predicted) - {""}:
        assert name in legend
    assert page.console_errors == []


def test_dashboard_without_a_som_step_is_a_clear_error(tmp_path) -> None:
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "vocloud.cli", "dashboard", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "vocloud: error:" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 60


def test_outliers_tab_draws_the_picked_spectrum(page, dashboard, experiment) -> None:
    data = SomMapData(experiment)
    _open(page, dashboard)
    listed = page.evaluate(f"() => ({MODEL})('outlier_table').data.id")
    scores = page.evaluate(f"() => ({MODEL})('outlier_table').data.outlier_score")
    assert len(listed) == min(500, int((data.neuron_of >= 0).sum()))
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(np.nanmax(data.outlier_score))
    page.get_by_text("Outliers", exact=True).click()
    third = listed[2]
    page.locator(".slick-cell").filter(has_text=third).first.click()
    page.wait_for_function(
        f"() => ({MODEL})('outlier_selection').text.startsWith('1 spectrum')", timeout=10000
    )
    assert page.evaluate(f"() => ({MODEL})('outlier_spectra').data.id") == [third]
    assert page.console_errors == []


def test_pca_tab_box_selection_draws_the_spectra(page, dashboard, experiment) -> None:
    data = SomMapData(experiment)
    _open(page, dashboard)
    page.get_by_text("PCA", exact=True).click()
    page.wait_for_timeout(500)
    x0, y0, w, h = page.evaluate(
        """() => {
      const fig = Bokeh.documents[0].get_model_by_name('pca_map');
      const view = [...Bokeh.index.all_views()].find(v => v.model === fig);
      const r = view.canvas_view.el.getBoundingClientRect(), f = view.frame.bbox;
      return [r.left + f.left, r.top + f.top, f.width, f.height];
    }"""
    )
    # drag a box over the whole plot (box select is the active drag tool): every point
    page.mouse.move(x0 + 2, y0 + 2)
    page.mouse.down()
    page.mouse.move(x0 + w - 2, y0 + h - 2, steps=10)
    page.mouse.up()
    page.wait_for_function(
        f"() => ({MODEL})('pca_selection').text.includes('spectra selected')", timeout=15000
    )
    n = page.evaluate(f"() => ({MODEL})('pca_points').selected.indices.length")
    assert n == int(np.isfinite(data.pca_scores).all(axis=1).sum())
    ids = page.evaluate(f"() => ({MODEL})('pca_table').data.id")
    assert len(ids) == n
    order = np.argsort(-data.outlier_score, kind="stable")
    assert ids == data.ids[order].tolist()
    assert page.evaluate(f"() => ({MODEL})('pca_spectra').data.ys.length") == min(n, 40)
    assert page.console_errors == []

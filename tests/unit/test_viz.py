"""The SOM dashboard's data and document, without a browser (that is tests/browser)."""

from __future__ import annotations

import numpy as np
import pytest
from bokeh.document import Document
from viz_experiment import make_som_experiment

from vocloud.cli import main
from vocloud.viz import SomMapData, som_document
from vocloud.viz.serve import make_server


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return make_som_experiment(tmp_path_factory.mktemp("viz"), n=300, shape=(4, 5))


def test_map_data_per_neuron_and_per_spectrum(experiment) -> None:
    data = SomMapData(experiment)
    assert data.shape == (4, 5) and data.topology == "hexagonal"
    nb = data.neurons
    assert nb["hits"].sum() == (data.neuron_of >= 0).sum() == 300
    for k in range(20):
        rows = data.members(k)
        assert len(rows) == nb["hits"][k]
        assert set(data.neuron_of[rows]) <= {k}
        scores = data.outlier_score[rows]
        assert np.all(np.diff(scores) <= 0)  # highest outlier score first
        if len(rows):
            assert nb["outlier"][k] == pytest.approx(scores.mean())
            majority = nb["majority"][k]
            share = np.mean(data.predicted[rows] == majority)
            assert nb["purity"][k] == pytest.approx(share)
            assert share == max(np.mean(data.predicted[rows] == c) for c in set(data.predicted))
        else:
            assert np.isnan(nb["outlier"][k]) and nb["majority"][k] == ""
    rows = data.members(int(np.argmax(nb["hits"])))[:5]
    from vocloud import open_experiment

    np.testing.assert_array_equal(
        data.spectra(rows), open_experiment(experiment).features.values[rows]
    )
    assert data.spectra(rows[::-1]).tolist() == data.spectra(rows)[::-1].tolist()
    assert data.describe()["metrics"]["quantization_error"] > 0


def test_neurons_are_the_som_steps_best_matching_units(experiment) -> None:
    """What the map shows per spectrum is what the SOM step stored (read here on its own from
    the step's Zarr), and those are the nearest neurons of its codebook to the features."""
    import json

    import xarray as xr
    from tolerances import assert_bmus_agree

    from vocloud import open_experiment

    data = SomMapData(experiment)
    steps = json.loads((experiment / "experiment.json").read_text())["steps"]
    (som_store,) = [s["store"] for rec in steps.values() for s in rec if s["method"] == "som"]
    som = xr.open_zarr(str(experiment / "steps" / som_store), consolidated=False)
    rows, cols = data.shape
    stored = som.som_row.values.astype(int) * cols + som.som_col.values
    stored[som.som_row.values < 0] = -1
    feats = open_experiment(experiment)
    assert data.ids.tolist() == feats.id.values.tolist()
    np.testing.assert_array_equal(data.neuron_of, stored)
    np.testing.assert_array_equal(stored == -1, feats.status.values != 1)
    np.testing.assert_array_equal(data.neurons["hits"], som.som_hits.values.ravel())
    codebook = som.som_codebook.values
    assert codebook.shape[:2] == (rows, cols)
    assert_bmus_agree(feats.features.values, codebook, stored, data.neuron_of)
    # selecting a neuron in the document lists exactly its spectra
    doc = Document()
    som_document(doc, experiment)
    k = int(np.argmax(data.neurons["hits"]))
    doc.get_model_by_name("neurons").selected.indices = [k]
    listed = doc.get_model_by_name("member_table").data["id"]
    assert sorted(listed) == sorted(data.ids[stored == k].tolist())


def test_document_selection_and_colours(experiment) -> None:
    doc = Document()
    data = som_document(doc, experiment, color_by="outlier")
    src = doc.get_model_by_name("neurons")
    np.testing.assert_array_equal(src.data["value"], data.neurons["outlier"])
    k = int(np.argmax(data.neurons["hits"]))
    src.selected.indices = [k]
    text = doc.get_model_by_name("selection").text
    assert text.startswith(f"neuron ({k // 5}, {k % 5}): {data.neurons['hits'][k]:,} spectra")
    lines = doc.get_model_by_name("member_spectra").data
    assert len(lines["ys"]) == min(40, data.neurons["hits"][k])
    assert lines["id"] == data.ids[data.members(k)][:40].tolist()
    table = doc.get_model_by_name("member_table").data
    assert table["predicted_class"] == data.predicted[data.members(k)].tolist()
    src.selected.indices = []
    assert doc.get_model_by_name("selection").text.startswith("Click a neuron")
    assert doc.get_model_by_name("member_spectra").data["ys"] == []
    doc.get_model_by_name("color_by").value = "majority class"
    assert doc.get_model_by_name("class_legend").visible


def test_missing_som_step_and_bad_colour_are_named(experiment, tmp_path) -> None:
    with pytest.raises(ValueError, match="no SOM step 'som-nope'"):
        SomMapData(experiment, step="som-nope")
    with pytest.raises(ValueError, match="color_by: one of"):
        som_document(Document(), experiment, color_by="brightness")
    with pytest.raises(FileNotFoundError):
        make_server(tmp_path / "no-experiment", port=0)


def test_shared_map_data_notices_a_newer_som_step(tmp_path) -> None:
    from viz_experiment import som_experiment

    exp = som_experiment(tmp_path, n=200, shape=(3, 4))
    data = SomMapData(exp.directory)
    assert data.is_current()
    exp.run_step("som", shape=(2, 2), topology="rectangular", epochs=2)
    assert not data.is_current()
    again = SomMapData(exp.directory)
    assert again.shape == (2, 2) and again.topology == "rectangular" and again.is_current()
    named = SomMapData(exp.directory, step=data.step)  # an older step, by name
    assert named.shape == (3, 4)


def test_outlier_list_and_picks(experiment) -> None:
    doc = Document()
    data = som_document(doc, experiment)
    table = doc.get_model_by_name("outlier_table")
    order = np.argsort(-data.outlier_score, kind="stable")
    assert table.data["id"] == data.ids[order].tolist()  # all 300 mapped, highest score first
    drawn = doc.get_model_by_name("outlier_spectra").data
    assert drawn["id"] == data.ids[order[:10]].tolist()
    table.selected.indices = [4, 1]
    drawn = doc.get_model_by_name("outlier_spectra").data
    assert drawn["id"] == [table.data["id"][4], table.data["id"][1]]
    np.testing.assert_array_equal(drawn["ys"][0], data.spectra([order[4]])[0])
    assert doc.get_model_by_name("outlier_selection").text.startswith("2 spectra picked")


def test_pca_view_points_axes_and_selection(experiment) -> None:
    doc = Document()
    data = som_document(doc, experiment)
    assert data.pca_scores.shape == (300, 4) and data.pca_ratio[0] > data.pca_ratio[1]
    points = doc.get_model_by_name("pca_points")
    np.testing.assert_array_equal(points.data["x"], data.pca_scores[points.data["row"], 0])
    doc.get_model_by_name("pca_y").value = doc.get_model_by_name("pca_y").options[3]
    np.testing.assert_array_equal(points.data["y"], data.pca_scores[points.data["row"], 3])
    points.selected.indices = [0, 5, 9]
    rows = np.asarray(points.data["row"])[[0, 5, 9]]
    rows = rows[np.argsort(-data.outlier_score[rows], kind="stable")]
    assert doc.get_model_by_name("pca_table").data["id"] == data.ids[rows].tolist()
    assert doc.get_model_by_name("pca_spectra").data["id"] == data.ids[rows].tolist()
    assert doc.get_model_by_name("pca_selection").text == "3 spectra selected"


def test_without_a_forest_there_are_no_classes(tmp_path) -> None:
    from viz_experiment import som_experiment

    exp = som_experiment(tmp_path, n=200, shape=(3, 3), topology="rectangular", forest=False)
    doc = Document()
    data = som_document(doc, exp.directory)
    assert data.predicted is None and "majority" not in data.neurons
    assert "majority class" not in doc.get_model_by_name("color_by").options
    assert "predicted_class" not in doc.get_model_by_name("outlier_table").data
    points = doc.get_model_by_name("pca_points")
    points.selected.indices = [0, 1]
    assert doc.get_model_by_name("pca_selection").text == "2 spectra selected"
    doc.get_model_by_name("neurons").selected.indices = [0]
    assert doc.get_model_by_name("selection").text.startswith("neuron (0, 0)")
    with pytest.raises(ValueError, match="color_by"):
        som_document(Document(), exp.directory, color_by="majority")
    # the server checks the colouring before it serves (not an HTTP 500 in the browser)
    with pytest.raises(ValueError, match="majority and purity need a random-forest step"):
        make_server(exp.directory, port=0, color_by="purity")
    assert main(["dashboard", str(exp.directory), "--color-by", "majority", "--port", "0"]) == 2

"""The dashboard's Forest tab: how good the random forest is, and on which spectra it errs.

- a confusion matrix of the labelled spectra (given label x cross-validated prediction) as a
  heatmap: a click on a cell draws and lists the spectra of that (true, predicted) pair;
- F1 per class (cross-validated) and the feature importance over wavelength;
- the predictions of every spectrum, filtered by predicted class and least probability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    DataTable,
    Div,
    LinearColorMapper,
    NumberFormatter,
    Select,
    Slider,
    TableColumn,
)
from bokeh.palettes import Blues256

from vocloud.steps.runner import open_step, recorded_steps
from vocloud.store import ExperimentFolder, read_array
from vocloud.viz.spectra_views import show_rows, spectra_plot, spectra_table

__all__ = ["forest_panel"]

#: The most rows the predictions table lists (the highest probability first).
PREDICTION_ROWS = 2000


def _latest_forest(data: Any) -> Path | None:
    recs = [
        r
        for r in recorded_steps(data._root, data._features_store)
        if r["method"] == "random-forest"
    ]
    return ExperimentFolder(data._root).step_store(recs[-1]["store"]) if recs else None


def forest_panel(data: Any, figure: Any, max_lines: int) -> Any | None:
    """The Forest tab of the experiment's latest random-forest step (None without one)."""
    path = _latest_forest(data)
    if path is None:
        return None
    ds = open_step(path)
    classes = [str(c) for c in ds["class"].values]
    label = read_array(path, "label").astype(str)
    cv = read_array(path, "cv_predicted_class").astype(str) if "cv_predicted_class" in ds else None
    labelled = np.flatnonzero(label != "")
    metrics = ds.attrs.get("metrics") or {}
    children = [_summary(metrics, labelled.size, cv is not None)]
    if cv is not None:
        children.append(_confusion_view(data, figure, classes, label, cv, labelled, max_lines))
    children.append(row(_f1_plot(figure, metrics, classes), _importance_plot(data, figure, ds)))
    children.append(_predictions_view(data, path, classes))
    return column(*children)


def _summary(metrics: dict[str, Any], n_labelled: int, has_cv: bool) -> Any:
    acc = metrics.get("cv_accuracy")
    text = (
        f"Random forest on {n_labelled:,} labelled spectra: cross-validated accuracy {acc:.3f}"
        if acc is not None
        else f"Random forest on {n_labelled:,} labelled spectra"
    )
    if not has_cv:
        text += " (rerun the random-forest step for the per-spectrum confusion matrix)"
    return Div(text=text, name="forest_summary", width=1300)


def _confusion_view(
    data: Any,
    figure: Any,
    classes: list[str],
    label: np.ndarray,
    cv: np.ndarray,
    labelled: np.ndarray,
    max_lines: int,
) -> Any:
    """The heatmap (rows: true class, columns: predicted) whose clicked cell shows its spectra."""
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    true_i = np.array([index.get(c, -1) for c in label[labelled]])
    pred_i = np.array([index.get(c, -1) for c in cv[labelled]])
    ok = (true_i >= 0) & (pred_i >= 0)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (true_i[ok], pred_i[ok]), 1)
    cells = {
        "true": [classes[t] for t in range(k) for _ in range(k)],
        "predicted": [classes[p] for _ in range(k) for p in range(k)],
        "count": counts.ravel().tolist(),
        "text": [str(v) for v in counts.ravel()],
        "share": (counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)).ravel().tolist(),
    }
    source = ColumnDataSource(cells, name="confusion_cells")
    mapper = LinearColorMapper(palette=Blues256[::-1], low=0, high=1)
    cm = figure(
        name="confusion_matrix",
        title="labelled spectra: true class (rows) x cross-validated prediction (click a cell)",
        x_range=classes,
        y_range=list(reversed(classes)),
        width=560,
        height=480,
        tools="tap,save",
        x_axis_label="predicted",
        y_axis_label="true",
    )
    cm.rect(
        "predicted",
        "true",
        1,
        1,
        source=source,
        fill_color={"field": "share", "transform": mapper},
        line_color="white",
        selection_line_color="red",
        selection_line_width=3,
        nonselection_fill_alpha=0.7,
    )
    cm.text(
        "predicted",
        "true",
        text="text",
        source=source,
        text_align="center",
        text_baseline="middle",
        text_font_size="10pt",
    )
    cm.xaxis.major_label_orientation = 0.8
    cm.grid.visible = False
    sp, lines = spectra_plot(
        data,
        figure,
        "confusion",
        "spectra of the cell",
        line_alpha=0.4,
        line_width=1,
        color="#b2182b",
    )
    info = Div(name="confusion_selection", text="Click a cell to see its spectra.", width=720)
    none = np.empty(0, dtype=np.int64)
    table, members = spectra_table(data, none, "confusion_members", "confusion_table", 240)

    def picked(attr: str, old: list[int], new: list[int]) -> None:
        if not new:
            show_rows(data, none, lines, members, max_lines)
            info.text = "Click a cell to see its spectra."
            return
        t, p = divmod(int(new[0]), k)
        rows = labelled[ok & (true_i == t) & (pred_i == p)]
        rows, _, note = show_rows(data, rows, lines, members, max_lines)
        info.text = f"true {classes[t]}, predicted {classes[p]}: {rows.size:,} spectra{note}"

    source.selected.on_change("indices", picked)
    return row(cm, column(info, sp, table))


def _f1_plot(figure: Any, metrics: dict[str, Any], classes: list[str]) -> Any:
    f1 = metrics.get("f1_per_class") or {}
    p = figure(
        name="f1_per_class",
        title="F1 per class (cross-validated)",
        x_range=classes,
        y_range=(0, 1.05),
        width=560,
        height=300,
        tools="save",
    )
    p.vbar(x=classes, top=[float(f1.get(c, np.nan)) for c in classes], width=0.7)
    p.xaxis.major_label_orientation = 0.8
    return p


def _importance_plot(data: Any, figure: Any, ds: Any) -> Any:
    p = figure(
        name="importance",
        title="feature importance over wavelength (mean decrease in impurity)",
        width=720,
        height=300,
        x_axis_label=f"wavelength ({data.wavelength_unit})",
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    p.line(data.wavelength, np.asarray(ds["importance"].values), line_width=1.5)
    return p


def _predictions_view(data: Any, path: Path, classes: list[str]) -> Any:
    """Every spectrum's prediction, filtered by predicted class and least probability."""
    predicted = read_array(path, "predicted_class").astype(str)
    top = np.nanmax(np.where(np.isnan(p := read_array(path, "probability")), -1, p), axis=1)
    cls = Select(
        title="predicted class", value=classes[0], options=classes, name="pred_class", width=200
    )
    least = Slider(
        title="least probability",
        start=0,
        end=1,
        step=0.05,
        value=0.0,
        name="pred_min_probability",
        width=300,
    )
    source = ColumnDataSource(name="predictions")
    info = Div(name="predictions_info", width=600)
    table = DataTable(
        source=source,
        columns=[
            TableColumn(field="id", title="id", width=380),
            TableColumn(field="predicted", title="predicted class", width=160),
            TableColumn(
                field="probability", title="probability", formatter=NumberFormatter(format="0.000")
            ),
        ],
        width=720,
        height=300,
        name="predictions_table",
        index_position=None,
    )

    def update(attr: str, old: Any, new: Any) -> None:
        rows = np.flatnonzero((predicted == cls.value) & (top >= least.value))
        rows = rows[np.argsort(-top[rows], kind="stable")]
        shown = rows[:PREDICTION_ROWS]
        source.data = {
            "id": [str(i) for i in data.ids[shown]],
            "predicted": predicted[shown].tolist(),
            "probability": top[shown].tolist(),
        }
        more = f" (the {shown.size:,} most probable listed)" if rows.size > shown.size else ""
        info.text = f"{rows.size:,} spectra predicted {cls.value} with p >= {least.value:.2f}{more}"

    cls.on_change("value", update)
    least.on_change("value", update)
    update("value", None, None)
    return column(row(cls, least, info), table)

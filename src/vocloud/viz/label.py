"""Labelling by eye in the dashboard: the Label tab and labels for map or PCA selections.

The Label tab shows the batch of the experiment's latest ``active-learning`` step, most useful
first: the current spectrum with its predicted class and probability, the mean spectrum of each
labelled class beside it, and the batch as a table. A class is given with its button or its key
(``1``-``9``; ``0`` or ``u``: unsure; ``j``/``k`` or the arrow keys move), saved at once into the
experiment's labels file (:func:`vocloud.ml.labelfile.save_labels`: one row appended under a
lock, with the time) and the next unlabelled spectrum is shown. "Run the next iteration" runs the step again
(in a thread: the page stays live) and shows the new batch. :class:`SelectionLabeller` gives one
class to every spectrum of a selection (SOM neurons, a PCA lasso).

The spectra of a batch are read from the store once, when the batch is shown: a label click
only writes the labels file and redraws from memory (docs/performance.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bokeh.layouts import column, row
from bokeh.models import (
    Button,
    ColumnDataSource,
    CustomJS,
    DataTable,
    Div,
    NumberFormatter,
    Select,
    TableColumn,
    TextInput,
)
from bokeh.palettes import Category10, Category20

from vocloud.ml.active import UNSURE
from vocloud.ml.labelfile import experiment_labels, read_label_table, save_labels
from vocloud.run.cluster import get_client
from vocloud.steps.active import iteration_records
from vocloud.steps.runner import open_step, recorded_steps, run_step
from vocloud.store import ExperimentFolder, read_array

__all__ = ["LabelBatch", "SelectionLabeller", "label_panel"]

METHOD = "active-learning"
#: Keys that move through the batch, and those that mean "unsure".
NEXT_KEYS, PREV_KEYS, UNSURE_KEYS = ("j", "ArrowDown"), ("k", "ArrowUp"), ("0", "u")


def _latest_step(root: Path, store: Path) -> dict[str, Any] | None:
    recs = [r for r in recorded_steps(root, store) if r["method"] == METHOD]
    return recs[-1] if recs else None


class LabelBatch:
    """The batch of the latest active-learning step of an experiment, read for labelling.

    Parameters
    ----------
    root : Path
        The experiment folder.
    store : Path
        Its feature store.
    spectra : callable
        ``rows -> flux`` (e.g. :meth:`vocloud.viz.SomMapData.spectra`).
    ids : numpy.ndarray
        The id of every stored spectrum.
    extra_classes : iterable of str
        Classes offered besides those of the step and of the labels file (e.g. a forest's).
    scheduler : str, optional
        A Dask scheduler address where :meth:`run_next` scores the stored spectra (default:
        the dashboard's own process).

    Attributes
    ----------
    record : dict or None
        The step as recorded (params, key, metrics); None before the first iteration.
    rows, ids, predicted, probability : numpy arrays
        The batch, in the order to ask: store rows, ids, predicted class and its probability.
    flux : numpy.ndarray
        Their spectra.
    classes : list of str
        Classes to offer, sorted (without ``unsure``).
    means : dict
        ``{class: mean spectrum}`` of the labelled spectra (of the step).
    labels_path : Path
        The labels file the step reads and the dashboard writes.
    given : dict
        ``{id: label}`` in the labels file now.
    """

    def __init__(
        self,
        root: Path,
        store: Path,
        spectra: Callable[[np.ndarray], np.ndarray],
        ids: np.ndarray,
        extra_classes: Any = (),
        scheduler: str | None = None,
    ) -> None:
        self.root, self.store, self._spectra = Path(root), Path(store), spectra
        self.scheduler = scheduler
        self._all_ids = ids
        self._extra = sorted({str(c) for c in extra_classes if c})
        self.reload()

    def reload(self) -> None:
        """Read the latest step and the labels file again."""

        self.record = _latest_step(self.root, self.store)
        self.iteration = len(iteration_records(self.root))
        none = np.empty(0, dtype=np.int64)
        self.rows, self.ids, self.predicted = none, np.empty(0, object), np.empty(0, object)
        self.probability = np.empty(0)
        self.flux = np.empty((0, 0), dtype=np.float32)
        self.means: dict[str, np.ndarray] = {}
        step_classes: list[str] = []
        self.labels_path = experiment_labels(self.root)
        if self.record is not None:
            path = ExperimentFolder(self.root).step_store(self.record["store"])
            ds = open_step(path)
            rank = read_array(path, "query_rank")
            rows = np.flatnonzero(rank > 0)
            self.rows = rows[np.argsort(rank[rows])]
            self.ids = np.asarray(self._all_ids[self.rows], dtype=object)
            pred = ds["predicted_class"].isel(spectrum=self.rows).values  # only their chunks
            self.predicted = np.asarray(pred).astype(str)
            proba = ds["probability"].isel(spectrum=self.rows).values if self.rows.size else None
            self.probability = (
                np.nanmax(proba, axis=1) if proba is not None else np.empty(0, dtype=np.float64)
            )
            step_classes = [str(c) for c in ds["class"].values]
            if "class_mean" in ds:
                cm = ds["class_mean"].values
                self.means = {c: cm[i] for i, c in enumerate(step_classes)}
            self.flux = self._spectra(self.rows) if self.rows.size else self.flux
            labels = self.record.get("params", {}).get("labels")
            rec_file = _record_labels_file(self.root, self.record)
            if rec_file is not None:
                self.labels_path = rec_file
            elif labels:
                self.labels_path = Path(labels)
        table = read_label_table(self.labels_path)
        self.given = dict(zip(table["id"].astype(str), table["label"].astype(str)))
        known = set(step_classes) | set(self._extra) | set(self.given.values())
        self.classes = sorted(known - {UNSURE, ""})

    def label(self, ids: Any, label: str) -> int:
        """Save ``label`` for spectra ``ids`` in the labels file now (appended under its lock)."""

        ids = [str(i) for i in ids]
        n = save_labels(self.labels_path, dict.fromkeys(ids, label))
        for i in ids:
            self.given[i] = label
        if label and label != UNSURE and label not in self.classes:
            self.classes = sorted({*self.classes, label})
        return n

    def run_next(self) -> Any:
        """Run the next iteration (the step with the latest parameters and the new labels)."""

        params = dict((self.record or {}).get("params") or {})
        params["labels"] = str(self.labels_path)
        if not self.scheduler:
            return run_step(self.root, self.store, METHOD, params)
        # the experiment's cluster does the scoring, not the dashboard's process
        with get_client(self.scheduler, quiet=True) as client, client.as_current():
            return run_step(self.root, self.store, METHOD, params)


def _record_labels_file(root: Path, record: dict[str, Any]) -> Path | None:
    """The labels file of the iteration that made ``record`` (absolute, as the step read it)."""

    for rec in reversed(iteration_records(root)):
        if rec.get("params", {}) == record.get("params"):
            return Path(rec["labels_file"])
    return None


def _button_label(i: int, name: str) -> str:
    return f"{i + 1}: {name}" if i < 9 else name


def label_panel(
    batch: LabelBatch, figure: Any, wavelength: np.ndarray, unit: str, doc: Any
) -> tuple[Any, Any]:
    """The Label tab's layout, and its key source (for :func:`key_bindings`)."""

    status = Div(name="label_status", width=1300)
    current = Div(name="label_current", width=720)
    run_status = Div(name="label_run_status", width=500)
    table_src = ColumnDataSource(name="label_batch")
    table = DataTable(
        source=table_src,
        columns=[
            TableColumn(field="rank", title="#", width=40),
            TableColumn(field="id", title="id", width=330),
            TableColumn(field="predicted", title="predicted", width=150),
            TableColumn(
                field="probability", title="p", width=60, formatter=NumberFormatter(format="0.00")
            ),
            TableColumn(field="label", title="label given", width=150),
        ],
        width=760,
        height=330,
        name="label_table",
        index_position=None,
    )
    spec_src = ColumnDataSource({"x": [], "y": []}, name="label_spectrum")
    means_src = ColumnDataSource({"xs": [], "ys": [], "cls": [], "color": []}, name="label_means")
    sp = figure(
        name="label_plot",
        title="the spectrum to label",
        width=620,
        height=330,
        x_axis_label=f"wavelength ({unit})",
        y_axis_label="scaled flux",
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    sp.line("x", "y", source=spec_src, color="black", line_width=1.5)
    mp = figure(
        name="label_means_plot",
        title="mean spectrum of each labelled class (black: the spectrum to label)",
        width=620,
        height=330,
        x_axis_label=f"wavelength ({unit})",
        x_range=sp.x_range,
        y_range=sp.y_range,
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    mp.multi_line("xs", "ys", source=means_src, color="color", line_width=2, legend_field="cls")
    mp.line("x", "y", source=spec_src, color="black", line_width=1, line_alpha=0.6)
    mp.legend.location = "top_left"
    mp.legend.label_text_font_size = "8pt"
    buttons = row(name="label_buttons")
    run = Button(label="Run the next iteration", name="label_run", button_type="primary", width=220)
    keys = ColumnDataSource({"key": [], "n": []}, name="label_keys")
    state: dict[str, Any] = {"i": 0}

    def table_data() -> dict[str, list[Any]]:
        return {
            "rank": list(range(1, batch.rows.size + 1)),
            "id": [str(i) for i in batch.ids],
            "predicted": batch.predicted.tolist(),
            "probability": [float(p) for p in batch.probability],
            "label": [batch.given.get(str(i), "") for i in batch.ids],
        }

    def draw(i: int) -> None:
        n = batch.rows.size
        if n == 0:
            spec_src.data = {"x": [], "y": []}
            current.text = (
                "No batch yet: label a few spectra of each class (SOM or PCA tab), then run."
            )
            return
        i = int(min(max(i, 0), n - 1))
        state["i"] = i
        spec_src.data = {"x": wavelength, "y": batch.flux[i]}
        given = batch.given.get(str(batch.ids[i]), "")
        current.text = (
            f"<b>{i + 1} of {n}</b>: {batch.ids[i]} &mdash; predicted <b>{batch.predicted[i]}</b> "
            f"(p = {batch.probability[i]:.2f})" + (f"; labelled <b>{given}</b>" if given else "")
        )
        if table_src.selected.indices != [i]:
            table_src.selected.indices = [i]

    def show_batch() -> None:
        table_src.data = table_data()
        colors = _palette(batch.classes)
        names = [c for c in batch.classes if c in batch.means]
        means_src.data = {
            "xs": [wavelength] * len(names),
            "ys": [batch.means[c] for c in names],
            "cls": names,
            "color": [colors[c] for c in names],
        }
        buttons.children = [_class_button(i, c, give) for i, c in enumerate(batch.classes)] + [
            _class_button(-1, UNSURE, give)
        ]
        rec = batch.record
        status.text = (
            f"Iteration {batch.iteration} ({rec['params'].get('query')}, "
            f"{rec['params'].get('model')}): the {batch.rows.size} spectra to label next, "
            f"most useful first. Labels file: {batch.labels_path} "
            f"({sum(v != UNSURE for v in batch.given.values())} labels). "
            "Keys: 1-9 a class, 0 or u unsure, j/k next/previous."
            if rec is not None
            else f"No active-learning step yet. Labels file: {batch.labels_path} "
            f"({len(batch.given)} labels)."
        )
        first = next(
            (k for k, i in enumerate(batch.ids) if str(i) not in batch.given),
            0,
        )
        draw(first)

    def give(label: str) -> None:
        if batch.rows.size == 0:
            return
        i = state["i"]
        batch.label([batch.ids[i]], label)
        col = list(table_src.data["label"])
        col[i] = label
        table_src.patch({"label": [(i, label)]})
        nxt = next((k for k in range(i + 1, len(col)) if not col[k]), None)
        if nxt is None:
            nxt = next((k for k in range(len(col)) if not col[k]), i)
        draw(nxt)

    def on_key(attr: str, old: Any, new: Any) -> None:
        if not new.get("key"):
            return
        k = str(new["key"][-1])
        if k in NEXT_KEYS:
            draw(state["i"] + 1)
        elif k in PREV_KEYS:
            draw(state["i"] - 1)
        elif k in UNSURE_KEYS:
            give(UNSURE)
        elif k.isdigit() and 1 <= int(k) <= min(9, len(batch.classes)):
            give(batch.classes[int(k) - 1])

    def picked(attr: str, old: list[int], new: list[int]) -> None:
        if new and new[0] != state["i"]:
            draw(int(new[0]))

    def finished(error: str | None) -> None:
        run.disabled = False
        if error:
            run_status.text = f"<span style='color:#b2182b'>the iteration failed: {error}</span>"
            return
        batch.reload()
        show_batch()
        run_status.text = f"iteration {batch.iteration} done"  # last: the page sees it last

    def work() -> None:
        try:
            batch.run_next()
            error = None
        except Exception as exc:  # shown on the page, the server goes on
            error = f"{type(exc).__name__}: {exc}"
        doc.add_next_tick_callback(partial(finished, error))

    def run_next() -> None:
        run.disabled = True
        run_status.text = "running the next iteration ..."
        threading.Thread(target=work, daemon=True, name="vocloud-label-iteration").start()

    keys.on_change("data", on_key)
    table_src.selected.on_change("indices", picked)
    run.on_click(run_next)
    show_batch()
    layout = column(
        status,
        row(buttons, run, run_status),
        row(column(current, sp), column(Div(text="", width=620, height=18), mp)),
        table,
    )
    return layout, keys


def _palette(classes: list[str]) -> dict[str, str]:
    """One colour per class, as the other views give it (sorted names, Category10/20)."""
    known = sorted({str(c) for c in classes if c})
    palette = Category10[10] if len(known) <= 10 else Category20[20]
    return {c: palette[i % len(palette)] for i, c in enumerate(known)}


def _class_button(i: int, name: str, give: Callable[[str], None]) -> Any:
    b = Button(
        label=_button_label(i, name) if i >= 0 else "0: unsure",
        name=f"label_class_{name}",
        width=150,
        button_type="default" if i >= 0 else "warning",
    )
    b.on_click(partial(give, name))
    return b


def key_bindings(doc: Any, tabs: Any, tab_index: int, keys: Any) -> None:
    """Keys pressed while the Label tab is shown go to ``keys`` (not those typed in a field)."""

    doc.add_root(keys)  # a model of the document, so that its changes reach the server
    doc.js_on_event(
        "document_ready",
        CustomJS(
            args={"keys": keys, "tabs": tabs, "index": tab_index},
            code="""
if (window.__vocloud_label_keys) { return; }
window.__vocloud_label_keys = true;
let n = 0;
document.addEventListener('keydown', (e) => {
  const t = e.composedPath ? e.composedPath()[0] : e.target;
  const tag = t && t.tagName ? t.tagName.toUpperCase() : '';
  if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || (t && t.isContentEditable)) { return; }
  if (tabs.active !== index || e.ctrlKey || e.metaKey || e.altKey) { return; }
  n += 1;
  keys.data = {key: [e.key], n: [n]};
});
""",
        ),
    )


class SelectionLabeller:
    """A class menu, a field for a new class and a button labelling every selected spectrum;
    a button sending the selection to SAMP clients (TOPCAT, SPLAT) as a table.

    The view calls :meth:`set_rows` with the store rows of its selection; a click saves the
    chosen class for their ids at once. ``table_rows`` (rows -> columns) gives the table sent
    (default: the ids); it goes to the SAMP hub of the standard lockfile (``SAMP_HUB`` or
    ``~/.samp``), to every client that takes tables.
    """

    def __init__(
        self,
        batch: LabelBatch,
        ids: np.ndarray,
        name: str,
        table_rows: Callable[[np.ndarray], dict[str, Any]] | None = None,
    ) -> None:
        self.batch, self.ids, self.rows = batch, ids, np.empty(0, dtype=np.int64)
        self.name = name
        self._table_rows = table_rows or (lambda rows: {"id": [str(i) for i in ids[rows]]})
        self.select = Select(
            title="class", options=[*batch.classes, UNSURE], name=f"{name}_class", width=170
        )
        self.select.value = batch.classes[0] if batch.classes else UNSURE
        self.new = TextInput(title="or a new class", name=f"{name}_new_class", width=160)
        self.button = Button(label="label the selection", name=f"{name}_label", width=190)
        self.info = Div(name=f"{name}_label_info", width=300)
        self.samp = Button(label="send to SAMP", name=f"{name}_samp", width=130)
        self.button.on_click(self.apply)
        self.samp.on_click(self.send)
        self.layout = row(self.select, self.new, self.button, self.samp, self.info)

    def set_rows(self, rows: np.ndarray) -> None:
        """The store rows now selected in the view."""
        self.rows = np.asarray(rows, dtype=np.int64)
        self.button.label = f"label the {self.rows.size:,} selected"

    def apply(self) -> None:
        label = (self.new.value or "").strip() or self.select.value
        if not self.rows.size or not label:
            self.info.text = "select spectra first"
            return
        n = self.batch.label(self.ids[self.rows], label)
        if label not in self.select.options:
            self.select.options = [*self.batch.classes, UNSURE]
        self.new.value = ""
        self.info.text = f"{n:,} spectra labelled {label}"

    def send(self) -> None:
        """Send the selection as a table to the SAMP clients (``table.load.votable``)."""
        from vocloud.interop.samp import send_table  # astropy.samp warns on import

        if not self.rows.size:
            self.info.text = "select spectra first"
            return
        frame = pd.DataFrame(self._table_rows(self.rows))
        try:
            sent = send_table(frame, name=f"vocloud {self.name} selection")
        except Exception as exc:  # no hub, no client: said on the page
            self.info.text = f"SAMP: {type(exc).__name__}: {exc}"
            return
        self.info.text = f"{len(frame):,} spectra sent to {len(sent)} SAMP client(s)"

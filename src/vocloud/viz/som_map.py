"""The SOM dashboard: a clickable map of the neurons and the spectra behind each one.

The map shows one tile per neuron (squares, or hexagons on a hexagonal map) coloured by a chosen
quantity: hits, U-matrix distance, mean outlier score, or, after a random-forest step, the
majority predicted class and its purity. Clicking a neuron (shift-click for more) shows its
spectra, the highest outlier score first, overplotted on the experiment grid with their mean,
and lists them in a table; an Outliers tab lists the spectra of highest outlier score and draws
the rows picked; after a PCA step, a PCA tab plots two components of every spectrum and draws
the spectra of a box or lasso selection; the spectra of selected neurons or of a PCA selection
can be given a class at once, and a Label tab shows the batch of the latest active-learning step
to label by click or key (:mod:`vocloud.viz.label`). Spectra are read from the Zarr feature store at that
moment, so a click costs the same on any archive (0.1-0.15 s with 1,000,000 spectra,
docs/performance.md).

It is a Bokeh server document (Python callbacks): ``vocloud dashboard EXPERIMENT`` serves it,
:func:`som_app` gives the function for ``bokeh.io.show`` in Jupyter.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    BoxSelectTool,
    ColorBar,
    ColumnDataSource,
    Div,
    HoverTool,
    LassoSelectTool,
    LinearColorMapper,
    Select,
    TabPanel,
    Tabs,
    TapTool,
)
from bokeh.palettes import Category10, Category20, Viridis256
from bokeh.plotting import figure

from vocloud.viz.data import SomMapData
from vocloud.viz.forest import forest_panel
from vocloud.viz.label import LabelBatch, SelectionLabeller, key_bindings, label_panel
from vocloud.viz.spectra_views import line_rows, show_rows, spectra_plot, spectra_table, table_rows

#: Quantities the map can be coloured by (label shown in the menu -> column).
COLOR_BY = {
    "hits": "hits",
    "U-matrix distance": "umatrix",
    "mean outlier score": "outlier",
    "majority class": "majority",
    "class purity": "purity",
}

#: The colourings that need a random-forest step (its predicted classes).
CLASS_COLORINGS = ("majority", "purity")


def color_key(color_by: str, has_classes: bool) -> str:
    """The :data:`COLOR_BY` column named by ``color_by`` (a key or a menu label), checked.

    Parameters
    ----------
    color_by : str
        ``"hits"``, ``"umatrix"``, ``"outlier"``, ``"majority"``, ``"purity"`` or their labels.
    has_classes : bool
        Whether the experiment has predicted classes (a random-forest step), which
        ``"majority"`` and ``"purity"`` need.

    Raises
    ------
    ValueError
        Naming the valid choices.

    Examples
    --------
    >>> color_key("U-matrix distance", has_classes=False)
    'umatrix'
    >>> color_key("purity", has_classes=False)
    Traceback (most recent call last):
    ...
    ValueError: color_by: one of hits, umatrix, outlier, not 'purity' (majority and purity need a random-forest step)
    """
    key = COLOR_BY.get(color_by, color_by)
    valid = [k for k in COLOR_BY.values() if has_classes or k not in CLASS_COLORINGS]
    if key not in valid:
        need = "" if has_classes else " (majority and purity need a random-forest step)"
        raise ValueError(f"color_by: one of {', '.join(valid)}, not {color_by!r}{need}")
    return key


#: How many spectra of a neuron are drawn (all are listed in the table, up to TABLE_ROWS).
MAX_LINES = 40
#: Spectra in the outlier list (the highest outlier scores), and how many of them are drawn first.
OUTLIER_ROWS = 500
OUTLIERS_DRAWN = 10
#: The most spectra drawn as points in the PCA view (a fixed random sample of the rest is left out).
PCA_POINTS = 200_000


def _tile(x: float, y: float, topology: str) -> tuple[list[float], list[float]]:
    """The polygon of one neuron: a unit square, or a pointy-top hexagon 1 wide."""
    if topology == "hexagonal":
        r = 1 / math.sqrt(3)
        angles = [math.pi / 6 + k * math.pi / 3 for k in range(6)]
        return [x + r * math.cos(a) for a in angles], [y + r * math.sin(a) for a in angles]
    return [x - 0.5, x + 0.5, x + 0.5, x - 0.5], [y - 0.5, y - 0.5, y + 0.5, y + 0.5]


def _class_colors(names: Any, classes: Any) -> tuple[list[str], dict[str, str]]:
    """A colour per name, and the legend: one colour per class of ``classes`` (every predicted
    class, so that each view colours a class alike); no class: light grey."""
    known = sorted({str(c) for c in classes if c})
    palette = Category10[10] if len(known) <= 10 else Category20[20]
    colors = {c: palette[i % len(palette)] for i, c in enumerate(known)}
    return [colors.get(str(n), "#dddddd") for n in names], colors


def som_document(
    doc: Any,
    experiment_dir: str | os.PathLike[str],
    *,
    step: str | None = None,
    color_by: str = "hits",
    max_lines: int = MAX_LINES,
    data: SomMapData | None = None,
    scheduler: str | None = None,
) -> SomMapData:
    """Fill the Bokeh document ``doc`` with the SOM dashboard of an experiment.

    Parameters
    ----------
    doc : bokeh.document.Document
        The document (of a Bokeh server session, or of ``bokeh.io.show`` in Jupyter).
    experiment_dir : str or Path
        The experiment folder; its feature store and a SOM step run on it are shown.
    step : str, optional
        The SOM step (store name or key); default: the SOM step run last.
    color_by : str
        The first colouring: a key or a label of :data:`COLOR_BY`.
    max_lines : int
        The most spectra of a neuron drawn at once.
    data : SomMapData, optional
        What to show, already loaded (a server shares it between its sessions); default: loaded
        from ``experiment_dir`` and ``step``.

    Returns
    -------
    SomMapData
        What the document shows.

    Examples
    --------
    >>> import tempfile
    >>> from bokeh.document import Document
    >>> from vocloud import Experiment
    >>> from vocloud.datasets import make_archive
    >>> tmp = tempfile.mkdtemp()
    >>> _ = make_archive(f"{tmp}/spectra", 60, layouts="iraf-linear", n_jobs=1)
    >>> exp = Experiment({"directory": f"{tmp}/spectra", "pattern": "**/*.fits"},
    ...                  name="map", store=f"{tmp}/experiments", block_size=30,
    ...                  steps=[{"method": "som", "params": {"shape": [3, 3], "epochs": 2}}])
    >>> _ = exp.run(cluster_kwargs={"n_workers": 1, "processes": False,
    ...             "dashboard_address": None}, progress=False, verbose=False)
    >>> doc = Document()
    >>> data = som_document(doc, exp.directory)
    >>> neurons = doc.get_model_by_name("neurons")
    >>> neurons.selected.indices = [int(data.neurons["hits"].argmax())]  # what a click does
    >>> doc.get_model_by_name("selection").text.startswith("neuron (")
    True
    """

    if data is None:
        data = SomMapData(experiment_dir, step)
    batch = LabelBatch(
        data._root,
        data._features_store,
        data.spectra,
        data.ids,
        extra_classes=() if data.predicted is None else set(data.predicted),
        scheduler=scheduler,
    )
    tabs = [
        TabPanel(child=_som_panel(data, figure, color_by, max_lines, batch), title="SOM map"),
        TabPanel(child=_outlier_panel(data, figure, max_lines), title="Outliers"),
    ]
    if data.pca_scores is not None:
        tabs.append(TabPanel(child=_pca_panel(data, figure, max_lines, batch), title="PCA"))
    forest = forest_panel(data, figure, max_lines)
    if forest is not None:
        tabs.append(TabPanel(child=forest, title="Forest"))
    labelling, keys = label_panel(batch, figure, data.wavelength, data.wavelength_unit, doc)
    tabs.append(TabPanel(child=labelling, title="Label"))
    widget = Tabs(tabs=tabs, name="tabs")
    key_bindings(doc, widget, len(tabs) - 1, keys)
    doc.add_root(column(_title(data), widget))
    doc.title = f"vocloud SOM: {data.name}"
    return data


def _title(data: SomMapData) -> Any:
    """The line above the tabs: experiment, map and its errors."""

    desc = data.describe()
    metrics = desc["metrics"]
    return Div(
        name="title",
        text=(
            f"<b>{desc['experiment']}</b>: SOM {data.shape[0]}&times;{data.shape[1]} "
            f"({data.topology}) of {desc['n_mapped']:,} of {desc['n_spectra']:,} spectra"
            + (
                f"; quantisation error {metrics['quantization_error']:.4g}, topographic error "
                f"{metrics['topographic_error']:.4g}"
                if "quantization_error" in metrics
                else ""
            )
        ),
    )


def _neuron_source(data: SomMapData, color_by: str) -> tuple[Any, list[str], str, dict[str, str]]:
    """The neurons' ColumnDataSource (tiles and every colouring), the colour menu's choices, the
    first choice, and the class colours (empty without a random-forest step)."""

    nb = data.neurons
    xs, ys = zip(*(_tile(x, y, data.topology) for x, y in zip(nb["x"], nb["y"])))
    cols: dict[str, Any] = {
        "xs": list(xs),
        "ys": list(ys),
        **{k: nb[k] for k in ("neuron", "row", "col", "hits", "umatrix", "outlier")},
    }
    choices = ["hits", "U-matrix distance", "mean outlier score"]
    palette: dict[str, str] = {}
    if "majority" in nb:
        class_color, palette = _class_colors(nb["majority"], data.predicted)
        cols.update(
            majority=[str(m) for m in nb["majority"]], purity=nb["purity"], class_color=class_color
        )
        choices += ["majority class", "class purity"]
    key = color_key(color_by, "majority" in nb)
    label = next(k for k, v in COLOR_BY.items() if v == key)
    cols["value"] = np.asarray(nb[key] if key != "majority" else nb["hits"], dtype=np.float64)
    return ColumnDataSource(cols, name="neurons"), choices, label, palette


def _rescale(mapper: Any, source: Any) -> None:
    """The colour mapper's range: that of the finite values shown."""
    v = np.asarray(source.data["value"], dtype=np.float64)
    v = v[np.isfinite(v)]
    mapper.low, mapper.high = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    if mapper.low == mapper.high:
        mapper.high = mapper.low + 1.0


def _map_figure(data: SomMapData, figure: Any, source: Any, mapper: Any) -> tuple[Any, Any]:
    """The clickable map: one tile per neuron (row 0 on top), hover, colour bar; and its tiles."""

    nb, pad = data.neurons, 1.0
    m = figure(
        name="som_map",
        title="SOM (click a neuron; shift-click for more)",
        width=620,
        height=int(620 * (np.ptp(nb["y"]) + 2 * pad) / (np.ptp(nb["x"]) + 2 * pad)) + 40,
        x_range=(float(nb["x"].min()) - pad, float(nb["x"].max()) + pad),
        y_range=(float(nb["y"].max()) + pad, float(nb["y"].min()) - pad),
        tools="tap,reset,save",
        match_aspect=True,
    )
    m.axis.visible = False
    m.grid.visible = False
    tiles = m.patches(
        "xs",
        "ys",
        source=source,
        fill_color={"field": "value", "transform": mapper},
        line_color="white",
        line_width=0.5,
        selection_line_color="red",
        selection_line_width=3,
        nonselection_fill_alpha=0.6,
        name="tiles",
    )
    tips = [("neuron", "(@row, @col)"), ("hits", "@hits"), ("U-matrix", "@umatrix{0.000}")]
    tips.append(("mean outlier score", "@outlier{0.000}"))
    if "majority" in nb:
        tips.append(("class", "@majority (@purity{0%})"))
    m.add_tools(HoverTool(renderers=[tiles], tooltips=tips))
    m.select_one(TapTool).renderers = [tiles]
    m.add_layout(ColorBar(color_mapper=mapper, width=10, name="som_colorbar"), "right")
    return m, tiles


def _color_menu(
    data: SomMapData,
    source: Any,
    mapper: Any,
    m: Any,
    tiles: Any,
    choices: list[str],
    label: str,
    palette: dict[str, str],
) -> tuple[Any, Any]:
    """The "colour by" menu and the class legend it shows for the majority class."""

    nb = data.neurons
    colorbar = m.select_one({"name": "som_colorbar"})
    select = Select(title="colour by", value=label, options=choices, name="color_by", width=200)
    legend = Div(name="class_legend", text="", visible=False, width=200)
    legend.text = "<br>".join(
        f'<span style="display:inline-block;width:12px;height:12px;background:{c};'
        f'margin-right:6px"></span>{name}'
        for name, c in palette.items()
    )

    def fill(color: Any) -> None:
        # the glyphs drawn for selected and other tiles were copied from the first: all three
        for glyph in (tiles.glyph, tiles.selection_glyph, tiles.nonselection_glyph):
            if glyph is not None:
                glyph.fill_color = color

    def recolor(attr: str, old: str, new: str) -> None:
        col = COLOR_BY[new]
        majority = col == "majority"
        if not majority:
            source.data["value"] = np.asarray(nb[col], dtype=np.float64)
            _rescale(mapper, source)
        fill({"field": "class_color"} if majority else {"field": "value", "transform": mapper})
        colorbar.visible, legend.visible = not majority, majority

    select.on_change("value", recolor)
    if COLOR_BY[label] == "majority":
        recolor("value", label, label)
    return select, legend


def _member_view(data: SomMapData, figure: Any, source: Any, max_lines: int, labeller: Any) -> Any:
    """The spectra of the selected neurons: drawn with their mean, listed, and labelled."""

    sp, lines = spectra_plot(
        data,
        figure,
        "member",
        "spectra of the selected neurons",
        line_alpha=0.35,
        line_width=1,
        color="#3b6ea8",
    )
    mean = ColumnDataSource({"x": [], "y": []}, name="member_mean")
    sp.line("x", "y", source=mean, color="black", line_width=2.5, legend_label="mean")
    sp.legend.location = "top_left"
    info = Div(name="selection", text="Click a neuron to see its spectra.", width=720)
    none = np.empty(0, dtype=np.int64)
    table, members = spectra_table(data, none, "members", "member_table", 240)

    def show(attr: str, old: list[int], new: list[int]) -> None:
        picked = [int(i) for i in new]
        rows = np.concatenate([data.members(n) for n in picked]) if picked else none
        labeller.set_rows(rows)
        if not picked:
            lines.data = {"xs": [], "ys": [], "id": [], "score": []}
            mean.data = {"x": [], "y": []}
            members.data = table_rows(data, none)
            info.text = "Click a neuron to see its spectra."
            return
        rows, flux, note = show_rows(data, rows, lines, members, max_lines)
        has = len(flux) > 0
        mean.data = (
            {"x": data.wavelength, "y": np.nanmean(flux, axis=0)} if has else {"x": [], "y": []}
        )
        names = ", ".join(data.neuron_label(n) for n in picked[:8])
        more = f" and {len(picked) - 8} more" if len(picked) > 8 else ""
        info.text = (
            f"neuron{'s' if len(picked) > 1 else ''} {names}{more}: {rows.size:,} spectra" + note
        )

    source.selected.on_change("indices", show)
    return column(info, sp, labeller.layout, table)


def _som_panel(data: SomMapData, figure: Any, color_by: str, max_lines: int, batch: Any) -> Any:
    """The SOM map tab: the map and its colour menu beside the spectra of the picked neurons."""

    source, choices, label, palette = _neuron_source(data, color_by)
    mapper = LinearColorMapper(palette=Viridis256)
    _rescale(mapper, source)
    m, tiles = _map_figure(data, figure, source, mapper)
    select, legend = _color_menu(data, source, mapper, m, tiles, choices, label, palette)
    labeller = SelectionLabeller(batch, data.ids, "som", partial(table_rows, data))
    return row(column(select, m, legend), _member_view(data, figure, source, max_lines, labeller))


def _outlier_panel(data: SomMapData, figure: Any, max_lines: int) -> Any:
    """The spectra of highest outlier score: a table to pick from and their spectra drawn."""

    top = data.by_outlier_score(np.flatnonzero(data.neuron_of >= 0))[:OUTLIER_ROWS]
    table, source = spectra_table(data, top, "outliers", "outlier_table", 600)
    sp, lines = spectra_plot(
        data,
        figure,
        "outlier",
        "spectra of highest outlier score",
        line_width=1.2,
        color="#b2182b",
        line_alpha=0.6,
    )
    info = Div(name="outlier_selection", width=720)

    def draw(rows: np.ndarray, what: str) -> None:
        lines.data, _ = line_rows(data, rows)
        info.text = what

    def picked(attr: str, old: list[int], new: list[int]) -> None:
        if not new:
            draw(
                top[:OUTLIERS_DRAWN], f"the {min(OUTLIERS_DRAWN, top.size)} highest outlier scores"
            )
            return
        rows = top[[int(i) for i in new][:max_lines]]
        draw(rows, f"{len(new)} spectr{'um' if len(new) == 1 else 'a'} picked from the list")

    source.selected.on_change("indices", picked)
    picked("indices", [], [])
    return column(
        Div(
            text=f"The {top.size:,} spectra of highest outlier score (SOM distance to their best "
            "neuron); pick rows (shift/ctrl for more) to draw them.",
            width=1300,
        ),
        row(column(info, sp), table),
    )


def _pca_panel(data: SomMapData, figure: Any, max_lines: int, batch: Any) -> Any:
    """Two PCA scores of every spectrum as points; a box or lasso selection draws its spectra
    (and can be labelled)."""

    scores = data.pca_scores
    assert scores is not None and data.pca_ratio is not None
    shown = np.flatnonzero(np.isfinite(scores).all(axis=1))
    if shown.size > PCA_POINTS:
        shown = np.sort(np.random.default_rng(0).choice(shown, PCA_POINTS, replace=False))
    names = [f"PC{i + 1} ({r:.1%})" for i, r in enumerate(data.pca_ratio)]
    points: dict[str, Any] = {
        "row": shown,
        "x": scores[shown, 0],
        "y": scores[shown, 1 % len(names)],
    }
    if data.predicted is not None:
        points["color"], _ = _class_colors(data.predicted[shown], data.predicted)
        points["label"] = data.predicted[shown].tolist()
    else:
        points["color"] = ["#3b6ea8"] * shown.size
        points["label"] = [""] * shown.size
    source = ColumnDataSource(points, name="pca_points")
    pc = figure(
        name="pca_map",
        title=f"PCA scores of {shown.size:,} spectra (drag to select; shift to add)",
        width=620,
        height=560,
        tools="pan,wheel_zoom,reset,save",
        output_backend="webgl",
    )
    box, lasso = BoxSelectTool(), LassoSelectTool()
    pc.add_tools(box, lasso)
    pc.toolbar.active_drag = box
    legend = {"legend_field": "label"} if data.predicted is not None else {}
    pc.scatter(
        "x",
        "y",
        source=source,
        color="color",
        size=3,
        alpha=0.6,
        nonselection_alpha=0.1,
        name="pca_scatter",
        **legend,
    )
    if data.predicted is not None:
        pc.legend.location = "top_right"
        pc.legend.label_text_font_size = "8pt"
    xsel = Select(title="x", value=names[0], options=names, name="pca_x", width=150)
    ysel = Select(title="y", value=names[1 % len(names)], options=names, name="pca_y", width=150)

    def axes(attr: str, old: str, new: str) -> None:
        source.data["x"] = scores[shown, names.index(xsel.value)]
        source.data["y"] = scores[shown, names.index(ysel.value)]

    xsel.on_change("value", axes)
    ysel.on_change("value", axes)
    sp, lines = spectra_plot(
        data,
        figure,
        "pca",
        "spectra of the selection",
        line_alpha=0.4,
        line_width=1,
        color="#3b6ea8",
    )
    info = Div(name="pca_selection", text="Select points to see their spectra.", width=720)
    none = np.empty(0, dtype=np.int64)
    table, members = spectra_table(data, none, "pca_members", "pca_table", 240)

    labeller = SelectionLabeller(batch, data.ids, "pca", partial(table_rows, data))

    def picked(attr: str, old: list[int], new: list[int]) -> None:
        rows = shown[np.asarray(new, dtype=np.int64)] if len(new) else none
        labeller.set_rows(rows)
        rows, _, note = show_rows(data, rows, lines, members, max_lines)
        info.text = (
            f"{rows.size:,} spectra selected{note}"
            if rows.size
            else "Select points to see their spectra."
        )

    source.selected.on_change("indices", picked)
    return row(column(row(xsel, ysel), pc), column(info, sp, labeller.layout, table))


def som_app(experiment_dir: str | os.PathLike[str], **kwargs: Any) -> Callable[[Any], None]:
    """The SOM dashboard as a Bokeh application function, e.g. for Jupyter.

    Examples
    --------
    >>> import tempfile
    >>> from bokeh.document import Document
    >>> from vocloud import Experiment
    >>> from vocloud.datasets import make_archive
    >>> tmp = tempfile.mkdtemp()
    >>> _ = make_archive(f"{tmp}/spectra", 40, layouts="iraf-linear", n_jobs=1)
    >>> exp = Experiment({"directory": f"{tmp}/spectra", "pattern": "**/*.fits"},
    ...                  name="map", store=f"{tmp}/experiments", block_size=20,
    ...                  steps=[{"method": "som", "params": {"shape": [3, 3], "epochs": 2}}])
    >>> _ = exp.run(cluster_kwargs={"n_workers": 1, "processes": False,
    ...             "dashboard_address": None}, progress=False, verbose=False)
    >>> app = som_app(exp.directory)
    >>> doc = Document()
    >>> app(doc)  # what Bokeh does for each browser session
    >>> doc.get_model_by_name("neurons") is not None
    True

    In Jupyter (a notebook and a browser are needed to see it):

    >>> from bokeh.io import output_notebook, show
    >>> output_notebook()  # doctest: +SKIP
    >>> show(app)  # doctest: +SKIP
    """

    def app(doc: Any) -> None:
        som_document(doc, experiment_dir, **kwargs)

    return app

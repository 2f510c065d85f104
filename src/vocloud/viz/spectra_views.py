"""Spectra shown in the dashboards: a table of spectra (id, outlier score, neuron, predicted
class), a plot of their flux on the experiment grid, and "draw the first, list the rest" -- the one
place the SOM, Outliers, PCA and Forest views take them from."""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource, DataTable, HoverTool, NumberFormatter, TableColumn

from vocloud.viz.data import SomMapData

__all__ = ["TABLE_ROWS", "line_rows", "show_rows", "spectra_plot", "spectra_table", "table_rows"]

#: The most spectra listed in a table (the first drawn: ``max_lines``).
TABLE_ROWS = 2000


def table_rows(data: SomMapData, rows: np.ndarray) -> dict[str, list[Any]]:
    """The table columns of spectra ``rows``: id, outlier score, neuron (and predicted class)."""
    out: dict[str, list[Any]] = {
        "id": data.ids[rows].tolist(),
        "outlier_score": data.outlier_score[rows].tolist(),
        "neuron": [data.neuron_label(n) for n in data.neuron_of[rows]],
    }
    if data.predicted is not None:
        out["predicted_class"] = data.predicted[rows].tolist()
    return out


def spectra_table(
    data: SomMapData, rows: np.ndarray, name: str, source_name: str, height: int
) -> tuple[Any, Any]:
    """A table of spectra and its source (Bokeh model names ``name``, ``source_name``)."""
    source = ColumnDataSource(table_rows(data, rows), name=source_name)
    columns = [
        TableColumn(field="id", title="id", width=380),
        TableColumn(
            field="outlier_score", title="outlier score", formatter=NumberFormatter(format="0.000")
        ),
        TableColumn(field="neuron", title="neuron (row, col)", width=110),
    ]
    if data.predicted is not None:
        columns.append(TableColumn(field="predicted_class", title="predicted class"))
    table = DataTable(
        source=source, columns=columns, width=720, height=height, name=name, index_position=None
    )
    return table, source


def line_rows(data: SomMapData, rows: np.ndarray) -> tuple[dict[str, list[Any]], np.ndarray]:
    """The spectra of ``rows`` as multi_line columns (read from the store now), and the flux."""
    flux = data.spectra(rows)
    lines = {
        "xs": [data.wavelength] * len(rows),
        "ys": list(flux),
        "id": data.ids[rows].tolist(),
        "score": data.outlier_score[rows].tolist(),
    }
    return lines, flux


def show_rows(
    data: SomMapData, rows: np.ndarray, lines: Any, table: Any, max_lines: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """Draw the ``max_lines`` of ``rows`` of highest outlier score and list up to TABLE_ROWS of
    them; the rows in that order, the drawn flux, and the note on what is drawn."""
    rows = data.by_outlier_score(rows)
    drawn = rows[:max_lines]
    lines.data, flux = line_rows(data, drawn)
    table.data = table_rows(data, rows[:TABLE_ROWS])
    note = f"; drawn: the {drawn.size} of highest outlier score" if rows.size > drawn.size else ""
    return rows, flux, note


def spectra_plot(
    data: SomMapData, figure: Any, name: str, title: str, **line: Any
) -> tuple[Any, Any]:
    """A plot of spectra on the experiment grid (its lines' source is ``<name>_spectra``)."""
    lines = ColumnDataSource({"xs": [], "ys": [], "id": [], "score": []}, name=f"{name}_spectra")
    sp = figure(
        name=f"{name}_plot",
        title=title,
        width=720,
        height=420,
        x_axis_label=f"wavelength ({data.wavelength_unit})",
        y_axis_label="scaled flux",
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    lr = sp.multi_line("xs", "ys", source=lines, **line)
    sp.add_tools(HoverTool(renderers=[lr], tooltips=[("id", "@id"), ("score", "@score{0.000}")]))
    return sp, lines

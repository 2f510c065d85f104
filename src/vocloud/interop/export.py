"""Export an experiment as one row per spectrum (CSV or VOTable), ready for TOPCAT."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from vocloud.steps.runner import open_step
from vocloud.store import ExperimentFolder, open_store

_BASE_COLUMNS = ("id", "status", "error", "path", "layout", "target", "s_ra", "s_dec", "snr")
#: A per-spectrum output with more columns than this is left out of the table (e.g. features).
MAX_WIDE = 200


def export_table(experiment: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per spectrum: id, status, metadata and every per-spectrum output of the steps.

    Parameters
    ----------
    experiment : path
        An experiment folder (its latest feature store and the steps run on it).

    Returns
    -------
    pandas.DataFrame
        2-D outputs become one column per entry (``pca_score_0``, ``probability_shell`` ...).

    Examples
    --------
    >>> import tempfile
    >>> from vocloud import Experiment
    >>> from vocloud.datasets import make_archive
    >>> tmp = tempfile.mkdtemp()
    >>> _ = make_archive(f"{tmp}/spectra", 40, layouts="iraf-linear", n_jobs=1)
    >>> exp = Experiment({"directory": f"{tmp}/spectra", "pattern": "**/*.fits"},
    ...                  name="halpha", store=f"{tmp}/experiments", block_size=20,
    ...                  steps=[{"method": "pca", "params": {"n_components": 2}}])
    >>> _ = exp.run(cluster_kwargs={"n_workers": 1, "processes": False,
    ...             "dashboard_address": None}, progress=False, verbose=False)
    >>> df = export_table(exp.directory)
    >>> df.columns[:3].tolist(), len(df)
    (['id', 'status', 'error'], 40)
    >>> sorted(c for c in df.columns if c.startswith("pca_"))
    ['pca_score_0', 'pca_score_1']
    """
    folder, store = ExperimentFolder.of(experiment)
    ds = open_store(store)
    df = pd.DataFrame({c: ds[c].values for c in _BASE_COLUMNS if c in ds.variables})
    for rec in folder.recorded_steps(store):
        sds = open_step(folder.step_store(rec["store"]))
        prefix = f"{rec['method']}_{rec['input']}_"
        # by name: zarr v3 lists a group's arrays in no fixed order, and the columns must not move
        for name, var in sorted(sds.data_vars.items()):
            if not var.dims or var.dims[0] != "spectrum" or var.sizes["spectrum"] != len(df):
                continue
            values = np.asarray(var.values)
            if name in df.columns or any(c.startswith(f"{name}_") for c in df.columns):
                name = prefix + name  # the same method on another input: keep both
            if values.ndim == 1:
                df[name] = values
            elif values.ndim == 2 and values.shape[1] <= MAX_WIDE:
                dim = var.dims[1]
                labels = sds[dim].values if dim in sds.coords else np.arange(values.shape[1])
                for j, lab in enumerate(labels):
                    df[f"{name}_{lab}"] = values[:, j]
    return df


def export(
    experiment: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    format: str = "csv",
) -> Path:
    """Write :func:`export_table` as CSV or VOTable (BINARY2); returns the file written.

    The default output is ``<experiment>/export.csv`` or ``export.vot``.
    """
    fmt = format.lower()
    if fmt not in ("csv", "votable"):
        raise ValueError(f"format must be 'csv' or 'votable', got {format!r}")
    df = export_table(experiment)
    out = (
        Path(output)
        if output
        else Path(experiment) / ("export.csv" if fmt == "csv" else "export.vot")
    )
    if fmt == "csv":
        df.to_csv(out, index=False)
    else:
        t = Table()
        for col in df.columns:
            v = df[col].to_numpy()
            if v.dtype == object:
                v = np.array(
                    [
                        "" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x)
                        for x in v
                    ]
                )
            elif v.dtype.kind in "iu" and v.dtype.itemsize == 1:  # VOTable has no 8-bit signed
                v = v.astype(np.int16)
            t[col] = v
        t.write(out, format="votable", tabledata_format="binary2", overwrite=True)
    return out

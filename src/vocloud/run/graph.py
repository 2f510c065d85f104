"""The lazy graph of an experiment: one delayed chunk task per block, as an xarray Dataset."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from vocloud.preprocess import PreprocessParams
from vocloud.run.inputs import TaskInputs
from vocloud.run.tasks import compute_block
from vocloud.store import CHUNK_VARIABLES, WEIGHT, WEIGHT_ATTRS, memory_dtype


def lazy_features(
    spectra: pd.DataFrame,
    params: PreprocessParams,
    inputs: TaskInputs,
    block_size: int,
    attrs: dict[str, Any],
) -> xr.Dataset:
    """The features of ``spectra`` as a lazy xarray Dataset backed by dask (nothing computed).

    Each block of ``block_size`` spectra is one :func:`vocloud.run.tasks.compute_block` task,
    given ``inputs.block(rows)``: the same inputs a run's tasks get. With ``params.weights``
    the Dataset also has the store's ``weight`` variable, from the same tasks.
    """
    grid = params.grid()
    m = len(grid)
    parts: dict[str, list[Any]] = {"features": [], WEIGHT: []}
    parts.update({n: [] for n in CHUNK_VARIABLES})
    for start in range(0, len(spectra), block_size):
        rows = np.arange(start, min(start + block_size, len(spectra)))
        d = dask.delayed(compute_block, pure=True)(inputs.block(rows))
        parts["features"].append(da.from_delayed(d.features, shape=(rows.size, m), dtype="f4"))
        if params.weights:
            parts[WEIGHT].append(da.from_delayed(d.weight, shape=(rows.size, m), dtype="f4"))
        for name in CHUNK_VARIABLES:
            parts[name].append(
                da.from_delayed(d.columns[name], shape=(rows.size,), dtype=memory_dtype(name))
            )
    if not len(spectra):
        parts = {"features": [da.zeros((0, m), dtype="f4")], WEIGHT: [da.zeros((0, m), "f4")]}
        parts.update({n: [da.zeros((0,), dtype=memory_dtype(n))] for n in CHUNK_VARIABLES})
    coords = {
        "wavelength": (
            "wavelength",
            grid,
            {"units": "Angstrom", "medium": params.grid_params.medium},
        ),
        "id": ("spectrum", spectra["id"].to_numpy(dtype=object)),
        "path": ("spectrum", spectra.get("path", spectra["access_url"]).to_numpy(dtype=object)),
    }
    for name in CHUNK_VARIABLES:
        coords[name] = ("spectrum", da.concatenate(parts[name]))
    dims = ("spectrum", "wavelength")
    data = {"features": (dims, da.concatenate(parts["features"]))}
    if params.weights:
        data[WEIGHT] = (dims, da.concatenate(parts[WEIGHT]), dict(WEIGHT_ATTRS))
    return xr.Dataset(data, coords=coords, attrs=attrs)

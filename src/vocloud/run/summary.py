"""An experiment's results, read back: its feature store opened, and a summary of it."""

from __future__ import annotations

import os
from typing import Any

import xarray as xr

from vocloud.store import ExperimentFolder, FeatureStore, open_store, resolve_store


def open_experiment(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open an experiment's feature store as a lazy xarray Dataset.

    Parameters
    ----------
    path : str or Path
        An experiment folder (its latest run's store is opened) or a store folder.

    Examples
    --------
    >>> ds = open_experiment("experiments/halpha")  # doctest: +SKIP
    >>> ds.features.sel(wavelength=6562.8, method="nearest")  # doctest: +SKIP
    """
    return open_store(resolve_store(path))


def summarize(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Summary of an experiment's store: counts, failures by reason (with one real reason of
    each kind), parameters and provenance.

    Examples
    --------
    >>> summarize("experiments/halpha")["n_ok"]  # doctest: +SKIP
    4950
    """
    folder, store = ExperimentFolder.of(path)
    st = FeatureStore(store)
    summary = st.summary()
    ds = open_store(store)
    out = {
        "store": str(store),
        **summary,
        "n_wavelengths": int(ds.sizes["wavelength"]),
        "wavelength_range": [float(ds.wavelength[0]), float(ds.wavelength[-1])]
        if ds.sizes["wavelength"]
        else [],
        "medium": ds.wavelength.attrs.get("medium"),
        "weights": st.has_weight,
        "parameters": ds.attrs.get("parameters"),
        "source": ds.attrs.get("source"),
        "vocloud_version": ds.attrs.get("vocloud_version"),
        "created": ds.attrs.get("created"),
        "finished": ds.attrs.get("finished"),
        "cache_key": ds.attrs.get("cache_key"),
        "complete": bool(ds.attrs.get("complete")),
        "steps": [
            {k: rec[k] for k in ("method", "input", "params", "metrics", "key")}
            for rec in folder.recorded_steps(store)
        ],
    }
    return out

"""What the dashboards show, read from an experiment folder: the features and a SOM step.

Everything per spectrum that a map needs (neuron, outlier score, status, predicted class) is
small and read once; spectra are read from the Zarr feature store only when they are shown.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vocloud.ml.som import grid_coordinates
from vocloud.steps.runner import open_step
from vocloud.store import ExperimentFolder, read_array, resolve_store

#: Leading PCA components kept for the PCA view (of a PCA step on the features).
PCA_COMPONENTS = 10


def _stored_som(folder: ExperimentFolder, features_store: Path, step: str) -> list[dict[str, Any]]:
    """A SOM step by store name or key that is no longer the one recorded (a later SOM step of
    the same input replaced it in experiment.json) but is still in the steps folder."""
    for path in (folder.step_store(step), folder.step_path("som", step)):
        if not (path / "zarr.json").exists():
            continue
        attrs = open_step(path).attrs
        if attrs.get("method") == "som" and attrs.get("features_store") == features_store.name:
            return [
                {
                    "method": "som",
                    "store": path.name,
                    "key": attrs.get("key"),
                    "params": dict(attrs.get("params") or {}),  # open_step decoded the JSON
                    "metrics": dict(attrs.get("metrics") or {}),
                }
            ]
    return []


@dataclass
class SomMapData:
    """A SOM step of an experiment, ready to draw: one row per neuron, one per spectrum.

    Parameters
    ----------
    experiment_dir : str or Path
        The experiment folder (its current feature store and the SOM step run on it).
    step : str, optional
        The SOM step's store name (``som-<key>.zarr``) or key; default: the SOM step run last.

    Attributes
    ----------
    shape : tuple of int
        ``(rows, cols)`` of the map.
    topology : str
        ``"rectangular"`` or ``"hexagonal"``.
    neurons : dict of numpy arrays
        Per neuron, flat index ``row * cols + col``: ``row``, ``col``, ``x``, ``y`` (centre on the
        plane), ``hits``, ``umatrix``, ``outlier`` (mean outlier score of its spectra, NaN when
        empty) and, when a random-forest step exists, ``majority`` (its most frequent predicted
        class) and ``purity`` (that class's share).
    neuron_of : numpy.ndarray
        The neuron of each spectrum (-1: not mapped, e.g. failed preprocessing).
    ids, outlier_score, predicted : numpy.ndarray
        Per spectrum (``predicted`` is ``None`` without a random-forest step).
    pca_scores, pca_ratio : numpy.ndarray or None
        The leading (up to 10) PCA scores per spectrum and their explained variance ratios,
        when a PCA step ran on the features.
    metrics : dict
        The SOM step's metrics (quantisation and topographic error ...).

    Examples
    --------
    >>> import tempfile
    >>> from vocloud import Experiment
    >>> from vocloud.datasets import make_archive
    >>> tmp = tempfile.mkdtemp()
    >>> _ = make_archive(f"{tmp}/spectra", 60, layouts="iraf-linear", n_jobs=1)
    >>> exp = Experiment({"directory": f"{tmp}/spectra", "pattern": "**/*.fits"},
    ...                  name="map", store=f"{tmp}/experiments", block_size=30)
    >>> _ = exp.run(cluster_kwargs={"n_workers": 1, "processes": False,
    ...             "dashboard_address": None}, progress=False, verbose=False)
    >>> _ = exp.run_step("som", shape=(3, 3), epochs=2)
    >>> data = SomMapData(exp.directory)
    >>> data.shape, int(data.neurons["hits"].sum())
    ((3, 3), 60)
    >>> k = int(data.neurons["hits"].argmax())
    >>> len(data.members(k)) == int(data.neurons["hits"][k])
    True
    """

    experiment_dir: str | os.PathLike[str]
    step: str | None = None
    shape: tuple[int, int] = field(init=False)
    topology: str = field(init=False)
    neurons: dict[str, np.ndarray] = field(init=False, repr=False)
    neuron_of: np.ndarray = field(init=False, repr=False)
    ids: np.ndarray = field(init=False, repr=False)
    outlier_score: np.ndarray = field(init=False, repr=False)
    predicted: np.ndarray | None = field(init=False, repr=False)
    pca_scores: np.ndarray | None = field(init=False, repr=False)
    pca_ratio: np.ndarray | None = field(init=False, repr=False)
    metrics: dict[str, Any] = field(init=False, repr=False)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        folder, self._features_store = ExperimentFolder.of(self.experiment_dir)
        self._folder = folder
        self._root = folder.directory  # the experiment folder (also for the other views)
        self.name = folder.directory.name
        steps = folder.recorded_steps(self._features_store)
        soms = [s for s in steps if s["method"] == "som"]
        if self.step is not None:
            soms = [s for s in soms if self.step in (s["store"], s["key"])] or _stored_som(
                folder, self._features_store, self.step
            )
        if not soms:
            ran = sorted({s["method"] for s in steps}) or "none"
            raise ValueError(
                f"{folder.directory}: no SOM step{' ' + repr(self.step) if self.step else ''} run on its "
                f"current feature store (steps run: {ran}); run one first, e.g. "
                "exp.run_step('som', shape=(20, 20))"
            )
        rec = soms[-1]
        self.step = rec["store"]
        som_path = folder.step_store(rec["store"])
        som = open_step(som_path)
        # only the features and the grid are read from this (lazily): not open_store, which
        # also loads five per-spectrum coordinates the map does not use
        self._features: xr.Dataset = xr.open_zarr(str(self._features_store), consolidated=False)
        self.metrics = dict(rec.get("metrics") or {})
        params = rec.get("params") or {}
        self.topology = str(params.get("topology", "rectangular"))
        # per-spectrum arrays read by zarr itself, not one dask task per 1,000-row chunk
        # (several times faster at 1,000,000 spectra: docs/performance.md, SOM dashboard)
        hits = np.asarray(som["som_hits"].values)
        self.shape = (int(hits.shape[0]), int(hits.shape[1]))
        self.neuron_of = read_array(som_path, "som_neuron").astype(np.int64)
        self.outlier_score = read_array(som_path, "outlier_score").astype(np.float64)
        self.ids = read_array(self._features_store, "id").astype(object)
        self.predicted = None
        forests = [s for s in steps if s["method"] == "random-forest"]
        if forests:
            names = read_array(folder.step_store(forests[-1]["store"]), "predicted_class")
            classes, code = np.unique(names.astype(str), return_inverse=True)
            # one str object per class, shared by the spectra (not one per spectrum)
            self.predicted = np.asarray(classes, dtype=object)[code.ravel()]
        self.pca_scores = self.pca_ratio = None
        pcas = [s for s in steps if s["method"] == "pca" and s.get("input") == "features"]
        if pcas:  # the leading scores of a PCA of the features, for the PCA view
            pca_path = folder.step_store(pcas[-1]["store"])
            pca = open_step(pca_path)
            k = min(PCA_COMPONENTS, pca.sizes["component"])
            self.pca_scores = np.ascontiguousarray(
                read_array(pca_path, "pca_score")[:, :k], dtype=np.float32
            )
            self.pca_ratio = np.asarray(pca["pca_explained_variance_ratio"][:k].values)
        self.neurons = self._per_neuron(hits, np.asarray(som["som_umatrix"].values))

    # -- per neuron --------------------------------------------------------------------------
    def _per_neuron(self, hits: np.ndarray, umatrix: np.ndarray) -> dict[str, np.ndarray]:
        rows, cols = self.shape
        n = rows * cols
        xy = grid_coordinates(self.shape, self.topology)  # type: ignore[arg-type]
        ok = self.neuron_of >= 0
        sums = np.bincount(
            self.neuron_of[ok], weights=np.nan_to_num(self.outlier_score[ok]), minlength=n
        )
        counts = np.bincount(self.neuron_of[ok], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            outlier = np.where(counts > 0, sums / counts, np.nan)
        out = {
            "neuron": np.arange(n),
            "row": np.arange(n) // cols,
            "col": np.arange(n) % cols,
            "x": xy[:, 0],
            "y": xy[:, 1],
            "hits": hits.ravel().astype(np.int64),
            "umatrix": umatrix.ravel().astype(np.float64),
            "outlier": outlier,
        }
        if self.predicted is not None:
            majority = np.full(n, "", dtype=object)
            purity = np.full(n, np.nan)
            classes, code = np.unique(self.predicted[ok], return_inverse=True)
            if classes.size:
                table = np.zeros((n, classes.size), dtype=np.int64)
                np.add.at(table, (self.neuron_of[ok], code), 1)
                best = table.argmax(axis=1)
                filled = table.sum(axis=1) > 0
                majority[filled] = classes[best[filled]]
                purity[filled] = table[filled, best[filled]] / table[filled].sum(axis=1)
            out["majority"] = majority
            out["purity"] = purity
        return out

    # -- per spectrum ------------------------------------------------------------------------
    def members(self, neuron: int) -> np.ndarray:
        """Rows (spectrum indices) of the spectra whose best-matching unit is ``neuron``,
        the highest outlier score first."""
        return self.by_outlier_score(np.flatnonzero(self.neuron_of == int(neuron)))

    def by_outlier_score(self, rows: Any) -> np.ndarray:
        """``rows`` (spectrum indices) reordered: the highest outlier score first, NaN last,
        ties in their given order."""
        rows = np.asarray(rows, dtype=np.int64)
        scores = np.nan_to_num(self.outlier_score[rows], nan=-np.inf)
        return rows[np.argsort(-scores, kind="stable")]

    def neuron_label(self, neuron: int) -> str:
        """``"(row, col)"`` of a neuron's flat index."""
        return f"({int(neuron) // self.shape[1]}, {int(neuron) % self.shape[1]})"

    @property
    def wavelength(self) -> np.ndarray:
        """The experiment grid (Angstrom)."""
        return np.asarray(self._features.wavelength.values, dtype=np.float64)

    @property
    def wavelength_unit(self) -> str:
        return str(self._features.wavelength.attrs.get("units", "Angstrom"))

    def spectra(self, rows: np.ndarray) -> np.ndarray:
        """The preprocessed spectra of ``rows`` (read from the store now), shape (len, n_wl)."""
        rows = np.asarray(rows, dtype=np.int64)
        if not rows.size:
            return np.empty((0, self.wavelength.size), dtype=np.float32)
        order = np.argsort(rows)
        got = np.asarray(self._features.features[np.sort(rows)].values)
        out = np.empty_like(got)
        out[order] = got
        return out

    def is_current(self) -> bool:
        """Whether this is still what the experiment holds: the same feature store, and (when
        no step was named) its SOM step run last is still this one."""
        try:
            if resolve_store(self.experiment_dir) != self._features_store:
                return False
            soms = [
                s for s in self._folder.recorded_steps(self._features_store) if s["method"] == "som"
            ]
            return bool(soms) and soms[-1]["store"] == self.step
        except (OSError, ValueError):
            return False

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary (what the dashboard's title says)."""
        return {
            "experiment": self.name,
            "step": self.step,
            "shape": list(self.shape),
            "topology": self.topology,
            "n_spectra": int(self.ids.size),
            "n_mapped": int((self.neuron_of >= 0).sum()),
            "metrics": json.loads(json.dumps(self.metrics, default=float)),
        }

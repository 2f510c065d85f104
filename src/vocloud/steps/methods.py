"""The built-in analysis methods: ``pca``, ``som`` and ``random-forest`` (importing this module
registers them). Each reads its input lazily (dask), runs on the current cluster and returns
per-spectrum outputs aligned with the feature store."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import dask.array as da
import joblib
import numpy as np
import xarray as xr

from vocloud.ml.forest import SpectraForest
from vocloud.ml.labels import align_labels, load_labels
from vocloud.ml.pca import PCA
from vocloud.ml.som import SOM
from vocloud.steps.registry import Method, StepOutput, register
from vocloud.store import open_store


def _feature_dim(inputs: xr.DataArray) -> str:
    return str(inputs.dims[1])


def _coords(inputs: xr.DataArray) -> dict[str, Any]:
    dim = _feature_dim(inputs)
    return {dim: inputs[dim].values} if dim in inputs.coords else {}


def _dask(inputs: xr.DataArray) -> da.Array:
    data = inputs.data
    return (
        data if isinstance(data, da.Array) else da.from_array(np.asarray(data), chunks=(10_000, -1))
    )


@register
class PCAMethod(Method):
    """Distributed PCA: one pass of per-chunk Gram matrices + eigh; scores per spectrum."""

    name = "pca"
    defaults: ClassVar[dict[str, Any]] = {"n_components": 20, "whiten": False, "solver": "gram"}

    def run(self, inputs: xr.DataArray, context: Any, **params: Any) -> StepOutput:
        X = _dask(inputs)
        model = PCA(
            int(params["n_components"]), whiten=bool(params["whiten"]), solver=params["solver"]
        ).fit(X)
        k = model.components_.shape[0]
        dim = _feature_dim(inputs)
        ds = xr.Dataset(
            {
                "pca_score": (("spectrum", "component"), model.transform(X)),
                "pca_component": (("component", dim), model.components_),
                "pca_mean": ((dim,), model.mean_),
                "pca_explained_variance": (("component",), model.explained_variance_),
                "pca_explained_variance_ratio": (("component",), model.explained_variance_ratio_),
            },
            coords={"component": np.arange(k), **_coords(inputs)},
        )
        ratio = [float(r) for r in model.explained_variance_ratio_]
        metrics = {
            "n_samples": int(model.n_samples_),
            "explained_variance_ratio": ratio,
            "explained_variance_ratio_total": float(np.sum(ratio)),
        }
        return StepOutput(ds, metrics, features="pca_score")


@register
class SOMMethod(Method):
    """Distributed batch self-organizing map: BMU, map position and outlier score per spectrum."""

    name = "som"
    defaults: ClassVar[dict[str, Any]] = {
        "shape": [20, 20],
        "topology": "rectangular",
        "neighborhood": "gaussian",
        "epochs": 20,
        "sigma_start": None,
        "sigma_end": 1.0,
        "decay": "exponential",
        "init": "pca",
        "random_state": 0,
    }

    def run(self, inputs: xr.DataArray, context: Any, **params: Any) -> StepOutput:
        X = _dask(inputs)
        shape = tuple(int(v) for v in params["shape"])
        som = SOM(
            shape=shape,
            topology=params["topology"],
            neighborhood=params["neighborhood"],
            epochs=int(params["epochs"]),
            sigma_start=params["sigma_start"],
            sigma_end=float(params["sigma_end"]),
            decay=params["decay"],
            init=params["init"],
            random_state=params["random_state"],
        ).fit(X)
        bmu = np.asarray(da.compute(som.predict(X))[0])
        ok = bmu >= 0
        row = np.where(ok, bmu // shape[1], -1)
        col = np.where(ok, bmu % shape[1], -1)
        score = np.asarray(da.compute(som.outlier_score(X))[0], dtype=np.float32)
        dim = _feature_dim(inputs)
        ds = xr.Dataset(
            {
                "som_neuron": (("spectrum",), bmu.astype(np.int32)),
                "som_row": (("spectrum",), row.astype(np.int32)),
                "som_col": (("spectrum",), col.astype(np.int32)),
                "outlier_score": (("spectrum",), score),
                "som_codebook": (("map_row", "map_col", dim), som.codebook_),
                "som_umatrix": (("map_row", "map_col"), som.umatrix()),
                "som_hits": (
                    ("map_row", "map_col"),
                    np.bincount(bmu[ok], minlength=shape[0] * shape[1]).reshape(shape),
                ),
            },
            coords=_coords(inputs),
        )
        metrics = {
            "quantization_error": float(som.quantization_error(X)),
            "topographic_error": float(som.topographic_error(X)),
            "n_neurons": shape[0] * shape[1],
            "n_samples": int(ok.sum()),
        }
        return StepOutput(ds, metrics)


#: Rows per prediction task of the random-forest step (whole Zarr chunks of the feature store):
#: the fastest measured size (docs/performance.md, Random forest); a task then holds ~200 MB,
#: the rows as read and their Fortran-ordered copy.
FOREST_ROWS = 20_000


def _rows_per_task(inputs: xr.DataArray, context: Any, rows: int) -> da.Array:
    """The input as a dask array whose tasks each read at least ``rows`` spectra.

    The experiment's feature store is written in chunks of 1,000 spectra, one dask task each when
    opened. For the ``features`` of that store, it is opened anew with dask chunks of a whole
    number of its Zarr chunks, so that one task reads them in one Zarr call, fused with the
    work on them. Merging the 1,000-row dask chunks instead (``rechunk``) adds a merge task per
    block and transfers between workers, measurably slower (docs/performance.md). Any other
    input (a previous step's output) is used as it is.
    """
    data = inputs.data
    zrows = inputs.encoding.get("preferred_chunks", {}).get(inputs.dims[0])
    if inputs.name == "features" and isinstance(data, da.Array) and zrows and zrows < rows:
        chunk = -(-rows // int(zrows)) * int(zrows)
        try:
            ds = xr.open_zarr(
                str(context.features_store),
                consolidated=False,
                chunks={inputs.dims[0]: chunk, inputs.dims[1]: -1},
            )
            if ds["features"].shape == inputs.shape:
                return ds["features"].data
        except (OSError, KeyError, ValueError):
            pass
    return _dask(inputs)


@register
class RandomForestMethod(Method):
    """Random forest on spectra labelled by eye: CV metrics, class and probabilities for all."""

    name = "random-forest"
    defaults: ClassVar[dict[str, Any]] = {
        "labels": None,
        "id_column": "id",
        "label_column": "label",
        "n_estimators": 300,
        "max_features": "sqrt",
        "min_samples_leaf": 1,
        "class_weight": None,
        "cv_folds": 5,
        "random_state": 0,
    }

    def run(self, inputs: xr.DataArray, context: Any, **params: Any) -> StepOutput:
        source = params["labels"]
        if source is None:
            raise ValueError("random-forest: give labels (a CSV or VOTable file of id, label)")
        if isinstance(source, str) and source.startswith("column:"):
            col = source.split(":", 1)[1]
            values = open_store(context.features_store)[col].values
            labels = {i: v for i, v in zip(context.ids, values) if v not in ("", None)}
        else:
            labels = load_labels(
                context.resolve(source),
                id_column=params["id_column"],
                label_column=params["label_column"],
            )
        rows, y = align_labels(context.ids, labels)
        keep = context.ok[rows]
        rows, y = rows[keep], np.asarray(y)[keep]
        if rows.size == 0:
            raise ValueError("random-forest: no labelled spectrum among the preprocessed ones")
        X = _rows_per_task(inputs, context, FOREST_ROWS)
        order = np.argsort(rows)
        X_train = np.asarray(X[rows[order]].compute(), dtype=np.float32)
        model = SpectraForest(
            n_estimators=int(params["n_estimators"]),
            max_features=params["max_features"],
            min_samples_leaf=int(params["min_samples_leaf"]),
            class_weight=params["class_weight"],
            cv_folds=int(params["cv_folds"]),
            random_state=params["random_state"],
            chunk_size=FOREST_ROWS,
        ).fit(X_train, y[order])
        classes = np.asarray(model.classes_).astype(str)
        proba = model.predict_proba(X)
        nan_row = da.isnan(proba[:, 0])
        idx = da.where(nan_row, -1, da.argmax(da.where(da.isnan(proba), -1.0, proba), axis=1))
        width = max(1, max(len(c) for c in classes))

        def _names(block: np.ndarray) -> np.ndarray:
            return np.where(block >= 0, classes[np.maximum(block, 0)], "").astype(f"<U{width}")

        predicted = idx.map_blocks(_names, dtype=f"<U{width}")
        given = np.full(len(context.ids), "", dtype=f"<U{max(width, 1)}")
        given[rows] = y.astype(str)
        # the cross-validated class of each labelled spectrum: what a confusion-matrix cell lists
        cv_pred = np.full(len(context.ids), "", dtype=f"<U{max(width, 1)}")
        if model.cv_predictions_ is not None and model.cv_predictions_.size == rows.size:
            cv_pred[rows[order]] = np.asarray(model.cv_predictions_).astype(str)
        dim = _feature_dim(inputs)
        ds = xr.Dataset(
            {
                "predicted_class": (("spectrum",), predicted),
                "probability": (("spectrum", "class"), proba.astype(np.float32)),
                "label": (("spectrum",), given),
                "cv_predicted_class": (("spectrum",), cv_pred),
                "importance": ((dim,), np.asarray(model.feature_importances_)),
            },
            coords={"class": classes, **_coords(inputs)},
        )
        buf = io.BytesIO()
        joblib.dump(model, buf)
        return StepOutput(ds, model.metrics(), files={"model.joblib": buf.getvalue()})

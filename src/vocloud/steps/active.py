"""The ``active-learning`` method: one iteration of the labelling loop over a feature store.

Each run fits the model on the labels file, scores every stored spectrum (chunk by chunk on the
cluster), and stores per spectrum the predicted class, the class probabilities, the query score
and the query rank of the next batch (1 ... batch_size; 0 for the others). It records the
iteration in ``<experiment>/active-learning/iteration-NNNN.json`` (labels used, metrics, the
batch picked). The labels file's content is part of the step's cache key: after new labels a
rerun is the next iteration; without new labels it is the cached result.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np
import xarray as xr
import zarr
from sklearn.model_selection import StratifiedKFold, cross_val_score

from vocloud.ml.active import UNSURE, ActiveLearner
from vocloud.ml.labelfile import experiment_labels
from vocloud.ml.labels import align_labels, labels_digest, load_labels
from vocloud.steps.methods import FOREST_ROWS, _coords, _feature_dim, _rows_per_task
from vocloud.steps.registry import Method, StepOutput, register
from vocloud.steps.runner import open_step, recorded_steps
from vocloud.store import ExperimentFolder, utc_now


def _labels_path(params: dict[str, Any], context: Any) -> Path:

    if params["labels"] is None:
        return experiment_labels(context.experiment_dir)
    return Path(context.resolve(params["labels"]))


def _latest_som(context: Any) -> tuple[str, Path] | None:
    """Key and store of the latest SOM step of the experiment, if any."""

    for rec in reversed(recorded_steps(context.experiment_dir, Path(context.features_store))):
        if rec["method"] == "som":
            return rec["key"], ExperimentFolder(context.experiment_dir).step_store(rec["store"])
    return None


def iteration_records(experiment_dir: str | Path) -> list[dict[str, Any]]:
    """The recorded iterations of an experiment's loop, oldest first."""
    return ExperimentFolder(experiment_dir).iteration_records()


def _store_reader(inputs: xr.DataArray, context: Any) -> Any:
    """``rows -> features`` read from the feature store by zarr (only the 1,000-row chunks
    holding them; a gather from the 20,000-row dask tasks reads them all whole), or None for
    another input (then gathered through dask)."""

    if inputs.name != "features":
        return None
    try:
        arr = zarr.open_array(str(Path(context.features_store) / "features"), mode="r")
    except (OSError, KeyError, ValueError):
        return None
    if tuple(arr.shape) != tuple(inputs.shape):
        return None

    def take(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return np.empty((0, arr.shape[1]), dtype=np.float32)
        order = np.argsort(rows)
        out = np.empty((rows.size, arr.shape[1]), dtype=np.float32)
        out[order] = arr.get_orthogonal_selection((rows[order], slice(None)))
        return out

    return take


@register
class ActiveLearningMethod(Method):
    """Active learning: fit on the labels, classify every spectrum, rank the next batch to label."""

    name = "active-learning"
    defaults: ClassVar[dict[str, Any]] = {
        "labels": None,
        "id_column": "id",
        "label_column": "label",
        "model": "random-forest",
        "model_params": {},
        "query": "uncertainty",
        "batch_size": 64,
        "cv_folds": 3,
        "random_state": 0,
    }

    @classmethod
    def fingerprint(cls, params: dict[str, Any], context: Any) -> Any:
        path = _labels_path(params, context)
        # the labels, not the file's bytes: appending a row that changes no label, or compacting
        # the log, keeps the cached iteration
        digest = (
            labels_digest(
                load_labels(
                    path, id_column=params["id_column"], label_column=params["label_column"]
                )
            )
            if path.exists()
            else None
        )
        som = _latest_som(context) if params["query"] in ("diverse", "outlier") else None
        return {"labels": digest, "som": som[0] if som else None}

    def run(self, inputs: xr.DataArray, context: Any, **params: Any) -> StepOutput:

        path = _labels_path(params, context)
        if not path.exists():
            raise FileNotFoundError(
                f"active-learning: no labels file {path} (label a few spectra of each class first)"
            )
        labels = load_labels(
            path, id_column=params["id_column"], label_column=params["label_column"]
        )
        rows, y = align_labels(context.ids, labels)
        keep = context.ok[rows]
        rows, y = rows[keep], np.asarray(y, dtype=str)[keep]
        learner = ActiveLearner(
            model=params["model"],
            query=params["query"],
            batch_size=int(params["batch_size"]),
            random_state=params["random_state"],
            model_params=params["model_params"],
            chunk_size=FOREST_ROWS,
        )
        groups = outlier = None
        som = _latest_som(context) if params["query"] in ("diverse", "outlier") else None
        if som is not None:
            sds = open_step(som[1])
            groups, outlier = sds["som_neuron"].values, sds["outlier_score"].values
        elif params["query"] == "outlier":
            raise ValueError("active-learning: query 'outlier' needs a som step run before")
        X = _rows_per_task(inputs, context, FOREST_ROWS)
        it = learner.iterate(
            X,
            rows,
            y,
            groups=groups,
            outlier_score=outlier,
            iteration=int(rows.size),
            take=_store_reader(inputs, context),
        )
        names = it.predicted_names()
        given = np.full(len(context.ids), "", dtype=object)
        given[rows] = y
        width = max(1, max((len(s) for s in y), default=1), max(len(c) for c in it.classes))
        score = np.where(np.isfinite(it.score), it.score, np.nan).astype(np.float32)
        ds = xr.Dataset(
            {
                "predicted_class": (("spectrum",), names.astype(f"<U{width}")),
                "probability": (("spectrum", "class"), it.probability),
                "query_score": (("spectrum",), score),
                "query_rank": (("spectrum",), it.rank),
                "label": (("spectrum",), given.astype(f"<U{width}")),
                "class_mean": (("class", _feature_dim(inputs)), it.class_means),
            },
            coords={"class": it.classes, **_coords(inputs)},
        )
        metrics = self._metrics(it, y, params)
        batch = [
            {
                "rank": int(r + 1),
                "id": str(context.ids[i]),
                "predicted": str(names[i]),
                "probability": float(np.nanmax(it.probability[i])),
                "score": float(it.score[i]),
            }
            for r, i in enumerate(it.batch)
        ]
        ExperimentFolder(context.experiment_dir).record_iteration(
            {
                "created": utc_now(),
                "labels_file": str(path),
                "labels_sha256": labels_digest(labels),
                "labels": {str(context.ids[i]): str(v) for i, v in zip(rows, y)},
                "params": params,
                "metrics": metrics,
                "batch": batch,
            },
        )
        buf = io.BytesIO()
        joblib.dump(it.model, buf)
        return StepOutput(ds, metrics, files={"model.joblib": buf.getvalue()})

    @staticmethod
    def _metrics(it: Any, y: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:

        trained = y[y != UNSURE]
        classes, counts = np.unique(trained, return_counts=True)
        scored = it.predicted >= 0
        pred_counts = np.bincount(it.predicted[scored], minlength=it.classes.size)
        top = np.nanmax(it.probability[scored], axis=1) if scored.any() else np.array([np.nan])
        out: dict[str, Any] = {
            "n_labels": int(trained.size),
            "n_unsure": int((y == UNSURE).sum()),
            "labels_per_class": {str(c): int(n) for c, n in zip(classes, counts)},
            "predicted_per_class": {str(c): int(n) for c, n in zip(it.classes, pred_counts)},
            "mean_top_probability": float(np.mean(top)),
            "batch_size": int(it.batch.size),
            "query": params["query"],
            "model": str(params["model"]),
            "cv_accuracy": None,
            "seconds": {k: round(v, 3) for k, v in it.seconds.items()},
        }
        folds = min(int(params["cv_folds"]), int(counts.min()) if counts.size else 0)
        if folds >= 2:
            Xl = it.labelled[y != UNSURE]
            ok = ~np.isnan(Xl).any(axis=1)
            cv = StratifiedKFold(folds, shuffle=True, random_state=params["random_state"])
            acc = cross_val_score(it.model, Xl[ok], trained[ok], cv=cv)
            out["cv_accuracy"] = float(np.mean(acc))
            out["cv_folds"] = folds
        return out

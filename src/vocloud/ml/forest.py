"""Random forest classification of spectra in a feature store.

:class:`SpectraForest` trains a scikit-learn :class:`~sklearn.ensemble.RandomForestClassifier`
on the (few) labelled rows of a store, measures it (out-of-bag score and stratified k-fold cross
validation: accuracy, F1 per class, confusion matrix) and predicts every spectrum of the store
lazily, chunk by chunk, on Dask.

Parallelism
-----------
- Training runs on one machine with ``n_jobs`` threads (trees are built in parallel). To spread
  the trees over a cluster, where several machines pay off (a few hundred trees on tens of
  thousands of labelled spectra), train under joblib's Dask backend with a
  :class:`distributed.Client` active::

      import joblib
      with joblib.parallel_backend("dask"):
          forest.fit(X, y)

  On a single machine this only adds overhead: keep the default threads there.
- Prediction of a dask array (or an xarray DataArray backed by one) is one task per row chunk,
  after consecutive row chunks smaller than ``chunk_size`` (10,000 rows by default) are merged:
  a store written in chunks of 1,000 spectra would otherwise pay scikit-learn's per-call cost for
  hundreds of trees and Dask's per-task cost every 1,000 rows. Each task predicts its rows with
  one thread (``n_jobs=1`` inside tasks, parallelism across tasks), so the trees are not fought
  over by nested thread pools.
- The model is mapped over the row chunks by dask-ml's
  :class:`~dask_ml.wrappers.ParallelPostFit`, behind a thin layer: a two-row probe checks it
  against the model first, and when dask-ml cannot be imported or disagrees (it has broken with
  scikit-learn releases), a warning says so and :func:`dask.array.map_blocks` with the model as
  one graph key does the same work. ParallelPostFit pickles the model into every task, which
  large row chunks keep cheap.
- Each block is copied to Fortran (column-major) order before scikit-learn traverses the trees:
  about twice the rows per second of the C-ordered rows a Zarr store returns (see
  :func:`_fortran`). Figures: docs/performance.md, ``benchmarks/forest.py``.

Examples
--------
>>> import numpy as np
>>> from vocloud.ml.forest import SpectraForest
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 5)).astype("f4")
>>> y = np.where(X[:, 0] > 0, "emission", "absorption")
>>> model = SpectraForest(n_estimators=20, cv_folds=3, n_jobs=1, random_state=0).fit(X, y)
>>> model.classes_.tolist()
['absorption', 'emission']
>>> model.cv_accuracy_ > 0.8
True
"""

from __future__ import annotations

import copy
import logging
import numbers
import warnings
from collections.abc import Mapping
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils.validation import check_is_fitted

from vocloud.ml.validation import check_array, is_dask

__all__ = ["SpectraForest"]

log = logging.getLogger(__name__)

#: Map the model with dask-ml's ``ParallelPostFit`` (falling back to ``da.map_blocks`` if it
#: fails); False: ``da.map_blocks`` with the model as one graph key (benchmarks/forest.py
#: compares the two).
USE_DASK_ML = True


# -- the fitted model as the tasks see it -----------------------------------------------------
#: Rows per slab when a block is copied to Fortran order: each slab's rows stay in cache while
#: they are scattered over the columns (``np.asfortranarray`` of a whole block thrashes it).
_SLAB = 256


def _fortran(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as a float32 Fortran-ordered copy with NaN-containing rows zeroed, and those rows.

    scikit-learn's trees take the input as it is (any strides) and traverse one tree for all
    rows before the next tree. On C-ordered rows of 1,161 features each node test reads a
    different 4.6 KB row: a cache miss per level. In Fortran order the rows reaching a node read
    neighbouring floats of the node's feature column: about twice the rows per second, the same
    probabilities bit for bit (docs/performance.md).
    """
    n = X.shape[0]
    out = np.empty(X.shape, dtype=np.float32, order="F")
    bad = np.empty(n, dtype=bool)
    for i in range(0, n, _SLAB):
        slab = X[i : i + _SLAB]
        bad[i : i + _SLAB] = np.isnan(slab).any(axis=1)
        out[i : i + _SLAB] = slab
    if bad.any():
        out[bad] = 0.0
    return out, bad


class _NanSafeModel:
    """A fitted forest that predicts rows containing NaN (failed spectra) as missing.

    Missing rows get the label ``""`` (string classes) or ``None`` (other classes, object
    dtype) and NaN probabilities. This is the object the prediction tasks receive (one graph
    key: each worker gets it once, see :func:`_blockwise`).
    """

    def __init__(self, forest: RandomForestClassifier, n_jobs: int | None = 1) -> None:
        self.forest = copy.copy(forest)  # shallow: shares the trees
        self.forest.n_jobs = n_jobs
        self.classes_ = forest.classes_
        if self.classes_.dtype.kind in "US":
            self.label_dtype: np.dtype = self.classes_.dtype
            self.missing: Any = ""
        else:
            self.label_dtype = np.dtype(object)
            self.missing = None

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.shape[0] == 0:
            return np.empty((0, self.classes_.size), dtype=np.float64)
        XF, bad = _fortran(X)
        if bad.all():
            return np.full((X.shape[0], self.classes_.size), np.nan, dtype=np.float64)
        out = np.asarray(self.forest.predict_proba(XF), dtype=np.float64)
        out[bad] = np.nan
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        proba = self.predict_proba(X)
        out = np.full(proba.shape[0], self.missing, dtype=self.label_dtype)
        ok = ~np.isnan(proba[:, 0]) if proba.shape[1] else np.zeros(proba.shape[0], bool)
        out[ok] = self.classes_[np.argmax(proba[ok], axis=1)]
        return out

    def meta(self, method: str) -> np.ndarray:
        if method == "predict":
            return np.empty((0,), dtype=self.label_dtype)
        return np.empty((0, 0), dtype=np.float64)


# -- the thin layer over dask-ml --------------------------------------------------------------
def _dask_ml_blockwise(model: _NanSafeModel, X: da.Array, method: str) -> da.Array:
    # imported here: a dask-ml that fails to import (after a scikit-learn release) must not take
    # vocloud.ml with it; the caller falls back to map_blocks
    from dask_ml.wrappers import ParallelPostFit

    wrapper = ParallelPostFit(
        estimator=model,
        predict_meta=model.meta("predict"),
        predict_proba_meta=model.meta("predict_proba"),
    )
    return getattr(wrapper, method)(X)


def _call(block: np.ndarray, model: _NanSafeModel, method: str) -> np.ndarray:
    return getattr(model, method)(block)


def _map_blocks_blockwise(model: _NanSafeModel, X: da.Array, method: str) -> da.Array:
    # The model as one graph key (a delayed object) that every task depends on: each worker
    # fetches and unpickles it once, not once per task.
    ref = dask.delayed(model, pure=True)
    if method == "predict":
        return X.map_blocks(
            _call, ref, method, drop_axis=1, dtype=model.label_dtype, meta=model.meta(method)
        )
    return X.map_blocks(
        _call,
        ref,
        method,
        chunks=(X.chunks[0], (model.classes_.size,)),
        dtype=np.float64,
        meta=model.meta(method),
    )


def _probe(model: _NanSafeModel, X: da.Array, method: str) -> None:
    """Run the dask-ml path on two dummy rows and compare with the model itself."""
    dummy = np.zeros((2, X.shape[1]), dtype=np.float32)
    dummy[1] = np.nan
    got = _dask_ml_blockwise(model, da.from_array(dummy, chunks=(1, -1)), method)
    got = got.compute(scheduler="sync")
    want = getattr(model, method)(dummy)
    # probabilities of models that work in float32 (an MLP fitted on float32 spectra) move in
    # the last bits with the batch size (BLAS blocking): compare at float32 precision
    same = (
        np.array_equal(got, want)
        if method == "predict"
        else np.allclose(got, want, rtol=1e-5, atol=1e-7, equal_nan=True)
    )
    if got.shape != want.shape or not same:
        raise RuntimeError(f"dask-ml {method} disagrees with the model on a probe")


def _row_chunks(chunks: tuple[int, ...], target: int) -> tuple[int, ...]:
    """Consecutive row chunks merged until each has at least ``target`` rows (never split).

    >>> _row_chunks((1000,) * 25, 10_000)
    (10000, 10000, 5000)
    >>> _row_chunks((70, 70, 70, 30), 10)
    (70, 70, 70, 30)
    """
    out: list[int] = []
    acc = 0
    for c in chunks:
        acc += c
        if acc >= target:
            out.append(acc)
            acc = 0
    if acc:
        out.append(acc)
    return tuple(out)


def _blockwise(model: _NanSafeModel, X: da.Array, method: str, rows: int) -> da.Array:
    """``model.<method>`` over the row chunks of ``X``, lazily.

    Row chunks smaller than ``rows`` are merged (whole chunks) first: scikit-learn's per-call
    cost for hundreds of trees and the per-task cost of Dask are paid per ``rows`` rows, not per
    store chunk (stores are written in chunks of 1,000 spectra). dask-ml's ``ParallelPostFit``
    maps the model when it imports and passes a two-row probe (``USE_DASK_ML``), else
    :func:`_map_blocks_blockwise`.
    """
    merged = _row_chunks(X.chunks[0], max(1, int(rows)))
    if X.numblocks[1] > 1 or merged != X.chunks[0]:
        X = X.rechunk({0: merged, 1: -1})
    if USE_DASK_ML:
        try:
            _probe(model, X, method)
            out = _dask_ml_blockwise(model, X, method)
            if out.chunks[0] != X.chunks[0]:
                raise RuntimeError("dask-ml changed the row chunks")
            return out
        except Exception as exc:  # ImportError or any break of dask-ml
            warnings.warn(
                f"dask-ml ParallelPostFit failed ({type(exc).__name__}: {exc}); "
                "falling back to dask.array.map_blocks",
                RuntimeWarning,
                stacklevel=3,
            )
    return _map_blocks_blockwise(model, X, method)


# -- input helpers ----------------------------------------------------------------------------
def _is_lazy(X: Any) -> bool:
    return is_dask(X) or (isinstance(X, xr.DataArray) and is_dask(X.data))


def _to_numpy(X: Any) -> np.ndarray:
    """Any 2-D array (numpy, dask, xarray) as a computed float32 numpy array."""
    X = check_array(X)
    if is_dask(X):
        X = X.compute()
    return np.asarray(X, dtype=np.float32)


def _to_dask(X: Any, chunk_size: int) -> da.Array:
    X = check_array(X)
    if not is_dask(X):
        X = da.from_array(X, chunks=(chunk_size, -1))
    return X


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return str(value)


# -- the estimator ----------------------------------------------------------------------------
class SpectraForest(ClassifierMixin, BaseEstimator):
    """Random forest classifier of spectra, measured by OOB score and cross validation.

    Parameters
    ----------
    n_estimators : int
        Number of trees.
    max_features : {"sqrt", "log2"}, int, float or None
        Features tried at each split (scikit-learn semantics).
    min_samples_leaf : int
        Minimum labelled spectra per leaf. Larger values give shallower trees: prediction time
        grows with tree depth.
    class_weight : {"balanced", "balanced_subsample"}, dict or None
        Class weights (use ``"balanced"`` when a few classes dominate the labels).
    cv_folds : int
        Folds of the stratified cross validation; reduced (with a warning) to the size of the
        smallest class, skipped (metrics ``None``) when that is below 2.
    n_jobs : int or None
        Threads for training and for prediction of numpy input (joblib semantics: -1 = all
        cores). Prediction of dask input uses one thread per task.
    random_state : int or None
        Seed of the forest and of the fold shuffling.
    chunk_size : int
        Rows per task when a dask array is predicted: consecutive row chunks are merged (never
        split) until each has at least this many rows; a numpy array is predicted in blocks of
        this many rows.

    Attributes
    ----------
    estimator_ : sklearn.ensemble.RandomForestClassifier
        The forest trained on all labelled rows.
    classes_ : numpy.ndarray
        Class labels, sorted.
    n_features_in_ : int
        Number of features (wavelengths).
    n_samples_ : int
        Number of labelled rows used (rows containing NaN are dropped with a warning).
    oob_score_ : float
        Out-of-bag accuracy of ``estimator_``.
    cv_folds_ : int or None
        Folds used by the cross validation.
    cv_accuracy_ : float or None
        Accuracy of the cross-validated predictions.
    f1_per_class_ : dict or None
        ``{class: F1}`` of the cross-validated predictions.
    confusion_matrix_ : pandas.DataFrame or None
        Counts, index ``true`` x columns ``predicted`` classes; sums to ``n_samples_``.
    cv_predictions_ : numpy.ndarray or None
        The cross-validated prediction of each labelled row used (in the order given to
        ``fit``, NaN rows dropped): the spectra behind each cell of the confusion matrix.
    feature_importances_ : numpy.ndarray
        Mean decrease in impurity per feature (sums to 1).

    Notes
    -----
    To train over a Dask cluster, fit under ``with joblib.parallel_backend("dask"):`` while a
    :class:`distributed.Client` is active; this helps when several machines are available,
    not on one machine where threads share memory for free.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(90, 4)).astype("f4")
    >>> y = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
    >>> f = SpectraForest(n_estimators=30, cv_folds=3, n_jobs=1, random_state=0).fit(X, y)
    >>> int(f.confusion_matrix_.to_numpy().sum())
    90
    >>> sorted(f.metrics())[:4]
    ['classes', 'confusion_matrix', 'cv_accuracy', 'cv_folds']
    >>> Xnew = np.vstack([X[:3], np.full((1, 4), np.nan, "f4")])
    >>> f.predict(Xnew).tolist() == f.predict(X[:3]).tolist() + [""]
    True
    >>> lazy = f.predict(da.from_array(Xnew, chunks=(2, 4)))
    >>> lazy.chunks  # row chunks below chunk_size are merged
    ((4,),)
    >>> lazy.compute().tolist() == f.predict(Xnew).tolist()
    True
    """

    def __init__(
        self,
        n_estimators: int = 300,
        max_features: str | int | float | None = "sqrt",
        min_samples_leaf: int = 1,
        class_weight: str | dict[Any, float] | None = None,
        cv_folds: int = 5,
        n_jobs: int | None = -1,
        random_state: int | None = None,
        chunk_size: int = 10_000,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.class_weight = class_weight
        self.cv_folds = cv_folds
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.chunk_size = chunk_size

    # -- training -----------------------------------------------------------------------------
    def _forest(self) -> RandomForestClassifier:
        return RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_features=self.max_features,
            min_samples_leaf=self.min_samples_leaf,
            class_weight=self.class_weight,
            oob_score=True,
            bootstrap=True,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )

    def fit(self, X: Any, y: Any) -> SpectraForest:
        """Train on labelled rows, then measure by OOB score and stratified cross validation.

        Parameters
        ----------
        X : array-like of shape (n_labelled, n_features)
            Features of the labelled spectra: numpy, or a dask array / xarray DataArray of just
            those rows (computed here). Rows containing NaN are dropped with a warning.
        y : array-like of shape (n_labelled,)
            Their labels.

        Returns
        -------
        SpectraForest
            ``self``.
        """
        X = _to_numpy(X)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must be 1-D with {X.shape[0]} labels, got shape {y.shape}")
        if y.dtype == object and all(isinstance(v, str) for v in y):
            y = y.astype(str)
        bad = np.isnan(X).any(axis=1)
        if bad.any():
            warnings.warn(
                f"{int(bad.sum())} labelled rows contain NaN (failed spectra) and are ignored",
                UserWarning,
                stacklevel=2,
            )
            X, y = X[~bad], y[~bad]
        classes, counts = np.unique(y, return_counts=True)
        if classes.size < 2:
            raise ValueError(f"need at least 2 classes to train, got {classes.tolist()}")

        forest = self._forest()
        with warnings.catch_warnings():
            # few trees leave some rows without OOB estimate: the score still stands
            warnings.filterwarnings("ignore", message=".*OOB.*|.*out-of-bag.*")
            forest.fit(X, y)
        self.estimator_ = forest
        self.classes_ = forest.classes_
        self.n_features_in_ = X.shape[1]
        self.n_samples_ = int(X.shape[0])
        self.oob_score_ = float(forest.oob_score_)
        self.feature_importances_ = forest.feature_importances_
        self._cross_validate(X, y, int(counts.min()), classes[np.argmin(counts)])
        return self

    def _cross_validate(self, X: np.ndarray, y: np.ndarray, smallest: int, which: Any) -> None:
        folds = min(int(self.cv_folds), smallest)
        self.cv_folds_: int | None = None
        self.cv_accuracy_: float | None = None
        self.f1_per_class_: dict[Any, float] | None = None
        self.confusion_matrix_: pd.DataFrame | None = None
        self.cv_predictions_: np.ndarray | None = None
        if folds < 2:
            warnings.warn(
                f"class {which!r} has {smallest} labelled spectrum: cross validation skipped",
                UserWarning,
                stacklevel=3,
            )
            return
        if folds < self.cv_folds:
            warnings.warn(
                f"class {which!r} has only {smallest} labelled spectra: "
                f"cross validation uses {folds} folds instead of {self.cv_folds}",
                UserWarning,
                stacklevel=3,
            )
        cv_forest = self._forest().set_params(oob_score=False)
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        pred = cross_val_predict(cv_forest, X, y, cv=cv)
        self.cv_predictions_ = pred
        labels = self.classes_
        self.cv_folds_ = folds
        self.cv_accuracy_ = float(accuracy_score(y, pred))
        f1 = f1_score(y, pred, labels=labels, average=None, zero_division=0.0)
        self.f1_per_class_ = {_key(c): float(v) for c, v in zip(labels, f1)}
        self.confusion_matrix_ = pd.DataFrame(
            confusion_matrix(y, pred, labels=labels),
            index=pd.Index([_key(c) for c in labels], name="true"),
            columns=pd.Index([_key(c) for c in labels], name="predicted"),
        )

    def metrics(self) -> dict[str, Any]:
        """All measures of the fitted forest as a JSON-able dict.

        Returns
        -------
        dict
            ``classes``, ``n_samples``, ``n_features``, ``oob_score``, ``cv_folds``,
            ``cv_accuracy``, ``f1_per_class`` (``{class: F1}``), ``confusion_matrix``
            (``{"labels": [...], "matrix": [[...]]}``, rows true, columns predicted),
            ``feature_importances`` and ``params``; ``None`` where cross validation was skipped.
        """
        check_is_fitted(self, "estimator_")
        cm = self.confusion_matrix_
        return _jsonable(
            {
                "classes": list(self.classes_),
                "n_samples": self.n_samples_,
                "n_features": self.n_features_in_,
                "oob_score": self.oob_score_,
                "cv_folds": self.cv_folds_,
                "cv_accuracy": self.cv_accuracy_,
                "f1_per_class": self.f1_per_class_,
                "confusion_matrix": None
                if cm is None
                else {"labels": list(cm.index), "matrix": cm.to_numpy().tolist()},
                "feature_importances": self.feature_importances_,
                "params": self.get_params(),
            }
        )

    # -- prediction ---------------------------------------------------------------------------
    def _model(self, n_jobs: int | None) -> _NanSafeModel:
        check_is_fitted(self, "estimator_")
        return _NanSafeModel(self.estimator_, n_jobs=n_jobs)

    def _apply(self, X: Any, method: str) -> Any:
        if _is_lazy(X):
            Xd = _to_dask(X, self.chunk_size)
            self._check_features(Xd.shape[1])
            return _blockwise(self._model(1), Xd, method, self.chunk_size)
        Xn = _to_numpy(X)
        self._check_features(Xn.shape[1])
        model = self._model(self.n_jobs)
        step = max(1, int(self.chunk_size))
        if Xn.shape[0] <= step:
            return getattr(model, method)(Xn)
        return np.concatenate(
            [getattr(model, method)(Xn[i : i + step]) for i in range(0, Xn.shape[0], step)]
        )

    def _check_features(self, n: int) -> None:
        if n != self.n_features_in_:
            raise ValueError(f"X has {n} features, the forest was trained on {self.n_features_in_}")

    def predict(self, X: Any) -> Any:
        """Predicted class of each row.

        Parameters
        ----------
        X : numpy array, dask array or xarray DataArray of shape (n, n_features)
            Rows containing NaN (failed spectra) are predicted as missing.

        Returns
        -------
        numpy.ndarray or dask.array.Array
            Numpy in, numpy out; dask or dask-backed DataArray in, a lazy dask array out (one task
            per row chunk). Missing rows are ``""`` for string classes, else ``None``.
        """
        return self._apply(X, "predict")

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities of each row (columns in the order of ``classes_``).

        Parameters
        ----------
        X : numpy array, dask array or xarray DataArray of shape (n, n_features)
            Rows containing NaN get NaN probabilities.

        Returns
        -------
        numpy.ndarray or dask.array.Array
            ``(n, n_classes)`` float64: numpy in, numpy out; dask in, lazy dask out.
        """
        return self._apply(X, "predict_proba")

    def importance_spectrum(self, wavelength: Any) -> xr.DataArray:
        """Feature importances as a spectrum on the wavelength grid.

        Parameters
        ----------
        wavelength : array-like, astropy Quantity or xarray DataArray
            The grid (e.g. ``ds["wavelength"]`` of the store; its ``units`` attribute is kept,
            else Angstrom, or the unit of a Quantity).

        Returns
        -------
        xarray.DataArray
            ``importance`` on dim ``"wavelength"``, with ``units`` attrs on both.

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(40, 3)).astype("f4")
        >>> y = np.where(X[:, 1] > 0, "a", "b")
        >>> f = SpectraForest(n_estimators=10, cv_folds=2, n_jobs=1, random_state=0).fit(X, y)
        >>> imp = f.importance_spectrum(np.array([6560.0, 6562.8, 6565.0]))
        >>> imp.dims, imp["wavelength"].attrs["units"], int(np.argmax(imp.values))
        (('wavelength',), 'Angstrom', 1)
        """
        check_is_fitted(self, "estimator_")
        units = "Angstrom"
        if isinstance(wavelength, xr.DataArray):
            units = str(wavelength.attrs.get("units", units))
            values = np.asarray(wavelength.values, dtype=np.float64)
        elif hasattr(wavelength, "unit") and hasattr(wavelength, "value"):
            units = wavelength.unit.to_string()
            values = np.asarray(wavelength.value, dtype=np.float64)
        else:
            values = np.asarray(wavelength, dtype=np.float64)
        if values.shape != (self.n_features_in_,):
            raise ValueError(
                f"wavelength has shape {values.shape}, the forest has {self.n_features_in_} features"
            )
        return xr.DataArray(
            np.asarray(self.feature_importances_, dtype=np.float64),
            dims=("wavelength",),
            coords={"wavelength": ("wavelength", values, {"units": units})},
            name="importance",
            attrs={
                "long_name": "random forest feature importance (mean decrease in impurity)",
                "units": "1",
                "wavelength_units": units,
            },
        )


def _key(c: Any) -> Any:
    """A class label as a plain Python value (dict keys, DataFrame labels)."""
    if isinstance(c, np.generic):
        return c.item()
    return c if isinstance(c, str | numbers.Number) else str(c)

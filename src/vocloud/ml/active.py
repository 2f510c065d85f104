"""Pool-based active learning: which spectra to label next, out of millions.

One iteration of the loop (:meth:`ActiveLearner.iterate`): fit a classifier on the labelled
spectra, score every spectrum of the pool (a dask array is scored chunk by chunk on the cluster,
rows containing NaN -- failed spectra -- get no prediction), and pick the next batch to label
with a query strategy (:data:`QUERY_STRATEGIES`):

- ``uncertainty`` -- least confidence first: ``1 - max_k p_k``;
- ``margin`` -- smallest difference between the two most probable classes first;
- ``entropy`` -- largest ``-sum_k p_k log p_k`` first;
- ``diverse`` -- least confidence, but one spectrum per group (SOM neuron, or k-means cluster of
  the most uncertain candidates) before a second one from any group: a batch spread over the
  archive, not 64 near-duplicates;
- ``outlier`` -- the SOM outlier score first (what the model cannot know it does not know);
- ``random`` -- the baseline.

Models (:func:`make_classifier`): any scikit-learn classifier with ``predict_proba`` -- an
instance, a name of :data:`MODELS` (``random-forest``, the default; ``gradient-boosting``;
``mlp``) or a dotted class path such as ``"sklearn.ensemble.ExtraTreesClassifier"``.

The label :data:`UNSURE` (given in the dashboard) marks a spectrum seen but not classified: it
is never trained on and never asked again.

Examples
--------
>>> import numpy as np
>>> from vocloud.ml.active import ActiveLearner
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(300, 4)).astype("f4")
>>> truth = np.where(X[:, 0] > 0, "emission", "absorption")
>>> rows = np.arange(20)
>>> learner = ActiveLearner(query="margin", batch_size=8, random_state=0,
...                         model_params={"n_estimators": 20, "n_jobs": 1})
>>> it = learner.iterate(X, rows, truth[rows])
>>> it.batch.size, bool(np.isin(it.batch, rows).any())
(8, False)
>>> it.classes.tolist(), it.probability.shape
(['absorption', 'emission'], (300, 2))
>>> it.rank[it.batch].tolist()
[1, 2, 3, 4, 5, 6, 7, 8]
"""

from __future__ import annotations

import importlib
import time
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vocloud.ml.forest import _blockwise, _NanSafeModel

__all__ = [
    "MODELS",
    "QUERY_STRATEGIES",
    "UNSURE",
    "ActiveLearner",
    "Iteration",
    "make_classifier",
    "query_scores",
    "select_batch",
]

QUERY_STRATEGIES = ("uncertainty", "margin", "entropy", "diverse", "outlier", "random")
"""The query strategies, as named in experiment files and by ``vocloud learn --query``."""

MODELS = ("random-forest", "gradient-boosting", "mlp")
"""Models known by name (any scikit-learn classifier with ``predict_proba`` works)."""

UNSURE = "unsure"
"""The label of a spectrum looked at but not classified: not trained on, not asked again."""

#: Candidates per batch place that ``diverse`` clusters when no SOM neurons are given: the
#: k-means groups are made among the ``DIVERSE_POOL * batch_size`` most uncertain spectra.
DIVERSE_POOL = 10


def make_classifier(
    model: Any = "random-forest", *, random_state: int | None = None, **params: Any
):
    """A fresh scikit-learn classifier with ``predict_proba``.

    Parameters
    ----------
    model : str or estimator
        ``"random-forest"`` (200 trees, balanced class weights: a rare class counts),
        ``"gradient-boosting"`` (histogram gradient boosting), ``"mlp"`` (standardised inputs,
        one hidden layer of 64), a dotted class path (``"sklearn.svm.SVC"`` with
        ``probability=True``) or an estimator instance (cloned).
    random_state : int or None
        Seed, set when the model has a ``random_state`` parameter.
    **params
        Parameters of the model (for ``mlp``: of its ``MLPClassifier``).

    Returns
    -------
    sklearn estimator

    Raises
    ------
    ValueError
        An unknown name, a path that does not import, or a model without ``predict_proba``.

    Examples
    --------
    >>> type(make_classifier("gradient-boosting")).__name__
    'HistGradientBoostingClassifier'
    >>> make_classifier("sklearn.svm.SVC", probability=True).probability
    True
    >>> make_classifier("sklearn.svm.LinearSVC")
    Traceback (most recent call last):
    ...
    ValueError: model sklearn.svm.LinearSVC has no predict_proba: active learning needs class probabilities
    """
    if isinstance(model, str):
        est = _named_model(model, params)
    else:
        est = clone(model).set_params(**params) if params else clone(model)
    if not hasattr(est, "predict_proba"):
        raise ValueError(
            f"model {_model_name(model)} has no predict_proba: "
            "active learning needs class probabilities"
        )
    if random_state is not None:
        _seed(est, random_state)
    return est


def _named_model(name: str, params: dict[str, Any]) -> Any:
    if name == "random-forest":
        kw = {"n_estimators": 200, "class_weight": "balanced", "n_jobs": -1, **params}
        return RandomForestClassifier(**kw)
    if name == "gradient-boosting":
        kw = {"max_iter": 100, "min_samples_leaf": 5, "early_stopping": False, **params}
        return HistGradientBoostingClassifier(**kw)
    if name == "mlp":
        kw = {"hidden_layer_sizes": (64,), "max_iter": 1000, **params}
        return make_pipeline(StandardScaler(), MLPClassifier(**kw))
    if "." in name:
        module, _, cls = name.rpartition(".")
        try:
            factory = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"model {name!r} does not import: {exc}") from exc
        return factory(**params)
    raise ValueError(f"unknown model {name!r} (known: {', '.join(MODELS)} or a dotted class path)")


def _model_name(model: Any) -> str:
    return model if isinstance(model, str) else type(model).__name__


def _seed(est: Any, seed: int) -> None:
    keys = [k for k in est.get_params() if k == "random_state" or k.endswith("__random_state")]
    if keys:
        est.set_params(**dict.fromkeys(keys, int(seed)))


# -- scores and batches -----------------------------------------------------------------------
def query_scores(probability: np.ndarray, strategy: str = "uncertainty") -> np.ndarray:
    """How much each spectrum is worth labelling under ``strategy`` (higher: ask first).

    Parameters
    ----------
    probability : numpy.ndarray of shape (n, n_classes)
        Class probabilities; rows of NaN (failed spectra) score ``-inf``.
    strategy : {"uncertainty", "margin", "entropy", "diverse"}
        ``diverse`` ranks by least confidence (its spread comes from :func:`select_batch`).

    Returns
    -------
    numpy.ndarray of float64, shape (n,)

    Examples
    --------
    >>> p = np.array([[0.9, 0.1, 0.0], [0.4, 0.35, 0.25], [np.nan] * 3])
    >>> query_scores(p, "uncertainty").round(2).tolist()
    [0.1, 0.6, -inf]
    >>> query_scores(p, "margin").round(2).tolist()
    [0.2, 0.95, -inf]
    >>> bool(query_scores(p, "entropy")[1] > query_scores(p, "entropy")[0])
    True
    """
    p = np.asarray(probability, dtype=np.float64)
    bad = np.isnan(p).any(axis=1) if p.shape[1] else np.ones(p.shape[0], bool)
    p = np.where(np.isnan(p), 0.0, p)
    if strategy in ("uncertainty", "diverse"):
        score = 1.0 - p.max(axis=1, initial=0.0)
    elif strategy == "margin":
        top2 = -np.sort(-p, axis=1)[:, :2] if p.shape[1] > 1 else np.c_[p, np.zeros(len(p))]
        score = 1.0 - (top2[:, 0] - top2[:, 1])
    elif strategy == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            score = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    else:
        raise ValueError(
            f"no probability score for query {strategy!r} (uncertainty, margin, entropy or diverse)"
        )
    score[bad] = -np.inf
    return score


def _check_strategy(strategy: str) -> None:
    if strategy not in QUERY_STRATEGIES:
        raise ValueError(f"unknown query {strategy!r} (known: {', '.join(QUERY_STRATEGIES)})")


def select_batch(
    scores: np.ndarray,
    batch_size: int,
    *,
    candidates: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """The rows to ask next, best first.

    Parameters
    ----------
    scores : numpy.ndarray of shape (n,)
        Higher is asked first; ``-inf`` or NaN rows are never asked.
    batch_size : int
        Rows to pick (fewer when fewer candidates remain).
    candidates : bool numpy.ndarray of shape (n,), optional
        Rows that may be asked (not labelled, not asked before).
    groups : int numpy.ndarray of shape (n,), optional
        A group per row (SOM neuron, cluster; negative: none). The batch then takes the best row
        of each group, groups in the order of their best row, before a second row of any group.

    Returns
    -------
    numpy.ndarray of int64
        Row indices in the order to ask.

    Examples
    --------
    >>> s = np.array([0.9, 0.8, 0.7, 0.1, 0.5])
    >>> select_batch(s, 3).tolist()
    [0, 1, 2]
    >>> select_batch(s, 3, groups=np.array([0, 0, 0, 1, 2])).tolist()
    [0, 4, 3]
    >>> select_batch(s, 9, candidates=np.array([False, True, True, False, False])).tolist()
    [1, 2]
    """
    s = np.asarray(scores, dtype=np.float64)
    ok = np.isfinite(s)
    if candidates is not None:
        ok &= np.asarray(candidates, dtype=bool)
    rows = np.flatnonzero(ok)
    k = min(int(batch_size), rows.size)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if groups is None:
        if k < rows.size:
            rows = rows[np.argpartition(-s[rows], k - 1)[:k]]
        return rows[np.argsort(-s[rows], kind="stable")].astype(np.int64)
    # one pass per "round": the best row of every group, then the second best, ...
    order = rows[np.argsort(-s[rows], kind="stable")]
    g = np.asarray(groups)[order]
    ungrouped = g < 0
    g = np.where(ungrouped, -1 - np.arange(order.size), g)  # each a group of its own
    # rank of each row within its group (0: the group's best): rows sorted by group, stably
    by_group = np.argsort(g, kind="stable")
    sorted_g = g[by_group]
    starts = np.r_[0, np.flatnonzero(sorted_g[1:] != sorted_g[:-1]) + 1]
    sizes = np.diff(np.r_[starts, order.size])
    rank_in_group = np.empty(order.size, dtype=np.int64)
    rank_in_group[by_group] = np.arange(order.size) - np.repeat(starts, sizes)
    picked = np.lexsort((np.arange(order.size), rank_in_group))[:k]
    return order[picked].astype(np.int64)


# -- scoring a pool ---------------------------------------------------------------------------
def _proba_blocks(model: Any, X: Any, rows: int) -> np.ndarray:
    """Class probabilities of every row of ``X`` (numpy or dask), NaN rows as NaN, float32.

    A dask array is scored one task per ``rows`` rows (whole store chunks merged) with the model
    as one graph key, through the random forest's chunked prediction
    (:mod:`vocloud.ml.forest`); it is computed on the current Dask client, if any.
    """

    if isinstance(X, da.Array):
        safe = _NanSafeModel(model, n_jobs=1)  # one thread per task, parallel over tasks
        (out,) = dask.compute(_blockwise(safe, X, "predict_proba", rows).astype(np.float32))
        return np.asarray(out)
    safe = _NanSafeModel(model, n_jobs=getattr(model, "n_jobs", None))
    X = np.asarray(X)
    step = max(1, int(rows))
    parts = [safe.predict_proba(X[i : i + step]) for i in range(0, X.shape[0], step)]
    if not parts:
        return np.empty((0, len(model.classes_)), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32)


def _take_rows(X: Any, rows: np.ndarray) -> np.ndarray:
    """Rows of a numpy or dask array as float32 numpy (sorted reads, original order)."""
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows)
    back = np.empty_like(order)
    back[order] = np.arange(order.size)
    part = X[rows[order]]
    if isinstance(part, da.Array):
        part = part.compute()
    return np.asarray(part, dtype=np.float32)[back]


@dataclass(frozen=True)
class Iteration:
    """One iteration of the loop: the model, its predictions for the pool and the next batch.

    Attributes
    ----------
    model : sklearn estimator
        Fitted on the labelled rows.
    classes : numpy.ndarray of str
        Class names, the columns of ``probability``.
    probability : numpy.ndarray of float32, shape (n, n_classes)
        NaN for rows that cannot be scored (failed spectra).
    predicted : numpy.ndarray of int64, shape (n,)
        Index into ``classes`` of the most probable class; -1 for unscored rows.
    score : numpy.ndarray of float64, shape (n,)
        The query score (higher: asked first); ``-inf`` where never asked.
    batch : numpy.ndarray of int64
        The rows to label next, in the order to ask.
    rank : numpy.ndarray of int32, shape (n,)
        1, 2, ... for the rows of ``batch``, 0 for the others.
    n_labels : int
        Labelled rows trained on.
    labelled : numpy.ndarray of float32, shape (len(rows), n_features)
        The features the model was fitted on (the labelled rows, as given).
    class_means : numpy.ndarray of float32, shape (n_classes, n_features)
        Mean features of the labelled rows of each class (what a class looks like, to show
        beside a spectrum being labelled).
    seconds : dict
        Wall time of the parts: ``fit`` (labelled rows read + model fitted), ``score`` (every
        row scored), ``select`` (the batch picked).
    """

    model: Any
    classes: np.ndarray
    probability: np.ndarray
    predicted: np.ndarray
    score: np.ndarray
    batch: np.ndarray
    rank: np.ndarray
    n_labels: int
    labelled: np.ndarray
    class_means: np.ndarray
    seconds: dict[str, float]

    def predicted_names(self) -> np.ndarray:
        """Predicted class names, ``""`` for unscored rows."""
        names = self.classes[np.maximum(self.predicted, 0)].astype(str)
        return np.where(self.predicted >= 0, names, "")


class ActiveLearner:
    """Fit on the labelled spectra, score the pool, pick the next batch.

    Parameters
    ----------
    model : str or estimator
        See :func:`make_classifier`.
    query : str
        One of :data:`QUERY_STRATEGIES`.
    batch_size : int
        Spectra asked per iteration (64 in Škoda et al. 2020).
    random_state : int or None
        Seed of the model, of ``random`` and of the ``diverse`` clustering. An iteration's seed
        is ``random_state + iteration`` so that batches of a loop differ but reruns agree.
    model_params : dict, optional
        Parameters of the model.
    chunk_size : int
        Rows per prediction task of a dask pool (whole store chunks are merged up to it).

    Examples
    --------
    >>> ActiveLearner(query="farthest")
    Traceback (most recent call last):
    ...
    ValueError: unknown query 'farthest' (known: uncertainty, margin, entropy, diverse, outlier, random)
    """

    def __init__(
        self,
        model: Any = "random-forest",
        query: str = "uncertainty",
        batch_size: int = 64,
        random_state: int | None = 0,
        model_params: dict[str, Any] | None = None,
        chunk_size: int = 20_000,
    ) -> None:
        _check_strategy(query)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.query = query
        self.batch_size = int(batch_size)
        self.random_state = random_state
        self.model_params = dict(model_params or {})
        self.chunk_size = int(chunk_size)
        make_classifier(model, **self.model_params)  # fail early on a bad model

    def fit(self, X: Any, y: Any, *, iteration: int = 0) -> Any:
        """A new model fitted on labelled rows ``X`` (numpy; NaN rows dropped) and labels ``y``.

        Raises
        ------
        ValueError
            Fewer than two classes among the labels (after dropping :data:`UNSURE`).
        """
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y).astype(str)
        keep = (y != UNSURE) & ~np.isnan(X).any(axis=1)
        X, y = X[keep], y[keep]
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError(
                f"active learning needs labels of at least 2 classes, got {classes.tolist()} "
                f"({y.size} usable labels)"
            )
        model = make_classifier(self.model, random_state=self._seed(iteration), **self.model_params)
        with warnings.catch_warnings():
            # an MLP on a few dozen labels may stop before converging: still a usable model
            warnings.filterwarnings("ignore", message=".*(converge|Maximum iterations).*")
            model.fit(X, y)
        return model

    def _seed(self, iteration: int) -> int | None:
        return None if self.random_state is None else int(self.random_state) + int(iteration)

    def iterate(
        self,
        X: Any,
        rows: Any,
        y: Any,
        *,
        exclude: Any = None,
        groups: Any = None,
        outlier_score: Any = None,
        iteration: int = 0,
        take: Any = None,
    ) -> Iteration:
        """One iteration: fit on ``X[rows]`` with labels ``y``, score all of ``X``, pick a batch.

        Parameters
        ----------
        X : numpy array or dask array of shape (n, n_features)
            The pool (every stored spectrum; NaN rows are failed spectra, never asked).
        rows : int array-like
            Labelled rows of ``X`` (rows labelled :data:`UNSURE` are not trained on).
        y : array-like
            Their labels.
        exclude : bool or int array-like, optional
            Rows never to ask besides the labelled ones (e.g. asked before without an answer).
        groups : int array-like of shape (n,), optional
            Group of each row for ``diverse`` (SOM neuron); without it, k-means clusters of the
            most uncertain candidates.
        outlier_score : array-like of shape (n,), optional
            Needed by ``outlier`` (SOM outlier score, higher: stranger).
        iteration : int
            Offsets the seed (see ``random_state``).
        take : callable, optional
            ``rows -> X[rows]`` as float32 numpy, for the labelled rows and the ``diverse``
            candidates: a Zarr store read directly reads only the chunks holding them, where a
            gather from a dask array reads every task's rows whole.

        Returns
        -------
        Iteration
        """
        rows = np.asarray(rows, dtype=np.int64)
        n = int(X.shape[0])
        t0 = time.perf_counter()
        self._take = take or partial(_take_rows, X)
        Xl = np.asarray(self._take(rows), dtype=np.float32)
        model = self.fit(Xl, y, iteration=iteration)
        classes = np.asarray(model.classes_).astype(str)
        ys = np.asarray(y).astype(str)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns of failed rows
            means = np.stack([np.nanmean(Xl[ys == c], axis=0) for c in classes])
        t1 = time.perf_counter()
        proba = _proba_blocks(model, X, self.chunk_size)
        t2 = time.perf_counter()
        scored = ~np.isnan(proba).any(axis=1)
        predicted = np.where(scored, np.argmax(np.nan_to_num(proba, nan=-1.0), axis=1), -1)
        candidates = scored.copy()
        candidates[rows] = False
        if exclude is not None:
            ex = np.asarray(exclude)
            if ex.dtype == bool:
                candidates &= ~ex
            else:
                candidates[ex.astype(np.int64)] = False
        score, grp = self._scores(X, proba, candidates, groups, outlier_score, iteration)
        batch = select_batch(score, self.batch_size, candidates=candidates, groups=grp)
        rank = np.zeros(n, dtype=np.int32)
        rank[batch] = np.arange(1, batch.size + 1, dtype=np.int32)
        return Iteration(
            model=model,
            classes=classes,
            probability=proba,
            predicted=predicted.astype(np.int64),
            score=score,
            batch=batch,
            rank=rank,
            n_labels=int(np.sum(ys != UNSURE)),
            labelled=Xl,
            class_means=means.astype(np.float32),
            seconds={"fit": t1 - t0, "score": t2 - t1, "select": time.perf_counter() - t2},
        )

    def _scores(
        self,
        X: Any,
        proba: np.ndarray,
        candidates: np.ndarray,
        groups: Any,
        outlier_score: Any,
        iteration: int,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        scored = ~np.isnan(proba).any(axis=1)
        if self.query == "random":
            rng = np.random.default_rng(self._seed(iteration))
            return np.where(scored, rng.random(proba.shape[0]), -np.inf), None
        if self.query == "outlier":
            if outlier_score is None:
                raise ValueError(
                    "query 'outlier' needs the SOM outlier score: run a som step first"
                )
            out = np.asarray(outlier_score, dtype=np.float64)
            return np.where(scored & np.isfinite(out), out, -np.inf), None
        score = query_scores(proba, self.query)
        if self.query != "diverse":
            return score, None
        if groups is not None:
            return score, np.asarray(groups, dtype=np.int64)
        return score, self._clusters(X, score, candidates, iteration)

    def _clusters(
        self, X: Any, score: np.ndarray, candidates: np.ndarray, iteration: int
    ) -> np.ndarray:
        """k-means groups (``batch_size`` of them) among the most uncertain candidates."""

        pool = select_batch(score, DIVERSE_POOL * self.batch_size, candidates=candidates)
        groups = np.full(score.shape[0], -1, dtype=np.int64)
        k = min(self.batch_size, pool.size)
        if k < 2:
            return groups
        feats = self._take(pool)
        km = KMeans(n_clusters=k, n_init=1, random_state=self._seed(iteration)).fit(feats)
        groups[pool] = km.labels_
        # only the pool is grouped: every other row stays a candidate of its own (group -1
        # rows rank after every cluster's best, by score, in select_batch)
        rest = np.ones(score.shape[0], dtype=bool)
        rest[pool] = False
        return np.where(rest, -1, groups)

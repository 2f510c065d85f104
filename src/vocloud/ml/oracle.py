"""Oracle runs: the active-learning loop with known labels answering each batch, as a curve.

:func:`run_oracle` plays the astronomer: it starts from ``start`` labels drawn at random among
the spectra the oracle names, then for each iteration asks the batch the query strategy picks
and answers it from the oracle. A spectrum the oracle does not name is never asked twice and
never counted. After each fit the model is measured on the oracle's spectra not yet labelled:
accuracy, macro F1 (every oracle class counts, also one the model has not seen yet) and the
recall of each class. :func:`plot_curve` draws the curve as a PNG (matplotlib, the ``plot``
extra).

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(400, 3)).astype("f4")
>>> ids = np.array([f"s{i}" for i in range(400)])
>>> oracle = pd.Series(np.where(X[:, 0] > 0.3, "a", "b"), index=ids)
>>> curve = run_oracle(X, ids, oracle, start=10, batch=10, iterations=3, seed=0,
...                    model_params={"n_estimators": 20, "n_jobs": 1})
>>> curve[["iteration", "n_labels"]].values.tolist()
[[0, 10], [1, 20], [2, 30], [3, 40]]
>>> bool(curve["accuracy"].iloc[-1] > 0.8)
True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, recall_score

from vocloud.ml.active import ActiveLearner

_ACC = "accuracy on the spectra not yet labelled"
_F1 = "macro F1 on the spectra not yet labelled"

__all__ = ["CURVE_COLUMNS", "initial_rows", "plot_curve", "run_oracle"]

CURVE_COLUMNS = ("iteration", "n_labels", "accuracy", "f1_macro")
"""The columns of a learning curve file (``vocloud learn --output``)."""


def initial_rows(named: np.ndarray, truth: np.ndarray, start: int, seed: int | None) -> np.ndarray:
    """``start`` rows drawn at random among ``named``, more if needed to hold two classes.

    >>> initial_rows(np.arange(6), np.array(list("aaaaab")), 2, seed=0).size >= 2
    True
    """
    order = np.random.default_rng(seed).permutation(named)
    take = min(int(start), order.size)
    while take < order.size and np.unique(truth[order[:take]]).size < 2:
        take += 1
    return np.sort(order[:take])


def run_oracle(
    X: Any,
    ids: Any,
    oracle: pd.Series,
    *,
    start: int = 20,
    batch: int = 64,
    iterations: int = 10,
    query: str = "uncertainty",
    seed: int | None = 0,
    model: Any = "random-forest",
    model_params: dict[str, Any] | None = None,
    groups: Any = None,
    outlier_score: Any = None,
    chunk_size: int = 20_000,
    holdout: Any = None,
) -> pd.DataFrame:
    """Run the loop with the oracle answering, and measure each iteration.

    Parameters
    ----------
    X : numpy or dask array of shape (n, n_features)
        Every spectrum of the pool (NaN rows: failed spectra).
    ids : array-like of shape (n,)
        Their ids.
    oracle : pandas.Series
        Known labels, index: id (e.g. :func:`vocloud.ml.labels.load_labels` of a truth file).
    start, batch, iterations : int
        Initial labels, spectra asked per iteration, iterations.
    query, model, model_params, groups, outlier_score, chunk_size
        As for :class:`vocloud.ml.active.ActiveLearner` and its ``iterate``.
    seed : int or None
        Seed of the initial draw, the model and the random query.
    holdout : array-like of ids, optional
        Spectra of the oracle kept out of the loop (never asked, never trained on) to measure
        every iteration on the same test set: columns ``holdout_accuracy``,
        ``holdout_f1_macro`` and ``holdout_recall:<class>``. The pool's spectra not yet labelled
        are the easier the more uncertain ones have been asked: a fixed test set compares
        strategies and the model trained on all labels fairly.

    Returns
    -------
    pandas.DataFrame
        One row per fit (``iteration`` 0 is the fit on the initial labels): the
        :data:`CURVE_COLUMNS`, then ``n_asked`` (spectra asked so far, named or not) and
        ``recall:<class>`` for each oracle class.

    Raises
    ------
    ValueError
        The oracle names no stored spectrum that could be used, or fewer than two classes.
    """
    ids = np.asarray(ids).astype(str)
    n = ids.size
    index = pd.Index(oracle.index.astype(str))
    pos = index.get_indexer(ids)
    named = np.flatnonzero(pos >= 0)
    if named.size == 0:
        raise ValueError(
            f"the oracle names none of the {n} stored spectra "
            f"(oracle ids e.g. {list(index[:3])}, store ids e.g. {list(ids[:3])})"
        )
    truth = np.full(n, "", dtype=object)
    truth[named] = oracle.to_numpy(dtype=object)[pos[named]].astype(str)
    classes = np.unique(truth[named].astype(str))
    if classes.size < 2:
        raise ValueError(f"the oracle has fewer than 2 classes: {classes.tolist()}")
    learner = ActiveLearner(
        model=model,
        query=query,
        batch_size=batch,
        random_state=seed,
        model_params=model_params,
        chunk_size=chunk_size,
    )
    test = np.zeros(n, dtype=bool)
    if holdout is not None:
        test = np.isin(ids, np.asarray(holdout).astype(str)) & (pos >= 0)
    is_named = (pos >= 0) & ~test
    labelled = initial_rows(np.flatnonzero(is_named), truth, start, seed)
    asked = test.copy()
    asked[labelled] = True
    rows_out = []
    for i in range(int(iterations) + 1):
        it = learner.iterate(
            X,
            labelled,
            truth[labelled].astype(str),
            exclude=asked,
            groups=groups,
            outlier_score=outlier_score,
            iteration=i,
        )
        row = _measure(it, truth, is_named & ~asked, classes)
        row = {"iteration": i, "n_labels": int(labelled.size), **row}
        row["n_asked"] = int((asked & ~test).sum())
        if test.any():
            row.update({f"holdout_{k}": v for k, v in _measure(it, truth, test, classes).items()})
        rows_out.append(row)
        if i == int(iterations):
            break
        asked[it.batch] = True
        answered = it.batch[is_named[it.batch]]
        labelled = np.union1d(labelled, answered)
    return pd.DataFrame(rows_out)


def _measure(it: Any, truth: np.ndarray, rest: np.ndarray, classes: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro F1 and recall per class of the predictions of rows ``rest``."""
    y = truth[rest].astype(str)
    pred = it.predicted_names()[rest]
    row: dict[str, Any] = {}
    if y.size == 0:
        row.update({"accuracy": np.nan, "f1_macro": np.nan})
    else:
        row["accuracy"] = float(accuracy_score(y, pred))
        row["f1_macro"] = float(
            f1_score(y, pred, labels=classes, average="macro", zero_division=0.0)
        )
    if y.size:
        rec = recall_score(y, pred, labels=classes, average=None, zero_division=0.0)
    else:
        rec = np.full(classes.size, np.nan)
    row.update({f"recall:{c}": float(r) for c, r in zip(classes, rec)})
    return row


def plot_curve(
    curves: pd.DataFrame | dict[str, pd.DataFrame],
    path: str | os.PathLike[str],
    *,
    reference: float | None = None,
    title: str | None = None,
    columns: tuple[tuple[str, str], ...] = (("accuracy", _ACC), ("f1_macro", _F1)),
) -> Path:
    """Draw learning curves (accuracy and macro F1 against labels) into a PNG file.

    Parameters
    ----------
    curves : DataFrame or {name: DataFrame}
        Curves of :func:`run_oracle` (several: one line each, e.g. one per query strategy).
    path : path
        The PNG file to write.
    reference : float, optional
        A horizontal line, e.g. the accuracy of training on all labels.
    title : str, optional
    columns : pairs of (column, axis label)
        The two panels (default accuracy and macro F1 on the spectra not yet labelled).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install vocloud[plot]``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # optional extra
        raise ImportError(
            "drawing the learning curve needs matplotlib: pip install 'vocloud[plot]'"
        ) from exc
    if isinstance(curves, pd.DataFrame):
        curves = {"": curves}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    columns = tuple(columns) or (("accuracy", _ACC), ("f1_macro", _F1))
    for name, c in curves.items():
        for ax, (col, _) in zip(axes, columns):
            ax.plot(c["n_labels"], c[col], marker="o", ms=3, label=name or None)
    for i, (ax, (_, text)) in enumerate(zip(axes, columns)):
        if reference is not None and i == 0:
            ax.axhline(reference, color="grey", ls="--", lw=1, label="all labels")
        ax.set_xlabel("labelled spectra")
        ax.set_ylabel(text)
        ax.grid(alpha=0.3)
    if len(curves) > 1 or reference is not None:
        axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out

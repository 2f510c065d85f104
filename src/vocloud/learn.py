"""``vocloud learn``: an oracle run of the active-learning loop on an experiment's feature store.

The pool is every stored spectrum of the experiment; ``diverse`` groups by the neurons and
``outlier`` ranks by the outlier score of the experiment's latest SOM step (``diverse`` without
one clusters the most uncertain candidates with k-means).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocloud.ml.labels import load_labels
from vocloud.ml.oracle import CURVE_COLUMNS, plot_curve, run_oracle
from vocloud.run.experiment import Experiment
from vocloud.steps.runner import STEPS_FOLDER, open_step, recorded_steps
from vocloud.store import open_store, resolve_store

__all__ = ["OracleRun", "learn"]

#: A pool up to this size is read into memory once for all iterations; a larger one is scored
#: from the store, chunk by chunk, at every iteration.
IN_MEMORY_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class OracleRun:
    """The parameters of an oracle run (parsed once from the command line or a call)."""

    oracle: Path
    label_column: str
    id_column: str = "id"
    start: int = 20
    batch: int = 64
    iterations: int = 10
    query: str = "uncertainty"
    seed: int | None = 0
    model: str = "random-forest"


def _experiment(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(experiment folder, feature store) of an experiment file, folder or store."""

    p = Path(path)
    if p.is_file() and p.suffix.lower() in (".yaml", ".yml", ".json"):
        exp = Experiment.from_file(p)
        if not exp.is_cached():
            raise FileNotFoundError(f"{p}: run the experiment first (vocloud run {p})")
        return exp.directory, exp.store_path
    store = resolve_store(p)
    return (p if store != p else p.parent), store


def learn(
    experiment: str | os.PathLike[str], run: OracleRun, output: str | os.PathLike[str] | None
) -> pd.DataFrame:
    """Run the loop on ``experiment`` with ``run.oracle`` answering; write the curve CSV + PNG.

    Parameters
    ----------
    experiment : path
        An experiment file (already run), an experiment folder or a feature store.
    run : OracleRun
    output : path or None
        The curve CSV (columns :data:`vocloud.ml.oracle.CURVE_COLUMNS`); the PNG is written
        beside it with the suffix ``.png``. None: nothing written.

    Returns
    -------
    pandas.DataFrame
        The full curve (:func:`vocloud.ml.oracle.run_oracle`).
    """

    exp_dir, store = _experiment(experiment)
    try:
        oracle = load_labels(run.oracle, id_column=run.id_column, label_column=run.label_column)
    except KeyError as exc:  # a missing column: a bad argument, said as such
        raise ValueError(f"oracle {exc.args[0]}") from None
    ds = open_store(store)
    X: Any = ds["features"].data
    if X.nbytes <= IN_MEMORY_BYTES:
        X = np.asarray(X.compute())
    groups = outlier = None
    if run.query in ("diverse", "outlier"):
        for rec in reversed(recorded_steps(exp_dir, store)):
            if rec["method"] == "som":
                som = open_step(exp_dir / STEPS_FOLDER / rec["store"])
                groups, outlier = som["som_neuron"].values, som["outlier_score"].values
                break
        if run.query == "outlier" and outlier is None:
            raise ValueError(f"{exp_dir}: query 'outlier' needs a som step run before")
    curve = run_oracle(
        X,
        ds["id"].values,
        oracle,
        start=run.start,
        batch=run.batch,
        iterations=run.iterations,
        query=run.query,
        seed=run.seed,
        model=run.model,
        groups=groups,
        outlier_score=outlier,
    )
    if output is not None:
        out = Path(output)
        out.parent.mkdir(parents=True, exist_ok=True)
        curve[list(CURVE_COLUMNS)].to_csv(out, index=False, float_format="%.6g")
        plot_curve(
            curve,
            out.with_suffix(".png"),
            title=f"{run.query}, batch {run.batch}, model {run.model}",
        )
    return curve

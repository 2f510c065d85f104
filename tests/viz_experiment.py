"""A small experiment with SOM and random-forest steps, for the dashboard tests (unit and browser)."""

from __future__ import annotations

from pathlib import Path

from vocloud import Experiment
from vocloud.datasets import make_archive

LOCAL = {"n_workers": 1, "processes": False, "dashboard_address": None}


def make_som_experiment(root: Path, *, n: int = 600, shape=(6, 7), topology="hexagonal") -> Path:
    """An experiment folder under ``root`` with pca, som and random-forest steps run."""
    return som_experiment(root, n=n, shape=shape, topology=topology).directory


def som_experiment(
    root: Path, *, n: int = 600, shape=(6, 7), topology="hexagonal", forest: bool = True
) -> Experiment:
    """The experiment of :func:`make_som_experiment`, run (without the forest: no classes)."""
    make_archive(root / "spectra", n, layouts="iraf-linear", seed=21, n_jobs=1, label_fraction=0.3)
    exp = Experiment(
        {"directory": str(root / "spectra"), "pattern": "**/*.fits"},
        name="viz",
        store=root / "experiments",
        block_size=200,
        steps=[
            {"method": "pca", "params": {"n_components": 4}},
            {"method": "som", "params": {"shape": list(shape), "topology": topology, "epochs": 5}},
        ]
        + (
            [
                {
                    "method": "random-forest",
                    "params": {"labels": str(root / "spectra" / "labels.csv"), "n_estimators": 30},
                }
            ]
            if forest
            else []
        ),
    )
    exp.run(cluster_kwargs=LOCAL, progress=False, verbose=False)
    return exp

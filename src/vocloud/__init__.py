r"""vocloud: data mining of big astronomical spectra archives with Virtual Observatory standards, on Dask.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> import vocloud
>>> from vocloud.datasets import make_archive
>>> tmp = Path(tempfile.mkdtemp())
>>> _ = make_archive(tmp / "archive", 40, layouts="iraf-linear", n_jobs=1)
>>> _ = (tmp / "halpha.yaml").write_text(
...     "name: halpha\nstore: ./experiments\nrun: {block_size: 20}\n"
...     "source: {directory: ./archive, pattern: '**/*.fits'}\n")
>>> exp = vocloud.Experiment.from_file(tmp / "halpha.yaml")
>>> ds = exp.run(cluster_kwargs={"n_workers": 1, "processes": False,
...              "dashboard_address": None}, progress=False, verbose=False)
>>> ds = vocloud.open_experiment(exp.directory)
>>> int(ds.sizes["spectrum"]), vocloud.summarize(exp.directory)["n_ok"]
(40, 40)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vocloud._version import __version__

if TYPE_CHECKING:
    from vocloud.run.experiment import Experiment, open_experiment, summarize

__all__ = ["Experiment", "__version__", "open_experiment", "summarize"]


def __getattr__(name: str) -> Any:
    # Import the heavy parts (dask, distributed, xarray) only when they are used.
    if name in {"Experiment", "open_experiment", "summarize"}:
        from vocloud.run import experiment

        return getattr(experiment, name)
    raise AttributeError(f"module 'vocloud' has no attribute {name!r}")

"""vocloud: data mining of big astronomical spectra archives with Virtual Observatory standards, on Dask.

Examples
--------
>>> import vocloud
>>> exp = vocloud.Experiment.from_file("halpha.yaml")  # doctest: +SKIP
>>> ds = exp.run()                                      # doctest: +SKIP
>>> ds = vocloud.open_experiment("experiments/halpha")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vocloud._version import __version__

if TYPE_CHECKING:
    from vocloud.experiment import Experiment, open_experiment, summarize

__all__ = ["Experiment", "__version__", "open_experiment", "summarize"]


def __getattr__(name: str) -> Any:
    # Import the heavy parts (dask, distributed, xarray) only when they are used.
    if name in {"Experiment", "open_experiment", "summarize"}:
        from vocloud import experiment

        return getattr(experiment, name)
    raise AttributeError(f"module 'vocloud' has no attribute {name!r}")

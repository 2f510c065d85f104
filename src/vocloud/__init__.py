"""vocloud: data mining of big astronomical spectra archives with Virtual Observatory standards, on Dask.

Examples
--------
>>> import vocloud
>>> exp = vocloud.Experiment.from_file("halpha.yaml")  # doctest: +SKIP
>>> ds = exp.run()                                      # doctest: +SKIP
>>> ds = vocloud.open_experiment("experiments/halpha")  # doctest: +SKIP
"""

from vocloud._version import __version__
from vocloud.experiment import Experiment, open_experiment, summarize

__all__ = ["Experiment", "__version__", "open_experiment", "summarize"]

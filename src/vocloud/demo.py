"""``make demo``: a synthetic archive of ~5,000 spectra in mixed layouts, run through the default
H-alpha experiment on a LocalCluster; a second run reuses the cache."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from distributed import Client

from vocloud.datasets import make_archive, make_broken_files
from vocloud.run.experiment import Experiment, summarize
from vocloud.steps.registry import brief_metrics

#: The embedded default experiment, written beside the archive as ``halpha.yaml``.
DEMO_EXPERIMENT = """\
# The vocloud demo experiment: Be-star H-alpha profiles from a synthetic archive.
name: halpha
store: ./experiments
source:
  directory: ./archive
  pattern: ["*/**/*.fits", "*/**/*.fits.gz", "*/**/*.xml", "*/**/*.csv"]
preprocess:
  continuum: {method: chebyshev, degree: 5, sigma: [3.0, 3.0], iterations: 5}
  cutout: {center: 6562.8, half_width: 150, unit: Angstrom}
  grid: {start: 6420, stop: 6710, step: 0.25, unit: Angstrom}
  resample: flux-conserving
  scale: minmax-1-1
steps:
  - {method: pca, params: {n_components: 20}}
  - {method: som, params: {shape: [20, 20], topology: hexagonal, epochs: 20}}
  - {method: random-forest, params: {labels: archive/labels.csv, n_estimators: 300}}
"""


def run_demo(
    folder: str | os.PathLike[str] = "demo",
    *,
    n_spectra: int = 5000,
    seed: int = 2026,
    scheduler: str | Client | None = None,
) -> dict:
    """Generate (once) the demo archive and run the demo experiment on it.

    Parameters
    ----------
    folder : str or Path
        Working folder: ``archive/``, ``halpha.yaml`` and ``experiments/`` are made in it.
    n_spectra : int
        Size of the synthetic archive (plus a handful of deliberately broken files).
    seed : int
        Seed of the archive.
    scheduler : str or Client, optional
        An existing cluster; default a LocalCluster.

    Returns
    -------
    dict
        The summary of the experiment (as ``vocloud info --json`` prints it).

    Examples
    --------
    A small archive on an in-process cluster (what it prints is kept aside here):

    >>> import contextlib, io, tempfile
    >>> from dask.distributed import Client
    >>> client = Client(processes=False, n_workers=1, dashboard_address=None)
    >>> with contextlib.redirect_stdout(io.StringIO()) as printed:
    ...     summary = run_demo(tempfile.mkdtemp(), n_spectra=40, scheduler=client)
    >>> client.close()
    >>> summary["n_spectra"], summary["n_ok"], summary["n_failed"]  # the broken files, recorded
    (52, 41, 11)
    >>> [step["method"] for step in summary["steps"]]
    ['pca', 'som', 'random-forest']
    >>> "vocloud demo: som on features" in printed.getvalue()
    True
    """

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    info = make_archive(
        folder / "archive", n_spectra, layouts="mixed", seed=seed, gzip_fraction=0.1
    )
    broken = folder / "archive" / "broken"
    if not broken.exists():
        make_broken_files(broken)
    print(
        f"vocloud demo: archive of {info.n_spectra} spectra (+ broken examples) in "
        f"{folder / 'archive'} ({time.perf_counter() - t0:.1f} s)"
    )
    exp_file = folder / "halpha.yaml"
    exp_file.write_text(DEMO_EXPERIMENT)
    exp = Experiment.from_file(exp_file, scheduler=scheduler)
    exp.run()
    summary = summarize(exp.directory)
    print(
        json.dumps(
            {k: summary[k] for k in ("store", "n_spectra", "n_ok", "n_failed", "failures")},
            indent=2,
        )
    )
    for step in summary.get("steps", []):
        print(
            f"vocloud demo: {step['method']} on {step['input']}: {brief_metrics(step['metrics'])}"
        )
    print(
        f"vocloud demo: open it with vocloud.open_experiment({str(exp.directory)!r}) "
        f"or `vocloud info {exp.directory}`; see its SOM in the browser with "
        f"`vocloud dashboard {exp.directory}`"
    )
    return summary

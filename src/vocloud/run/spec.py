"""Building an experiment from an experiment file: which keyword each part of the file gives, and
the download options (raw cache folder, credentials shared with the source's listing)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from vocloud.fetch import FetchOptions
from vocloud.fetch.credentials import Credentials
from vocloud.run.batch import BatchSpec
from vocloud.sources import Source
from vocloud.sources.files import FTPSource, HTTPIndexSource


def experiment_arguments(
    spec: dict[str, Any], overrides: dict[str, Any]
) -> tuple[Any, Any, dict[str, Any]]:
    """``(source, preprocess, keywords)`` of :class:`vocloud.run.experiment.Experiment` for the
    mapping of an experiment file; ``overrides`` that are not None win.

    Examples
    --------
    >>> experiment_arguments({"source": {"directory": "s"}, "run": {"block_size": 50}}, {})[2]
    ... # doctest: +NORMALIZE_WHITESPACE
    {'name': 'experiment', 'store': './experiments', 'block_size': 50, 'scheduler': None,
     'batch': None, 'base_dir': None, 'max_file_size': None, 'steps': None, 'fetch': None}
    """
    run = dict(spec.get("run") or {})
    kwargs: dict[str, Any] = {
        "name": spec.get("name", "experiment"),
        "store": spec.get("store", "./experiments"),
        "block_size": run.get("block_size", 1000),
        "scheduler": run.get("scheduler"),
        "batch": run.get("batch"),
        "base_dir": spec.get("_base_dir"),
        "max_file_size": run.get("max_file_size"),
    }
    if run.get("n_workers"):
        kwargs["cluster_kwargs"] = {"n_workers": int(run["n_workers"])}
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    kwargs.setdefault("steps", spec.get("steps"))
    kwargs.setdefault("fetch", spec.get("fetch"))
    return spec["source"], spec.get("preprocess"), kwargs


def fetch_options_for(
    fetch: dict[str, Any] | FetchOptions | None,
    source: Source,
    *,
    store_folder: Path,
    base: Path,
    wire: bool = True,
) -> FetchOptions:
    """The download options of an experiment, checked once.

    The raw cache defaults to ``<store_folder>/.raw-cache`` (shared by the experiments of that
    folder); a relative ``cache_dir`` is relative to ``base``. Credentials are checked here (an
    error names the host key, never a password) and, when ``wire``, also serve the listing of
    an HTTP index or FTP ``source`` that has none of its own.
    """
    config = (
        {f.name: getattr(fetch, f.name) for f in fields(fetch)}
        if isinstance(fetch, FetchOptions)
        else dict(fetch or {})
    )
    if config.get("credentials") is not None:
        creds = config["credentials"] = Credentials.from_config(config["credentials"])
        if wire and isinstance(source, HTTPIndexSource | FTPSource) and source.credentials is None:
            source.credentials = creds
    cache = config.get("cache_dir")
    if cache is None:
        config["cache_dir"] = str(store_folder / ".raw-cache")
    elif not Path(cache).is_absolute():
        config["cache_dir"] = str(base / cache)
    return FetchOptions.from_dict(config)


def batch_spec_for(batch: Any, base: Path) -> BatchSpec | None:
    """The batch jobs of a run (:class:`vocloud.run.batch.BatchSpec`, from the ``run: {batch:
    ...}`` mapping or given), their relative ``log_directory`` made relative to ``base`` (the
    experiment file's folder); None: no batch jobs."""
    if batch is None:
        return None
    batch = batch if isinstance(batch, BatchSpec) else BatchSpec.from_config(batch)
    logs = batch.options.get("log_directory")
    if logs and not Path(logs).is_absolute():
        batch.options["log_directory"] = str(base / logs)
    return batch

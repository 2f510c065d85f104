"""Experiment files (YAML or JSON): loading and checking the top-level schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

#: Top-level keys of an experiment file; the schema grows with later features.
TOP_LEVEL_KEYS = {"name", "store", "source", "preprocess", "run", "steps", "fetch"}
RUN_KEYS = {"block_size", "scheduler", "n_workers", "batch", "max_file_size"}


class ExperimentFileError(ValueError):
    """An experiment file that cannot be used; the message names the file and the problem."""


def load_experiment_file(path: str | Path) -> dict[str, Any]:
    """Read an experiment file (``.yaml``, ``.yml`` or ``.json``) and check its keys.

    Returns
    -------
    dict
        The parsed mapping, with ``"_base_dir"`` set to the file's folder: relative paths in it
        are relative to that folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "e.yaml"
    >>> _ = f.write_text("name: t\\nsource: {directory: ./spectra}\\n")
    >>> load_experiment_file(f)["name"]
    't'
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExperimentFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".json":
            spec = json.loads(text)
        else:
            spec = yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ExperimentFileError(f"{path}: not valid YAML/JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise ExperimentFileError(f"{path}: expected a mapping at the top level")
    unknown = set(spec) - TOP_LEVEL_KEYS
    if unknown:
        raise ExperimentFileError(
            f"{path}: unknown keys {sorted(unknown)} (known: {sorted(TOP_LEVEL_KEYS)})"
        )
    if "source" not in spec:
        raise ExperimentFileError(f"{path}: 'source' is required")
    run = spec.get("run") or {}
    if not isinstance(run, dict) or set(run) - RUN_KEYS:
        raise ExperimentFileError(f"{path}: run: known keys are {sorted(RUN_KEYS)}")
    steps = spec.get("steps") or []
    if not isinstance(steps, list) or not all(isinstance(s, dict) and "method" in s for s in steps):
        raise ExperimentFileError(f"{path}: steps: a list of {{method: NAME, params: {{...}}}}")
    for s in steps:
        extra = set(s) - {"method", "params", "input"}
        if extra:
            raise ExperimentFileError(f"{path}: steps: unknown keys {sorted(extra)} in {s}")
    spec["_base_dir"] = str(path.resolve().parent)
    return spec

"""Experiment files: YAML and JSON, relative paths, schema errors."""

from __future__ import annotations

import json

import pytest

from vocloud.run.config import ExperimentFileError, load_experiment_file
from vocloud.run.experiment import Experiment

ISSUE_YAML = """\
name: halpha
store: ./experiments
source: {directory: ./spectra, pattern: "**/*.fits"}
preprocess:
  continuum: {method: chebyshev, degree: 5, sigma: [3.0, 3.0], iterations: 5}
  cutout: {center: 6562.8, half_width: 150, unit: Angstrom}
  grid: {start: 6420, stop: 6710, step: 0.25, unit: Angstrom}
  resample: flux-conserving
  scale: minmax-1-1
"""


def test_issue_yaml_as_written_and_json_the_same(tmp_path):
    (tmp_path / "spectra").mkdir()
    y = tmp_path / "halpha.yaml"
    y.write_text(ISSUE_YAML)
    import yaml

    j = tmp_path / "halpha.json"
    j.write_text(json.dumps(yaml.safe_load(ISSUE_YAML)))
    ey, ej = Experiment.from_file(y), Experiment.from_file(j)
    assert ey.directory == tmp_path / "experiments" / "halpha"
    assert ey.source.path == tmp_path / "spectra"
    assert ey.cache_key == ej.cache_key
    assert len(ey.params.grid()) == 1161


def test_changed_parameter_changes_key(tmp_path):
    (tmp_path / "spectra").mkdir()
    y = tmp_path / "e.yaml"
    y.write_text(ISSUE_YAML)
    k1 = Experiment.from_file(y).cache_key
    y.write_text(ISSUE_YAML.replace("degree: 5", "degree: 4"))
    assert Experiment.from_file(y).cache_key != k1
    y.write_text(ISSUE_YAML.replace("start: 6420", "start: 6420.0"))
    assert Experiment.from_file(y).cache_key == k1


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name: x\n", "'source' is required"),
        ("name: x\nsource: {directory: .}\nfoo: 1\n", "unknown keys"),
        ("[1, 2]\n", "mapping"),
        ("name: x\nsource: {directory: .}\nrun: {blocksize: 3}\n", "run: known keys"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_bad_files(tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ExperimentFileError, match=match):
        load_experiment_file(f)


def test_missing_file(tmp_path):
    with pytest.raises(ExperimentFileError, match="cannot read"):
        load_experiment_file(tmp_path / "none.yaml")


def test_building_computes_nothing(tmp_path):
    # the source folder does not even exist: building must not touch it
    exp = Experiment({"directory": str(tmp_path / "absent")}, name="x", store=tmp_path)
    assert exp._spectra is None
    with pytest.raises(FileNotFoundError):
        exp.spectra  # noqa: B018

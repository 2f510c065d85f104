"""The vocloud command: argument handling and clear errors (no cluster needed)."""

from __future__ import annotations

import pytest

from vocloud.cli import build_parser, main


def test_info_on_a_folder_without_experiment(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    assert "no vocloud experiment or feature store" in capsys.readouterr().err


def test_info_on_an_unfinished_store(tmp_path, capsys):
    (tmp_path / "features-abc.zarr.partial").mkdir()
    (tmp_path / "features-abc.zarr.partial" / "zarr.json").write_text("{}")
    assert main(["info", str(tmp_path)]) == 2
    assert "unfinished store" in capsys.readouterr().err


def test_run_with_a_bad_experiment_file(tmp_path, capsys):
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\nsorce: {directory: .}\n")
    assert main(["run", str(f)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "unknown keys ['sorce']" in err


def test_run_with_a_missing_source_folder(tmp_path, capsys):
    f = tmp_path / "e.yaml"
    f.write_text("name: x\nsource: {directory: ./nowhere}\n")
    assert main(["run", str(f)]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_parser_knows_the_commands():
    p = build_parser()
    args = p.parse_args(["run", "e.yaml", "--scheduler", "tcp://127.0.0.1:8786"])
    assert args.scheduler == "tcp://127.0.0.1:8786"
    assert p.parse_args(["info", "x", "--json"]).json is True
    with pytest.raises(SystemExit):
        p.parse_args(["frobnicate"])

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


def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    description = out.split("options:")[0]
    for command in ("run", "info", "methods", "export", "dashboard", "demo"):
        assert command in description, command
        assert f"\n    {command}" in out  # and in the list of commands


def test_dashboard_with_an_unknown_colouring_fails_at_once(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["dashboard", str(tmp_path), "--color-by", "foo"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'foo'" in err and "hits" in err and "umatrix" in err and "purity" in err


def test_cli_colourings_are_the_dashboards():
    from vocloud.cli import COLOR_KEYS
    from vocloud.viz import COLOR_BY

    assert COLOR_KEYS == tuple(COLOR_BY.values())


def _experiment_file(tmp_path, run: str) -> str:
    (tmp_path / "spectra").mkdir()
    f = tmp_path / "e.yaml"
    f.write_text(f"name: x\nsource: {{directory: ./spectra}}\nrun: {run}\n")
    return str(f)


def test_workers_with_a_scheduler_is_an_error(tmp_path, capsys):
    f = _experiment_file(tmp_path, "{block_size: 10}")
    # nothing listens on port 1: the error comes before any connection is tried
    assert main(["run", f, "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "--workers" in err and "tcp://127.0.0.1:1" in err


def test_workers_with_run_batch_is_an_error(tmp_path, capsys):
    pytest.importorskip("dask_jobqueue")  # in the test extra: under CI this never skips
    f = _experiment_file(tmp_path, "{batch: {slurm: {jobs: 1, cores: 1, memory: 1GB}}}")
    assert main(["run", f, "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "--workers" in err and "run.batch" in err and "e.yaml" in err

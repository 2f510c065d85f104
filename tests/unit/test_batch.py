"""Batch clusters (dask-jobqueue) without a batch scheduler: the spec, its checks, the job script.

Real SLURM jobs are in tests/hpc (``make test-hpc``).
"""

from __future__ import annotations

import pytest

from vocloud import Experiment
from vocloud.run.batch import BatchSpec, batch_cluster, expected_workers
from vocloud.run.config import load_experiment_file
from vocloud.run.workers import WORKER_MALLOC_ENV


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"slurm": {}, "pbs": {}}, "one batch scheduler"),
        ("slurm", "one batch scheduler"),
        ({"torque": {}}, "unknown batch scheduler 'torque'"),
        ({"slurm": {"jobs": -1}}, "jobs must be a whole number"),
        ({"slurm": {"jobs": 1.5}}, "jobs must be a whole number"),
        ({"slurm": {"adapt": [3, 1]}}, "adapt must be"),
        ({"slurm": {"wait": 0}}, "wait must be a number of seconds"),
        ({"slurm": {"wait": "soon"}}, "wait must be a number of seconds"),
        ({"slurm": {"adapt": 4}}, "adapt must be"),
        ({"slurm": "cores=4"}, "the settings are a mapping"),
        (
            {"slurm": {"walltme": "01:00:00"}},
            "unknown setting 'walltme' \\(did you mean 'walltime'",
        ),
        ({"pbs": {"partition": "x"}}, "run.batch.pbs: unknown setting 'partition'"),
    ],
)
def test_bad_batch_entries_are_named(entry, message) -> None:
    with pytest.raises(ValueError, match=message):
        BatchSpec.from_config(entry)


def test_spec_reads_every_setting_of_the_jobqueue_class() -> None:
    spec = BatchSpec.from_config(
        {
            "SLURM": {
                "jobs": 3,
                "wait": 120,
                "cores": 8,
                "memory": "32GB",
                "walltime": "02:00:00",
                "queue": "normal",
                "account": "proj",
                "job_extra_directives": ["--constraint=avx2"],
                "interface": "ib0",
                "log_directory": "logs",
            }
        }
    )
    assert (spec.kind, spec.jobs, spec.wait, spec.adapt) == ("slurm", 3, 120.0, None)
    assert spec.options["account"] == "proj"
    assert expected_workers(spec) == 3 * 8  # one single-threaded worker per core
    adaptive = BatchSpec.from_config({"pbs": {"adapt": {"minimum_jobs": 1, "maximum_jobs": 5}}})
    assert adaptive.adapt == (1, 5)


def test_defaults_one_worker_per_core_and_malloc_settings_but_user_wins() -> None:
    kw = BatchSpec("slurm", options={"cores": 4, "memory": "8GB"}).cluster_kwargs()
    assert kw["processes"] == 4
    for k, v in WORKER_MALLOC_ENV.items():
        assert f"export {k}={v}" in kw["job_script_prologue"]
    mine = BatchSpec(
        "slurm",
        options={
            "cores": 4,
            "processes": 2,
            "job_script_prologue": ["module load python", "export MALLOC_TRIM_THRESHOLD_=0"],
        },
    ).cluster_kwargs()
    assert mine["processes"] == 2
    prologue = mine["job_script_prologue"]
    assert prologue[:2] == ["module load python", "export MALLOC_TRIM_THRESHOLD_=0"]
    assert sum("MALLOC_TRIM_THRESHOLD_" in line for line in prologue) == 1


def test_slurm_job_script_without_submitting(tmp_path) -> None:
    cluster = batch_cluster(
        {
            "slurm": {
                "jobs": 0,  # nothing submitted: no SLURM needed
                "cores": 2,
                "memory": "3GB",
                "walltime": "00:20:00",
                "queue": "debug",
                "account": "vocloud",
                "job_extra_directives": ["--exclusive"],
                "interface": "lo",
                "scheduler_options": {"dashboard_address": "127.0.0.1:0"},
                "log_directory": str(tmp_path / "logs"),
            }
        }
    )
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in (
        "#SBATCH -p debug",
        "#SBATCH -A vocloud",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH -t 00:20:00",
        "#SBATCH --exclusive",
        "--nworkers 2",
        "--nthreads 1",
        f"export MALLOC_MMAP_THRESHOLD_={WORKER_MALLOC_ENV['MALLOC_MMAP_THRESHOLD_']}",
    ):
        assert line in script, (line, script)


def test_experiment_file_run_batch(tmp_path) -> None:
    f = tmp_path / "exp.yaml"
    f.write_text(
        "name: hpc\n"
        "source: {directory: ./spectra}\n"
        "run:\n"
        "  batch:\n"
        "    slurm: {jobs: 2, cores: 1, memory: 2GB, walltime: '00:10:00', log_directory: logs}\n"
    )
    exp = Experiment.from_dict(load_experiment_file(f))
    assert exp.batch == BatchSpec(
        "slurm",
        2,
        None,
        None,
        {
            "cores": 1,
            "memory": "2GB",
            "walltime": "00:10:00",
            "log_directory": str(tmp_path.resolve() / "logs"),  # relative to the file
        },
    )
    f.write_text("name: hpc\nsource: {directory: ./spectra}\nrun: {batch: {slurm: {cors: 1}}}\n")
    with pytest.raises(ValueError, match="unknown setting 'cors'"):
        Experiment.from_dict(load_experiment_file(f))

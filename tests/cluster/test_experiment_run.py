"""Whole experiments on a real LocalCluster: store, bad input, cache, new store, scheduler, CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from distributed.diagnostics.plugin import SchedulerPlugin
from killed_run import run_killed_midway

import vocloud
import vocloud.run.cluster
from vocloud.demo import DEMO_EXPERIMENT
from vocloud.run.experiment import Experiment, summarize

HALPHA = yaml.safe_load(DEMO_EXPERIMENT)["preprocess"]

# what each file of make_broken_files must be recorded as: None = read and preprocessed fine
EXPECTED_BROKEN = {
    "corrupt.fits": "FITS",
    "truncated.fits": "truncated FITS",
    "unknown-cube.fits": "unknown FITS layout",
    "unknown-table.fits": "unknown FITS layout",
    "empty.fits": "empty file",
    "all-nan.fits": "all flux values are NaN",
    "bad-unit.fits": "unknown wavelength unit 'furlongs per fortnight'",
    "mass-unit.fits": "wavelength unit 'kg' is not spectral",
    "dup.fits": None,
    "dup.fits.gz": "duplicate id (same id as broken/dup.fits)",
    "off-grid.fits": "does not cover the grid 6420-6710 A",
    "nm.fits": None,
}


def _write_yaml(folder, spectra_dir, **preprocess_changes):
    pre = json.loads(json.dumps(HALPHA))
    pre.update(preprocess_changes)
    spec = {
        "name": "halpha",
        "store": "./experiments",
        "source": {
            "directory": os.path.relpath(spectra_dir, folder),
            "pattern": ["**/*.fits", "**/*.fits.gz", "**/*.xml", "*/**/*.csv"],
        },
        "preprocess": pre,
        "run": {"block_size": 50},
    }
    f = folder / "halpha.yaml"
    f.write_text(yaml.safe_dump(spec))
    return f


def _cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "vocloud.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class _ChunkLog(SchedulerPlugin):
    """On a scheduler: the preprocessing chunk tasks (keys ``vocloud-chunk-...``) that finished
    there, and the worker that ran each."""

    name = "vocloud-test-chunk-log"

    def __init__(self) -> None:
        self.done: list[tuple[str, str]] = []

    async def start(self, scheduler) -> None:  # type: ignore[no-untyped-def]
        self.scheduler = scheduler

    def transition(self, key, start, finish, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if finish == "memory" and str(key).startswith("vocloud-chunk-"):
            ts = self.scheduler.tasks.get(key)
            who = ts.who_has and next(iter(ts.who_has)).address if ts is not None else ""
            self.done.append((str(key), who or ""))


@pytest.fixture
def chunk_log(client):
    """The chunk tasks the ``client`` fixture's scheduler ran from now on: ``chunk_log()``."""
    client.register_plugin(_ChunkLog())

    def read() -> list[tuple[str, str]]:
        return client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.plugins[_ChunkLog.name].done)
        )

    yield read
    client.run_on_scheduler(
        lambda dask_scheduler: dask_scheduler.remove_plugin(name=_ChunkLog.name)
    )


def test_run_records_every_bad_input_and_keeps_the_rest(mixed_archive, tmp_path, client):
    info, broken = mixed_archive
    exp = Experiment.from_file(_write_yaml(tmp_path, info.path))
    lazy = exp.features()
    assert lazy.features.shape == (info.n_spectra + len(broken), 1161)
    ds = exp.run(client, progress=False, verbose=False)
    assert exp.last_run["chunks_computed"] == exp.last_run["n_spectra"] // 50 + 1
    ids = ds.id.values.tolist()
    status = dict(zip(ids, ds.status.values.tolist()))
    errors = dict(zip(ids, ds.error.values.tolist()))
    # every synthetic spectrum of every layout is preprocessed
    truth = info.truth().set_index("id")["class"]
    for sid in info.index["id"]:
        if truth[sid] != "outlier":
            assert status[sid] == 1, (sid, errors[sid])
    ok = ds.status.values == 1
    feats = ds.features.values
    assert np.isfinite(feats[ok]).all()
    assert feats[ok].min() == pytest.approx(-1.0) and feats[ok].max() == pytest.approx(1.0)
    assert np.isnan(feats[~ok]).all()
    # every broken file is named with a reason; the good ones among them pass
    failed = {i: errors[i] for i in ids if status[i] == 2}
    assert all(failed.values())
    assert set(broken) == set(EXPECTED_BROKEN)
    paths = dict(zip(ds.path.values.tolist(), range(len(ids))))
    for name, reason in EXPECTED_BROKEN.items():
        row = paths["broken/" + name]
        if reason is None:
            assert ds.status.values[row] == 1, (name, ds.error.values[row])
        else:
            assert ds.status.values[row] == 2, name
            assert reason in ds.error.values[row], (name, ds.error.values[row])
    # nothing else failed but the broken files and the synthetic outliers
    for sid in failed:
        assert sid.startswith("broken/") or truth[sid] == "outlier", (sid, failed[sid])
    # the lazy graph computes the same features as the stored ones
    again = lazy.features.data.compute(scheduler=client.get)
    np.testing.assert_array_equal(np.isnan(again), np.isnan(feats))
    np.testing.assert_allclose(again[ok], feats[ok])
    # vocloud info --json counts them
    res = _cli("info", str(exp.directory), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["n_spectra"] == len(ids)
    assert out["n_ok"] == int(ok.sum())
    assert out["n_failed"] == len(failed)
    assert sum(out["failures"].values()) == len(failed)
    assert "duplicate id" in out["failures"]


def test_cache_reuse_and_new_store_beside_old(mixed_archive, tmp_path, client, chunk_log):
    info, _ = mixed_archive
    f = _write_yaml(tmp_path, info.path)
    exp = Experiment.from_file(f)
    first = exp.run(client, progress=False, verbose=False)
    n_chunks = len(chunk_log())
    assert n_chunks == exp.last_run["chunks_computed"] > 0
    exp2 = Experiment.from_file(f)
    again = exp2.run(client, progress=False, verbose=False)
    assert exp2.last_run["cached"] is True
    assert exp2.last_run["chunks_computed"] == 0
    assert len(chunk_log()) == n_chunks  # the cache hit ran no chunk task
    assert first.attrs["cache_key"] == again.attrs["cache_key"]
    # a changed preprocessing parameter: a new store beside the old one
    f2 = _write_yaml(tmp_path, info.path, scale="zscore")
    exp3 = Experiment.from_file(f2)
    z = exp3.run(client, progress=False, verbose=False)
    assert exp3.last_run["cached"] is False
    stores = sorted(p.name for p in exp.directory.glob("features-*.zarr"))
    assert len(stores) == 2
    assert exp.store_path.exists() and exp3.store_path.exists()
    assert vocloud.open_experiment(exp.directory).attrs["cache_key"] == z.attrs["cache_key"]
    ok = z.status.values == 1
    np.testing.assert_allclose(np.nanmean(z.features.values[ok], axis=1), 0, atol=1e-5)


def test_existing_scheduler_address_python_and_cli(
    mixed_archive, tmp_path, client, chunk_log, monkeypatch
):
    """Every chunk task of the run is one that the given scheduler ran on its own workers."""
    info, broken = mixed_archive
    n_spectra = info.n_spectra + len(broken)
    n_chunks = -(-n_spectra // 50)  # block_size 50
    workers = set(client.scheduler_info()["workers"])

    def no_cluster(*args, **kwargs):
        raise AssertionError("vocloud started a LocalCluster although a scheduler was given")

    monkeypatch.setattr(vocloud.run.cluster, "LocalCluster", no_cluster)
    f = _write_yaml(tmp_path, info.path)
    exp = Experiment.from_file(f, scheduler=client.scheduler.address)
    exp.run(progress=False, verbose=False)
    assert exp.last_run["chunks_computed"] == n_chunks
    ran = chunk_log()
    assert len({k for k, _ in ran}) == n_chunks, ran
    assert {w for _, w in ran} <= workers
    assert client.status == "running"  # the given cluster is used, not closed
    assert set(client.scheduler_info()["workers"]) == workers
    shutil.rmtree(exp.directory)
    # the CLI in another process: its chunk tasks run on this scheduler too
    res = _cli("run", str(f), "--scheduler", client.scheduler.address, "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "cache hit" not in res.stdout
    again = chunk_log()[len(ran) :]
    assert len({k for k, _ in again}) == n_chunks, (again, res.stdout)
    assert {w for _, w in again} <= workers
    out = summarize(tmp_path / "experiments" / "halpha")
    assert out["complete"] is True and out["n_spectra"] == n_spectra
    truth = info.truth()
    assert out["n_ok"] >= (truth["class"] != "outlier").sum()
    assert out["n_ok"] + out["n_failed"] == n_spectra
    res = _cli("info", str(tmp_path / "experiments" / "halpha"))
    assert res.returncode == 0 and f"{n_spectra}" in res.stdout


def test_killed_run_resumes_only_missing_chunks(tmp_path, client):
    from vocloud.datasets import make_archive

    info = make_archive(tmp_path / "spectra", 600, layouts="lamost-dr8", seed=5, n_jobs=2)
    spec = {
        "name": "halpha",
        "store": "./experiments",
        "source": {"directory": "./spectra", "pattern": "**/*.fits"},
        "preprocess": HALPHA,
        "run": {"block_size": 10, "n_workers": 1},
    }
    f = tmp_path / "halpha.yaml"
    f.write_text(yaml.safe_dump(spec))
    exp = Experiment.from_file(f)
    partial = exp.store_path.with_name(exp.store_path.name + ".partial")
    log = tmp_path / "run.log"
    done, returncode = run_killed_midway(f, partial, 5, log)
    assert 5 <= done < 60, (
        f"could not kill the run mid-way (done={done}, exit {returncode}): "
        + log.read_text(errors="replace")[-3000:]
    )
    # a half-written store is never taken for complete
    assert not exp.is_cached()
    with pytest.raises(FileNotFoundError, match="unfinished"):
        vocloud.open_experiment(exp.directory)
    import zarr

    done_now = int(np.sum(zarr.open_array(str(partial / "chunk_done"), mode="r")[:]))
    exp = Experiment.from_file(f)
    ds = exp.run(client, progress=False, verbose=False)
    assert exp.last_run["chunks_computed"] == 60 - done_now
    assert int((ds.status != 0).sum()) == info.n_spectra  # nothing left pending
    # the same as an uninterrupted run: the same outcome per spectrum, and features to float32
    # precision (other worker processes: float32 sums in another SIMD order)
    fresh = Experiment.from_file(f, name="fresh")
    ref = fresh.run(client, progress=False, verbose=False)
    np.testing.assert_allclose(ds.features.values, ref.features.values, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ds.status.values, ref.status.values)
    assert int((ds.status == 1).sum()) >= 0.95 * info.n_spectra
    assert ds.id.values.tolist() == ref.id.values.tolist()


def test_votable_list_source(mixed_archive, tmp_path, client):
    """The archive's own index.vot as the spectra list (source: {votable: ...})."""
    info, _ = mixed_archive
    spec = {
        "name": "fromlist",
        "store": "./experiments",
        "source": {"votable": str(info.index_vot)},
        "preprocess": HALPHA,
        "run": {"block_size": 100},
    }
    f = tmp_path / "list.yaml"
    f.write_text(yaml.safe_dump(spec))
    exp = Experiment.from_file(f)
    ds = exp.run(client, progress=False, verbose=False)
    assert ds.id.values.tolist() == info.index["id"].tolist()
    truth = info.truth().set_index("id")["class"]
    normal = np.array([truth[i] != "outlier" for i in ds.id.values])
    assert (ds.status.values[normal] == 1).all()
    assert "s_ra" in exp.spectra.columns  # index metadata passes through to the spectra list

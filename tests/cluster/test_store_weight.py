"""The store's ``weight`` (``preprocess: {weights: true}``) on a real LocalCluster and real Zarr:
real archive files that carry uncertainties (LAMOST, SDSS, DESI, ESO) and some that do not
(Ondrejov, HARPS, IRAF), synthetic ones of both kinds; every path that writes a chunk (a run, a
resumed run, a retry of failed downloads, the KilledWorker bisection) writes the weight too."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import dask
import numpy as np
import pandas as pd
import pytest
import yaml
import zarr
from astropy.table import Table
from killed_run import run_killed_midway
from test_poison import write_killer
from tolerances import FLOAT32

from vocloud.cli import main
from vocloud.datasets import make_archive
from vocloud.demo import DEMO_EXPERIMENT
from vocloud.io import read_spectrum
from vocloud.io.read import list_spectra
from vocloud.preprocess import PreprocessParams, preprocess_block
from vocloud.run.experiment import Experiment
from vocloud.run.summary import summarize
from vocloud.sources.directory import DirectorySource
from vocloud.store import open_store
from vocloud.testing import FaultProxy, StaticServer

HALPHA = yaml.safe_load(DEMO_EXPERIMENT)["preprocess"]
WEIGHTED = {**HALPHA, "weights": True}
REAL = Path(__file__).resolve().parents[1] / "data" / "real"
#: Real files with an uncertainty per pixel that cover H-alpha (ivar, or sigma -> ivar)
WITH_IVAR = [
    "lamost/bt-cmi-lamost.fits",
    "lamost/med-58408-TD230151N343645T01_sp01-015.fits",
    "lamost/spec-55859-F5902_sp01-001.fits.gz",
    "lamost/spec-58397-EG014118N254444M01_sp03-031.fits",
    "sdss/sample_sdss.fits",
    "sdss/spec-1325-52762-0133.fits",
    "sdss/spec-6717-56397-0534.fits",
    "eso/XQ100_J0003-2603_vis.fits",
]
#: Real files whose layout has no uncertainty
WITHOUT_IVAR = [
    "ondrejov/bt-cmi-ondrejov.fits",
    "ondrejov/ud090015.fits",
    "eso/HARPS.2006-09-08T02_12_38.604_s1d_A.fits",
    "iraf/UM669_nF.fits",
]
DESI = "desi/coadd-5-169-thru20210419.fits"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Real files (and the 5 targets of a DESI coadd, by TARGETID) beside a synthetic archive of
    LAMOST DR8 and SDSS files (ivar) and IRAF files (none): ``(folder, spectra list)``."""
    root = tmp_path_factory.mktemp("weight") / "spectra"
    make_archive(
        root / "synth",
        24,
        layouts={"lamost-dr8": 2, "sdss-coadd": 1, "iraf-linear": 1},
        seed=8,
        n_jobs=1,
    )
    for name in WITH_IVAR + WITHOUT_IVAR:
        (root / "real" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REAL / name, root / "real" / name)
    df = DirectorySource(root, pattern=["**/*.fits", "**/*.fits.gz"]).list()
    (root / "multi").mkdir()
    desi = root / "multi" / "coadd.desi"  # not matched by the listing: addressed by target
    shutil.copy(REAL / DESI, desi)
    st = desi.stat()
    rows = [
        {
            "id": "multi/" + a.split("/multi/")[1],
            "access_url": a,
            "path": "multi/" + a.split("/multi/")[1],
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
        }
        for a in list_spectra(desi)
    ]
    df = pd.concat([df, pd.DataFrame(rows)], ignore_index=True)
    return root, df


def _experiment(root: Path, spectra: pd.DataFrame, store: Path, preprocess, name="w"):
    exp = Experiment(
        {"directory": str(root), "pattern": "**/*.fits"},
        preprocess,
        name=name,
        store=store,
        block_size=5,
    )
    exp.spectra = spectra
    return exp


def _direct(spectra: pd.DataFrame, params: PreprocessParams, block_size: int):
    """The same spectra read here and preprocessed in the run's blocks, weights asked for:
    ``(ok, features, weight)``. (A row does not depend on its block,
    tests/unit/test_preprocess_blocks.py; the run's blocks are kept here all the same.)"""
    spectra_read = []
    for a in spectra["access_url"]:
        try:
            spectra_read.append(read_spectrum(a))
        except Exception as exc:  # recorded failed in the store too
            spectra_read.append(exc)
    parts = [
        preprocess_block(spectra_read[i : i + block_size], params, weights=True)
        for i in range(0, len(spectra_read), block_size)
    ]
    m = params.grid().size
    weights = [
        np.full((len(p.error), m), np.nan, "f4") if p.weight is None else p.weight for p in parts
    ]
    return (
        np.concatenate([p.ok for p in parts]),
        np.concatenate([p.features for p in parts]),
        np.concatenate(weights),
    )


def test_stored_weight_is_preprocess_block_of_the_same_spectra(archive, tmp_path, client):
    root, df = archive
    exp = _experiment(root, df, tmp_path / "experiments", WEIGHTED)
    lazy = exp.features()  # the lazy graph has the weight too, computed by the same tasks
    assert lazy.weight.dims == ("spectrum", "wavelength") and lazy.weight.dtype == np.float32
    ds = exp.run(client, progress=False, verbose=False)
    assert exp.last_run["cached"] is False
    path = ds.path.values.tolist()
    status = ds.status.values
    weight = ds.weight.values
    assert weight.dtype == np.float32 and weight.shape == ds.features.shape
    # laid out as the features: chunks and codec
    w = zarr.open_array(str(exp.store_path / "weight"), mode="r")
    f = zarr.open_array(str(exp.store_path / "features"), mode="r")
    assert w.chunks == f.chunks == (5, f.shape[1]) and w.compressors == f.compressors
    assert ds.weight.attrs["long_name"] == "inverse variance of the feature value"

    ok, features, ref = _direct(df, exp.params, exp.block_size)
    np.testing.assert_array_equal(status == 1, ok)
    np.testing.assert_allclose(ds.features.values, features, **FLOAT32)
    np.testing.assert_allclose(weight, ref, rtol=FLOAT32["rtol"], atol=0)
    np.testing.assert_array_equal(weight == 0, ref == 0)  # bad pixels: exactly 0

    real_ok = [path.index(f"real/{n}") for n in WITH_IVAR]
    desi = [i for i, p in enumerate(path) if p.startswith("multi/")]
    assert len(desi) == 5 and status[real_ok].tolist() == [1] * len(WITH_IVAR)
    for i in real_ok + [i for i in desi if status[i] == 1]:
        assert np.isfinite(weight[i]).all() and (weight[i] >= 0).all(), path[i]
        assert (weight[i] > 0).mean() > 0.9, path[i]
    assert sum(status[desi] == 1) >= 1 and sum(status[desi] == 2) >= 1
    # no uncertainty in the file (read and preprocessed fine): NaN weights
    no_ivar = [path.index(f"real/{n}") for n in WITHOUT_IVAR]
    no_ivar += [i for i, p in enumerate(path) if p.startswith("synth/iraf-linear/")]
    assert len(no_ivar) > len(WITHOUT_IVAR) and (status[no_ivar] == 1).all()
    assert np.isnan(weight[no_ivar]).all()
    assert np.isnan(weight[status == 2]).all()  # failed spectra
    synth_ivar = [
        i for i, p in enumerate(path) if p.startswith(("synth/lamost-dr8", "synth/sdss-coadd"))
    ]
    assert synth_ivar and (weight[synth_ivar][status[synth_ivar] == 1] > 0).all()
    # the lazy graph of before the run, and features() now that the store is made
    np.testing.assert_allclose(lazy.weight.values, weight, rtol=FLOAT32["rtol"], atol=0)
    np.testing.assert_array_equal(exp.features().weight.values, weight)  # the store, opened


def test_no_weight_without_the_flag_and_the_flag_makes_another_store(
    archive, tmp_path, client, capsys
):
    root, df = archive
    df = df[df.path.str.startswith(("real/lamost", "real/ondrejov"))].reset_index(drop=True)
    spec = {
        "name": "halpha",
        "store": "./experiments",
        "source": {"directory": str(root), "pattern": "real/**/*.fits"},
        "preprocess": HALPHA,
        "run": {"block_size": 2},
    }
    f = tmp_path / "halpha.yaml"

    def run(preprocess):
        f.write_text(yaml.safe_dump({**spec, "preprocess": preprocess}))
        exp = Experiment.from_file(f)
        exp.spectra = df
        return exp, exp.run(client, progress=False, verbose=False)

    plain, ds = run(HALPHA)
    assert "weight" not in ds.variables and not (plain.store_path / "weight").exists()
    assert "weights" not in ds.attrs["parameters"]
    weighted, dw = run(WEIGHTED)
    assert weighted.params.weights and weighted.cache_key != plain.cache_key
    assert weighted.store_path != plain.store_path
    # not the store without weights: computed (every chunk), into a store of its own
    assert weighted.last_run["cached"] is False
    assert weighted.last_run["chunks_computed"] == -(-len(df) // 2)
    assert dw.attrs["parameters"]["weights"] is True
    assert np.isfinite(dw.weight.values[dw.path.str.startswith("real/lamost").values]).all()
    np.testing.assert_allclose(dw.features.values, ds.features.values, **FLOAT32)
    # vocloud info says which store keeps weights, and the grid's medium
    main(["info", str(weighted.store_path)])
    out = capsys.readouterr().out
    assert "weights      the inverse variance" in out and "Angstrom (air)" in out
    main(["info", str(plain.store_path)])
    assert "weights" not in capsys.readouterr().out
    assert summarize(weighted.store_path)["weights"] is True
    assert summarize(plain.store_path)["weights"] is False
    # both stores stay; turning the flag off again finds the first
    again, ds2 = run({**HALPHA, "weights": False})
    assert again.last_run["cached"] is True and again.store_path == plain.store_path
    assert plain.store_path.exists() and weighted.store_path.exists()
    assert "weight" not in ds2.variables


def test_killed_run_resumes_with_complete_weights(tmp_path, client):
    n, block = 300, 10
    make_archive(tmp_path / "spectra", n, layouts="lamost-dr8", seed=8, n_jobs=2)
    spec = {
        "name": "halpha",
        "store": "./experiments",
        "source": {"directory": "./spectra", "pattern": "**/*.fits"},
        "preprocess": WEIGHTED,
        "run": {"block_size": block, "n_workers": 1},
    }
    f = tmp_path / "halpha.yaml"
    f.write_text(yaml.safe_dump(spec))
    exp = Experiment.from_file(f)
    partial = exp.store_path.with_name(exp.store_path.name + ".partial")
    log = tmp_path / "run.log"
    done, returncode = run_killed_midway(f, partial, 4, log)
    n_chunks = n // block
    assert 4 <= done < n_chunks, (
        f"could not kill the run mid-way (done={done}, exit {returncode}): "
        + log.read_text(errors="replace")[-3000:]
    )
    # the chunks marked done before the kill hold their weights (written before the mark)
    marks = zarr.open_array(str(partial / "chunk_done"), mode="r")[:]
    status = zarr.open_array(str(partial / "status"), mode="r")[:]
    kept = zarr.open_array(str(partial / "weight"), mode="r")[:]
    rows = np.flatnonzero(np.repeat(marks, block) & (status == 1))
    assert rows.size and np.isfinite(kept[rows]).all()

    exp = Experiment.from_file(f)
    ds = exp.run(client, progress=False, verbose=False)
    assert exp.last_run["chunks_computed"] == n_chunks - int(marks.sum())
    ok = ds.status.values == 1
    assert int((ds.status != 0).sum()) == n and ok.mean() >= 0.95
    assert np.isfinite(ds.weight.values[ok]).all()  # no row left without its weight
    assert np.isnan(ds.weight.values[~ok]).all()
    np.testing.assert_array_equal(ds.weight.values[rows], kept[rows])  # kept as written
    fresh = Experiment.from_file(f, name="fresh").run(client, progress=False, verbose=False)
    np.testing.assert_array_equal(ds.status.values, fresh.status.values)
    np.testing.assert_allclose(ds.weight.values, fresh.weight.values, rtol=FLOAT32["rtol"], atol=0)


def test_retried_downloads_get_their_weights(tmp_path, client):
    """Every download fails once (HTTP 503, no retries): the first run records them failed
    (transient, NaN weights); the rerun retries them in place (``retry_rows``) with weights."""
    info = make_archive(tmp_path / "spectra", 16, layouts="lamost-dr8", seed=3, n_jobs=1)
    df = DirectorySource(info.path, pattern="**/*.fits").list()
    local = Experiment(
        {"directory": str(info.path), "pattern": "**/*.fits"},
        WEIGHTED,
        name="local",
        store=tmp_path / "experiments",
        block_size=8,
    )
    ref = local.run(client, progress=False, verbose=False)
    assert (ref.status.values == 1).all()
    fetch = {"retries": 0, "timeout": 5, "backoff": 0, "concurrency": 4}
    with StaticServer(info.path) as server, FaultProxy(server.url, error_first=1) as proxy:
        vot = tmp_path / "list.xml"
        Table(
            {
                "id": df["id"].astype(str).tolist(),
                "access_url": [proxy.url + quote(p) for p in df["path"]],
            }
        ).write(vot, format="votable")
        exp = Experiment(
            {"votable": str(vot), "access_column": "access_url", "id_column": "id"},
            WEIGHTED,
            name="remote",
            store=tmp_path / "experiments",
            block_size=8,
            fetch=fetch,
        )
        ds = exp.run(client, progress=False, verbose=False)
        assert (ds.status.values == 2).all() and ds.transient.values.all()
        assert np.isnan(ds.weight.values).all()
        ds = exp.run(client, progress=False, verbose=False)
    assert exp.last_run["retried"] == len(df) and exp.last_run["retried_ok"] == len(df)
    assert ds.id.values.tolist() == ref.id.values.tolist()
    np.testing.assert_allclose(ds.weight.values, ref.weight.values, rtol=FLOAT32["rtol"], atol=0)
    assert np.isfinite(ds.weight.values).all()


def test_killed_worker_bisection_writes_the_weights(tmp_path, small_workers, client):
    """A chunk whose worker dies is computed again in parts (``ChunkRun._alone``); the client
    writes the parts' rows: their weights too, NaN for the spectrum that killed the workers."""
    info = make_archive(tmp_path / "spectra", 15, layouts="lamost-dr8", seed=4, n_jobs=1)
    (tmp_path / "spectra" / "poison").mkdir()
    write_killer(tmp_path / "spectra" / "poison" / "killer.fits")
    exp = Experiment(
        {"directory": str(tmp_path / "spectra"), "pattern": "**/*.fits"},
        WEIGHTED,
        name="poison",
        store=tmp_path / "experiments",
        block_size=8,
    )
    exp.run(small_workers, progress=False, verbose=False)
    # the reference on the healthy cluster, the stores read here (the small workers may still
    # be restarting after the killer)
    clean = Experiment(
        {"directory": str(info.path), "pattern": "**/*.fits"},
        WEIGHTED,
        name="clean",
        store=tmp_path / "experiments",
        block_size=8,
    )
    clean.run(client, progress=False, verbose=False)
    with dask.config.set(scheduler="synchronous"):
        ds = open_store(exp.store_path).load()
        ref = open_store(clean.store_path).load()
    paths = ds.path.values.tolist()
    k = next(i for i, p in enumerate(paths) if p.endswith("killer.fits"))
    assert ds.status.values[k] == 2
    assert str(ds.error.values[k]).startswith("its worker died reading it (")
    assert np.isnan(ds.weight.values[k]).all()
    row = {p: i for i, p in enumerate(paths)}
    rows = [row[p] for p in ref.path.values]
    np.testing.assert_array_equal(ds.status.values[rows], ref.status.values)
    same_chunk = [i for i in rows if i // 8 == k // 8 and ds.status.values[i] == 1]
    assert len(same_chunk) >= 5 and np.isfinite(ds.weight.values[same_chunk]).all()
    # parts of the split chunk were computed in smaller blocks: a row does not depend on its block
    np.testing.assert_allclose(ds.weight.values[rows], ref.weight.values, rtol=1e-6, atol=0)

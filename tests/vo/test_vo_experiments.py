"""Whole experiments against the local DaCHS: TAP (sync, async, upload) -> DataLink -> SODA
cutouts -> preprocessing -> store; ObsCore -> whole spectra cut locally; SSAP -> accref -> store;
failures named per spectrum. Everything through vocloud's public API, on a real LocalCluster.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from vocloud.io import read_spectrum
from vocloud.preprocess import PreprocessParams
from vocloud.run.experiment import Experiment
from vocloud.run.tasks import compute_chunk
from vocloud.sources import (
    ObsCoreSource,
    SSAPSource,
    TAPSource,
    TruncatedResultWarning,
    VOServiceError,
)

pytestmark = pytest.mark.filterwarnings("ignore:The unit 'Angstrom' has been deprecated")

# what the SODA cutouts ask for with the `preprocess` fixture: its cutout widened by its half width
BAND = (6442.8, 6682.8)
N = 240


def _first(dachs, n: int) -> str:
    return f"SELECT TOP {n} * FROM {dachs.table} ORDER BY ssa_pubDID"


def _cached_spectra(folder) -> list:
    """Every spectrum in a raw cache (DataLink documents are skipped: they are no spectra)."""
    out = []
    for f in folder.rglob("*"):
        if f.is_file() and not f.name.startswith("."):
            try:
                out.append(read_spectrum(f.read_bytes(), name=f.name))
            except Exception:
                continue
    return out


def test_tap_datalink_soda_cutouts_to_store(dachs, client, tmp_path, preprocess):
    exp = Experiment(
        {"tap": dachs.tap_url, "query": _first(dachs, N)},
        preprocess,
        name="tap-soda",
        store=tmp_path / "experiments",
        block_size=80,
        fetch={"cutout": "server", "concurrency": 4},
    )
    spectra = exp.spectra
    assert len(spectra) == N and spectra["id"].str.startswith(dachs.pubdid_prefix).all()
    assert spectra["datalink_url"].str.startswith(dachs.datalink_service_url).all()
    assert "class_label" in spectra.columns

    ds = exp.run(client, progress=False, verbose=False)
    assert ds.sizes["spectrum"] == N
    assert list(ds.id.values) == spectra["id"].tolist()
    truth = dachs.labels.set_index("id")["class"]
    normal = np.array([truth[i] != "outlier" for i in ds.id.values])
    assert normal.sum() > 0.8 * N
    assert (ds.status.values[normal] == 1).all(), ds.error.values[normal & (ds.status.values != 1)]
    # what was fetched are cutouts: every cached spectrum lies inside the asked band
    cached = _cached_spectra(tmp_path / "experiments" / ".raw-cache")
    assert len(cached) == N
    for s in cached:
        wl = s.wavelength.to_value("Angstrom")
        assert BAND[0] - 0.5 <= wl.min() and wl.max() <= BAND[1] + 0.5
    # the same spectra read from the server's own files and cut locally give close features
    ids = list(ds.id.values[normal][:40])
    local = compute_chunk(
        [str(dachs.path_of(i)) for i in ids],
        [None] * len(ids),
        PreprocessParams.from_dict(preprocess),
    )
    served = ds.features.sel(spectrum=np.isin(ds.id.values, ids)).values
    assert (local.columns["status"] == 1).all()
    diff = np.abs(served - local.features)
    assert np.median(diff) < 0.05, np.median(diff)
    corr = [np.corrcoef(a, b)[0, 1] for a, b in zip(served, local.features)]
    assert min(corr) > 0.95, min(corr)

    # the class labels of the TAP table train the forest on the cutouts
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": spectra["id"], "label": spectra["class_label"]}).to_csv(labels, index=False)
    res = exp.run_step("random-forest", labels=str(labels), n_estimators=100)
    assert res.metrics["cv_accuracy"] > 0.8, res.metrics


def test_rerun_fetches_nothing_and_cutout_mode_is_part_of_the_key(
    dachs, client, tmp_path, preprocess
):
    kwargs = {
        "store": tmp_path / "experiments",
        "block_size": 50,
    }
    src = {"tap": dachs.tap_url, "query": _first(dachs, 50)}
    first = Experiment(src, preprocess, name="a", fetch={"cutout": "server"}, **kwargs)
    first.run(client, progress=False, verbose=False)
    cache = tmp_path / "experiments" / ".raw-cache"
    files = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    again = Experiment(src, preprocess, name="b", fetch={"cutout": "server"}, **kwargs)
    ds = again.run(client, progress=False, verbose=False)
    assert (ds.status.values == 1).sum() >= 40
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == files
    local = Experiment(src, preprocess, name="c", fetch={"cutout": "local"}, **kwargs)
    assert local.cache_key != again.cache_key
    ds = local.run(client, progress=False, verbose=False)
    assert (ds.status.values == 1).sum() >= 40
    whole = [
        s for s in _cached_spectra(cache) if s.wavelength.to_value("Angstrom").min() < BAND[0] - 50
    ]
    assert len(whole) == 50  # cutout: local fetched the whole spectra (#this)


def test_tap_async_upload_and_maxrec(dachs):
    ids = dachs.labels["id"].tolist()[:15]
    src = TAPSource(
        dachs.tap_url,
        f"SELECT s.* FROM {dachs.table} AS s JOIN TAP_UPLOAD.ids AS u ON s.ssa_pubDID = u.id",
        mode="async",
        uploads={"ids": ids},
    )
    got = src.list()
    assert sorted(got["id"]) == sorted(ids)
    # positions uploaded as a table, matched on ObsCore positions
    pos = dachs.spectra.iloc[:5]
    table = pd.DataFrame({"ra": pos["ra"].astype(float), "dec": pos["dec"].astype(float)})
    near = TAPSource(
        dachs.tap_url,
        "SELECT o.* FROM ivoa.obscore AS o JOIN TAP_UPLOAD.pos AS p ON "
        "1 = CONTAINS(POINT('ICRS', o.s_ra, o.s_dec), CIRCLE('ICRS', p.ra, p.dec, 0.001))",
        uploads={"pos": table},
    ).list()
    assert set(pos["id"]) <= set(near["id"])
    for mode in ("sync", "async"):
        with pytest.warns(TruncatedResultWarning, match="MAXREC=7: 7 rows returned"):
            cut = TAPSource(dachs.tap_url, f"SELECT * FROM {dachs.table}", mode=mode, maxrec=7)
            assert len(cut.list()) == 7
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncatedResultWarning)
        assert len(TAPSource(dachs.tap_url, _first(dachs, 7), maxrec=100).list()) == 7
    with pytest.raises(VOServiceError, match="query refused"):
        TAPSource(dachs.tap_url, "SELECT nope FROM nowhere").list()


def test_obscore_whole_spectra_cut_locally(dachs, client, tmp_path, preprocess):
    src = ObsCoreSource(dachs.tap_url, collection=dachs.obscore_collection, band=(6500, 6600))
    exp = Experiment(
        src,
        preprocess,
        name="obscore",
        store=tmp_path / "experiments",
        block_size=100,
        fetch={"cutout": "local"},
    )
    assert len(exp.spectra) == dachs.n_spectra
    assert exp.spectra["datalink_url"].notna().all()
    exp.spectra = exp.spectra.iloc[:100]
    ds = exp.run(client, progress=False, verbose=False)
    truth = dachs.labels.set_index("id")["class"]
    normal = np.array([truth[i] != "outlier" for i in ds.id.values])
    bad = normal & (ds.status.values != 1)
    assert not bad.any(), ds.error.values[bad]
    assert np.isfinite(ds.s_ra.values).all()


def test_ssap_accref_to_store(dachs, client, tmp_path, preprocess):
    row = dachs.spectra.iloc[3]
    hit = SSAPSource(dachs.ssap_url, pos=(float(row["ra"]), float(row["dec"])), size=0.01).list()
    assert row["id"] in set(hit["id"])
    with pytest.warns(TruncatedResultWarning, match="60 rows returned"):
        src_list = SSAPSource(dachs.ssap_url, band=(6500, 6600), maxrec=60).list()
    assert len(src_list) == 60
    assert src_list["access_url"].str.startswith(dachs.base_url).all()
    exp = Experiment(
        {"ssap": dachs.ssap_url, "band": [6500, 6600], "maxrec": 60},
        preprocess,
        name="ssap",
        store=tmp_path / "experiments",
        block_size=30,
        fetch={"cutout": "none"},
    )
    with pytest.warns(TruncatedResultWarning):
        spectra = exp.spectra
    assert len(spectra) == 60
    ds = exp.run(client, progress=False, verbose=False)
    truth = dachs.labels.set_index("id")["class"]
    normal = np.array([truth[i] != "outlier" for i in ds.id.values])
    bad = normal & (ds.status.values != 1)
    assert not bad.any(), ds.error.values[bad]


def test_failures_are_named_and_the_run_finishes(dachs, client, tmp_path, preprocess):
    exp = Experiment(
        {"tap": dachs.tap_url, "query": _first(dachs, 20)},
        preprocess,
        name="bad",
        store=tmp_path / "experiments",
        block_size=10,
        fetch={"cutout": "server", "retries": 0},
    )
    spectra = exp.spectra.copy()
    bogus = dachs.pubdid_prefix + "9999/no-such-spectrum.fits"
    extra = spectra.iloc[0].to_dict() | {
        "id": bogus,
        "datalink_url": dachs.datalink_url(bogus),
    }
    gone = spectra.iloc[1].to_dict() | {
        "id": "gone",
        "datalink_url": None,
        "access_url": dachs.base_url + "/getproduct/vospec/data/9999/gone.fits",
    }
    exp.spectra = pd.concat([spectra, pd.DataFrame([extra, gone])], ignore_index=True)
    ds = exp.run(client, progress=False, verbose=False)
    errors = dict(zip(ds.id.values, ds.error.values))
    status = dict(zip(ds.id.values, ds.status.values))
    assert status[bogus] != 1 and errors[bogus].startswith("DataLink"), errors[bogus]
    assert status["gone"] != 1 and errors["gone"].startswith("HTTP 404"), errors["gone"]
    assert (ds.status.values == 1).sum() >= 16

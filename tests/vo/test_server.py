"""Smoke tests of the local DaCHS with pyvo: what every experiment-level VO test relies on.

TAP (sync, async, upload) -> DataLink -> SODA cutouts; SSAP -> accref; ObsCore.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import pyvo
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io.votable import parse_single_table
from astropy.table import Table
from pyvo.dal.adhoc import DatalinkResults

from vocloud.datasets import CLASSES

# A band around H-alpha with edges half-way between the pixels of no spectrum in particular:
# pyvo sends Angstrom converted to metres (6550 A -> 6.550000000000001e-07 m), so a pixel exactly
# on an edge may be dropped; nothing here depends on edge pixels.
BAND = (6550.03, 6575.03)

# DaCHS writes unit="Angstrom", which VOUnit deprecates; astropy still reads it right.
pytestmark = pytest.mark.filterwarnings("ignore:The unit 'Angstrom' has been deprecated")


@pytest.fixture(scope="module")
def tap(dachs):
    return pyvo.dal.TAPService(dachs.tap_url)


def sdm_table(data: bytes) -> Table:
    """An SDM VOTable (as DaCHS's DataLink/SODA give it) as an astropy Table."""
    return parse_single_table(io.BytesIO(data)).to_table()


def test_fixture_describes_the_data(dachs):
    assert dachs.n_spectra == len(dachs.labels) == len(dachs.spectra) > 0
    assert list(dachs.labels.columns) == ["id", "class"]
    assert dachs.labels["id"].is_unique
    assert dachs.labels["id"].str.startswith(dachs.pubdid_prefix).all()
    assert set(dachs.labels["class"]) <= {*CLASSES, "outlier"}
    assert set(CLASSES) <= set(dachs.labels["class"])
    first = dachs.labels["id"].iloc[0]
    assert dachs.path_of(first).is_file()


def test_tap_sync_counts_all_spectra_and_has_class_label(dachs, tap):
    n = tap.run_sync(f"SELECT COUNT(*) AS n FROM {dachs.table}")
    assert int(n["n"][0]) == dachs.n_spectra

    cols = tap.run_sync(
        f"SELECT column_name FROM tap_schema.columns WHERE table_name = '{dachs.table}'"
    )
    assert "class_label" in {str(c).lower() for c in cols["column_name"]}

    rows = tap.run_sync(
        f"SELECT ssa_pubDID, class_label FROM {dachs.table}", maxrec=dachs.n_spectra + 10
    ).to_table()
    got = dict(zip(rows["ssa_pubDID"], rows["class_label"]))
    assert got == dict(zip(dachs.labels["id"], dachs.labels["class"]))


def test_tap_async_class_counts(dachs, tap):
    job = tap.run_async(
        f"SELECT class_label, COUNT(*) AS n FROM {dachs.table} GROUP BY class_label",
        timeout=120,
    )
    got = {str(r["class_label"]): int(r["n"]) for r in job}
    assert got == dachs.labels["class"].value_counts().to_dict()


def test_tap_upload_joins_ids_with_the_ssa_table(dachs, tap):
    picked = dachs.labels.iloc[::40]
    ids = Table({"id": [*picked["id"], "ivo://vocloud.test/~?vospec/data/no-such-spectrum.fits"]})
    res = tap.run_sync(
        f"SELECT u.id, s.class_label, s.ssa_length FROM TAP_UPLOAD.ids AS u "
        f"JOIN {dachs.table} AS s ON s.ssa_pubDID = u.id",
        uploads={"ids": ids},
    ).to_table()
    assert len(res) == len(picked)
    assert dict(zip(res["id"], res["class_label"])) == dict(zip(picked["id"], picked["class"]))
    truth = dachs.spectra.set_index("id")["n_pixels"]
    assert all(int(n) == truth[i] for i, n in zip(res["id"], res["ssa_length"]))


def test_obscore_lists_the_collection_as_spectra(dachs, tap):
    res = tap.run_sync(
        "SELECT obs_publisher_did, access_url, access_format, em_min, em_max, s_ra, s_dec "
        "FROM ivoa.obscore WHERE dataproduct_type = 'spectrum' "
        f"AND obs_collection = '{dachs.obscore_collection}'",
        maxrec=dachs.n_spectra + 10,
    ).to_table()
    assert len(res) == dachs.n_spectra
    assert set(res["obs_publisher_did"]) == set(dachs.labels["id"])
    # SSA/ObsCore spectral bounds are metres; every spectrum covers H-alpha
    assert np.all((res["em_min"] < 6562.8e-10) & (res["em_max"] > 6562.8e-10))
    assert all(str(f).startswith("application/x-votable+xml") for f in res["access_format"])
    assert all(str(url).startswith(dachs.base_url) for url in res["access_url"])


def test_ssap_by_position_gives_accref_and_datalink(dachs):
    row = dachs.spectra.iloc[7]
    ssap = pyvo.dal.SSAService(dachs.ssap_url)
    res = ssap.search(pos=SkyCoord(row["ra"], row["dec"], unit="deg"), diameter=10 * u.arcsec)
    recs = [r for r in res if r["ssa_pubDID"] == row["id"]]
    assert len(recs) == 1
    rec = recs[0]
    # DaCHS 2.7 has ssa:Target.pos.spoint, not what SSARecord.ra/.dec look for: use ssa_location
    ra, dec = (float(x) for x in rec["ssa_location"])
    assert (ra, dec) == pytest.approx((row["ra"], row["dec"]), abs=1e-5)
    assert rec["class_label"] == row["class"]
    assert str(rec["datalink"]).startswith(dachs.datalink_service_url + "?ID=")

    accref = rec.getdataurl()
    assert accref.startswith(f"{dachs.base_url}/getproduct/")
    spectrum = sdm_table(rec.getdataset(timeout=60).read())
    assert {"spectral", "flux"} <= set(spectrum.colnames)
    assert len(spectrum) == row["n_pixels"]
    assert spectrum["spectral"].unit == u.AA
    assert spectrum["spectral"][0] == pytest.approx(row["wl_min"], abs=1e-3)


def test_datalink_has_this_and_a_processing_service(dachs):
    pubdid = dachs.labels["id"].iloc[3]
    dl = DatalinkResults.from_result_url(dachs.datalink_url(pubdid))
    # bysemantics with narrower terms needs the DataLink vocabulary (offline: ivoa_vocabularies)
    this = list(dl.bysemantics("#this"))
    assert len(this) == 1
    assert this[0].content_type.startswith("application/x-votable+xml")
    proc = dl.get_first_proc()
    assert proc.service_def
    # the whole spectrum through #this
    whole = sdm_table(this[0].getdataset(timeout=60).read())
    assert len(whole) == dachs.spectra.set_index("id").loc[pubdid, "n_pixels"]


def test_soda_band_cutout_is_inside_the_band(dachs):
    truth = dachs.spectra[dachs.spectra["outlier_kind"] == ""].iloc[5]
    pubdid, n_pixels = truth["id"], truth["n_pixels"]
    dl = DatalinkResults.from_result_url(dachs.datalink_url(pubdid))
    band = u.Quantity(BAND, "Angstrom")
    cut = sdm_table(dl.get_first_proc().processed(band=band).read())
    assert cut["spectral"].unit == u.AA
    wl = np.asarray(cut["spectral"], dtype=float)
    step = 0.2352 * 1.01  # the largest dispersion of the synthetic grids, in Angstrom
    assert 0 < len(cut) < n_pixels
    assert np.all((wl >= BAND[0]) & (wl <= BAND[1]))
    assert wl[0] - BAND[0] < step and BAND[1] - wl[-1] < step
    assert np.all(np.isfinite(np.asarray(cut["flux"])))

    # the same cutout straight from the SODA URL of the fixture
    with pyvo.utils.http.create_session().get(dachs.soda_url(pubdid, BAND), timeout=60) as r:
        r.raise_for_status()
        direct = sdm_table(r.content)
    assert np.allclose(np.asarray(direct["spectral"]), np.asarray(cut["spectral"]))


def test_tap_results_batch_their_datalinks(dachs, tap):
    res = tap.run_sync(f"SELECT TOP 40 * FROM {dachs.table} ORDER BY ssa_pubDID")
    ids = [dl.original_row["ssa_pubDID"] for dl in res.iter_datalinks()]
    assert ids == sorted(dachs.labels["id"])[:40]

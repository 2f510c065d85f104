"""The Zarr feature store: create, write chunks, resume state, finish, open as xarray."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from vocloud.store import (
    STATUS_FAILED,
    STATUS_OK,
    ChunkData,
    FeatureStore,
    failure_category,
    open_store,
)


def _chunk(n, m, failed=()):
    status = np.full(n, STATUS_OK, dtype="i1")
    error = np.full(n, "", dtype=object)
    feats = np.arange(n * m, dtype="f4").reshape(n, m)
    for i in failed:
        status[i] = STATUS_FAILED
        error[i] = "truncated FITS: data needs 100 bytes, file has 7"
        feats[i] = np.nan
    cols = {
        "status": status,
        "error": error,
        "snr": np.full(n, 50.0, dtype="f4"),
        "s_ra": np.arange(n, dtype="f8"),
        "s_dec": np.full(n, -5.0),
        "target": np.full(n, "HD 1", dtype=object),
        "layout": np.full(n, "lamost-dr7", dtype=object),
    }
    return ChunkData(feats, cols)


def test_store_lifecycle(tmp_path):
    grid = np.linspace(6500.0, 6600.0, 11)
    partial = tmp_path / "features-x.zarr.partial"
    st = FeatureStore.create(
        partial,
        ids=[f"s{i}" for i in range(7)],
        paths=[f"s{i}.fits" for i in range(7)],
        grid=grid,
        chunk_size=3,
        attrs={"cache_key": "abc"},
    )
    assert st.n_chunks == 3
    assert [st.chunk_bounds(i) for i in range(3)] == [(0, 3), (3, 6), (6, 7)]
    FeatureStore.write_chunk(partial, 1, 3, _chunk(3, 11, failed=[1]))
    assert st.done_chunks().tolist() == [False, True, False]
    with pytest.raises(RuntimeError, match="2 chunks not written"):
        st.finish(tmp_path / "features-x.zarr", {})
    FeatureStore.write_chunk(partial, 0, 0, _chunk(3, 11))
    FeatureStore.write_chunk(partial, 2, 6, _chunk(1, 11))
    final = st.finish(tmp_path / "features-x.zarr", {"finished": "now"})
    assert not partial.exists()
    assert final.attrs["complete"] is True
    assert final.summary() == {
        "n_spectra": 7,
        "n_ok": 6,
        "n_failed": 1,
        "n_pending": 0,
        "n_transient": 0,
        "failures": {"truncated FITS": 1},
        "failure_examples": {"truncated FITS": "truncated FITS: data needs 100 bytes, file has 7"},
    }
    ds = open_store(final.path)
    assert ds.features.dims == ("spectrum", "wavelength")
    assert ds.features.dtype == np.float32
    assert ds.wavelength.attrs["units"] == "Angstrom"
    np.testing.assert_allclose(ds.wavelength.values, grid)
    assert ds.id.values.tolist() == [f"s{i}" for i in range(7)]
    assert ds.status.values.tolist() == [1, 1, 1, 1, 2, 1, 1]
    assert np.isnan(ds.features.values[4]).all()
    assert ds.error.values[4].startswith("truncated FITS")
    assert ds.attrs["cache_key"] == "abc"
    # selections by status work directly (the status coordinate is in memory)
    ok = ds.where(ds.status == 1, drop=True)
    assert ok.sizes["spectrum"] == 6 and not np.isnan(ok.features.values).any()
    # chunks of the store are the row blocks of the tasks
    assert zarr.open_array(str(final.path / "features")).chunks == (3, 11)


def test_empty_store(tmp_path):
    st = FeatureStore.create(
        tmp_path / "e.zarr.partial", ids=[], paths=[], grid=np.arange(3.0), chunk_size=10
    )
    assert st.n_chunks == 0
    final = st.finish(tmp_path / "e.zarr", {})
    assert final.summary()["n_spectra"] == 0


def test_failure_category():
    assert failure_category("empty file") == "empty file"
    assert failure_category("unknown FITS layout: 3-D image 4x4x4") == "unknown FITS layout"
    assert failure_category("duplicate id (same id as a.fits)") == "duplicate id"


def test_store_made_anew_at_the_same_path_is_written_correctly(tmp_path):
    """Arrays opened for writing are reused per process only while their metadata is the same."""
    p = tmp_path / "s.zarr.partial"
    for n, m in [(4, 3), (6, 5), (4, 3)]:
        st = FeatureStore.create(
            p,
            ids=[str(i) for i in range(n)],
            paths=["x"] * n,
            grid=np.arange(float(m)),
            chunk_size=n,
        )
        data = _chunk(n, m)
        FeatureStore.write_chunk(p, 0, 0, data)
        np.testing.assert_array_equal(zarr.open_array(str(p / "features"))[:], data.features)
        assert st.done_chunks().tolist() == [True]


def _folder_with_partial(tmp_path):
    from vocloud.store import ExperimentFolder

    folder = ExperimentFolder(tmp_path / "exp")
    st = folder.create_partial(
        "k" * 64,
        ids=[str(i) for i in range(6)],
        paths=["x"] * 6,
        grid=np.arange(11.0),
        chunk_size=3,
        attrs={"cache_key": "k" * 64},
    )
    FeatureStore.write_chunk(st.path, 0, 0, _chunk(3, 11))
    FeatureStore.write_chunk(st.path, 1, 3, _chunk(3, 11))
    return folder, st


def test_a_partial_store_that_checks_out_is_resumed(tmp_path):
    folder, _ = _folder_with_partial(tmp_path)
    again, why = folder.open_partial("k" * 64, n_spectra=6, n_wavelengths=11)
    assert why is None and again.done_chunks().tolist() == [True, True]
    # another list or grid: not this store
    assert folder.open_partial("k" * 64, n_spectra=7, n_wavelengths=11)[1] == "6 spectra, not 7"
    assert (
        "wavelength: shape (11,), not (12,)"
        in folder.open_partial("k" * 64, n_spectra=6, n_wavelengths=12)[1]
    )


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda p: __import__("shutil").rmtree(p / "features"), "array features: missing"),
        (lambda p: (p / "status" / "zarr.json").write_text("{"), "array status: missing or"),
        (lambda p: (p / "zarr.json").write_bytes(b"\x00garbage"), "metadata unreadable"),
        (lambda p: (p / "zarr.json").unlink(), "metadata unreadable"),
    ],
)
def test_a_partial_store_that_does_not_check_out_is_not_resumed(tmp_path, damage, reason):
    folder, st = _folder_with_partial(tmp_path)
    damage(st.path)
    got, why = folder.open_partial("k" * 64, n_spectra=6, n_wavelengths=11)
    assert got is None and why.startswith(reason), why


def test_a_done_chunk_whose_rows_were_lost_is_done_again(tmp_path):
    folder, st = _folder_with_partial(tmp_path)
    for f in (st.path / "status").rglob("c/1*"):  # chunk 1 of status: its file lost
        f.unlink() if f.is_file() else __import__("shutil").rmtree(f)
    again, why = folder.open_partial("k" * 64, n_spectra=6, n_wavelengths=11)
    assert why is None and again.done_chunks().tolist() == [True, False]

"""The work of one task: read a block (with read-ahead) and preprocess it into store rows."""

from __future__ import annotations

import numpy as np

import vocloud.run.tasks as chunks
from vocloud.datasets import make_archive, make_broken_files
from vocloud.io import Spectrum
from vocloud.preprocess import PreprocessParams
from vocloud.store import STATUS_FAILED, STATUS_OK


def test_read_block_keeps_order_and_names_failures(tmp_path, monkeypatch):
    info = make_archive(tmp_path / "a", 30, layouts="lamost-dr8", seed=2, n_jobs=1)
    broken = tmp_path / "b"
    make_broken_files(broken)
    good = [str(info.path / p) for p in info.index["path"]]
    paths = [*good[:10], str(broken / "empty.fits"), str(tmp_path / "missing.fits"), *good[10:]]
    skip = [None] * len(paths)
    skip[3] = "duplicate id (same id as x)"
    for ahead in (0, 1, 4, 16, 100):  # the read-ahead window never changes the result
        monkeypatch.setattr(chunks, "READ_AHEAD", ahead)
        out = chunks.read_block(paths, skip)
        assert len(out) == len(paths)
        assert str(out[3]) == "duplicate id (same id as x)"
        assert str(out[10]) == "empty file"
        assert str(out[11]).startswith("cannot read")
        ok = [i for i in range(len(paths)) if i not in (3, 10, 11)]
        assert all(isinstance(out[i], Spectrum) for i in ok)
        assert out[0].meta["VOSYNID"] == info.index["vosynid"][0]
        assert out[-1].meta["VOSYNID"] == info.index["vosynid"].iloc[-1]


def test_compute_chunk_columns(tmp_path):
    info = make_archive(
        tmp_path / "a", 12, layouts="iraf-linear", seed=3, n_jobs=1, outlier_fraction=0.0
    )
    paths = [str(info.path / p) for p in info.index["path"]] + [str(tmp_path / "none.fits")]
    data = chunks.compute_chunk(paths, [None] * len(paths), PreprocessParams().to_dict())
    assert data.features.shape == (13, 1161)
    assert data.features.dtype == np.float32
    assert (data.columns["status"][:12] == STATUS_OK).all()
    assert data.columns["status"][12] == STATUS_FAILED
    assert data.columns["error"][12].startswith("cannot read")
    np.testing.assert_allclose(data.columns["s_ra"][:12], info.index["s_ra"], atol=1e-6)
    assert list(data.columns["layout"][:12]) == ["iraf-linear"] * 12
    assert list(data.columns["target"][:12]) == list(info.index["target"])
    assert np.isnan(data.features[12]).all()

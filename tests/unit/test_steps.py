"""The method interface: registry, cached step results, chaining, export (no cluster needed)."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import pytest
import xarray as xr

from vocloud.cli import main
from vocloud.experiment import summarize
from vocloud.interop.export import export, export_table
from vocloud.steps import Method, StepOutput, get_method, list_methods, register, run_step
from vocloud.store import STATUS_FAILED, STATUS_OK, ChunkData, FeatureStore

CALLS = {"n": 0}


@register
class _Scale(Method):
    """Test method: scaled row mean and a 2-column output."""

    name = "test-scale"
    defaults: ClassVar[dict] = {"factor": 1.0, "tag": "x"}

    def run(self, inputs, context, factor, tag):
        CALLS["n"] += 1
        mean = inputs.mean(inputs.dims[1]) * factor
        pair = xr.concat([mean, -mean], dim="k").transpose("spectrum", "k")
        ds = xr.Dataset({"row_mean": mean, "pair": pair.assign_coords(k=["a", "b"])})
        return StepOutput(
            ds,
            metrics={"factor": factor, "n_ok": int(context.ok.sum())},
            features="pair",
            files={"model.txt": tag.encode()},
        )


@register
class _Sum(Method):
    """Test method: sum of its input's columns."""

    name = "test-sum"
    defaults: ClassVar[dict] = {}

    def run(self, inputs, context):
        return StepOutput(xr.Dataset({"total": inputs.sum(inputs.dims[1])}))


@pytest.fixture
def experiment(tmp_path):
    exp = tmp_path / "halpha"
    exp.mkdir()
    n, m = 6, 4
    st = FeatureStore.create(
        exp / "features-k.zarr.partial",
        ids=[f"s{i}" for i in range(n)],
        paths=[f"s{i}.fits" for i in range(n)],
        grid=np.arange(m, dtype=float),
        chunk_size=n,
        attrs={"cache_key": "k"},
    )
    feats = np.arange(n * m, dtype="f4").reshape(n, m)
    status = np.full(n, STATUS_OK, "i1")
    status[2] = STATUS_FAILED
    feats[2] = np.nan
    cols = {
        "status": status,
        "error": np.array(["", "", "empty file", "", "", ""], dtype=object),
        "snr": np.ones(n, "f4"),
        "s_ra": np.zeros(n),
        "s_dec": np.zeros(n),
        "target": np.full(n, "T", dtype=object),
        "layout": np.full(n, "csv", dtype=object),
    }
    FeatureStore.write_chunk(st.path, 0, 0, ChunkData(feats, cols))
    final = st.finish(exp / "features-k.zarr", {})
    (exp / "experiment.json").write_text(json.dumps({"current": "features-k.zarr"}))
    return exp, final.path


def test_registry_and_params():
    assert get_method("test-scale").params({"factor": 2}) == {"factor": 2.0, "tag": "x"}
    with pytest.raises(ValueError, match=r"unknown parameters \['fcator'\]"):
        get_method("test-scale").params({"fcator": 2})
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        get_method("nope")
    names = [m["method"] for m in list_methods()]
    assert "test-scale" in names and "test-sum" in names


def test_step_cache_new_result_chaining_and_export(experiment, tmp_path):
    exp, fstore = experiment
    CALLS["n"] = 0
    r1 = run_step(exp, fstore, "test-scale", {"factor": 2})
    assert not r1.cached and CALLS["n"] == 1
    ds = r1.open()
    np.testing.assert_allclose(ds.row_mean.values[[0, 1]], [3.0, 11.0])
    assert np.isnan(ds.row_mean.values[2])
    assert r1.metrics == {"factor": 2.0, "n_ok": 5}
    assert (exp / "steps" / f"{r1.store.name}.model.txt").read_bytes() == b"x"
    r2 = run_step(exp, fstore, "test-scale", {"factor": 2.0})
    assert r2.cached and r2.key == r1.key and CALLS["n"] == 1
    r3 = run_step(exp, fstore, "test-scale", {"factor": 3})
    assert r3.key != r1.key and r1.store.exists() and r3.store.exists()
    # chaining: the next step takes the previous step's declared output
    r4 = run_step(exp, fstore, "test-sum", input="test-scale")
    np.testing.assert_allclose(r4.open().total.values[[0, 1]], [0.0, 0.0])
    with pytest.raises(ValueError, match="run that step first"):
        run_step(exp, fstore, "test-sum", input="pca-not-run")
    # a changed upstream parameter gives the downstream step a new key
    run_step(exp, fstore, "test-scale", {"factor": 5})
    r5 = run_step(exp, fstore, "test-sum", input="test-scale")
    assert r5.key != r4.key
    # export: one row per spectrum, every per-spectrum output
    df = export_table(exp)
    assert len(df) == 6
    assert {"id", "status", "error", "row_mean", "pair_a", "pair_b", "total"} <= set(df.columns)
    np.testing.assert_allclose(df["row_mean"].values[[0, 1]], [7.5, 27.5])  # latest: factor 5
    out = export(exp, tmp_path / "t.csv")
    assert out.read_text().splitlines()[0].startswith("id,status,error")
    from astropy.io.votable import parse_single_table

    vot = export(exp, tmp_path / "t.vot", format="votable")
    t = parse_single_table(str(vot)).to_table()
    assert len(t) == 6 and "pair_b" in t.colnames and t["error"][2] == "empty file"
    info = summarize(exp)
    assert [s["method"] for s in info["steps"]] == ["test-scale", "test-sum"]
    assert info["steps"][0]["metrics"]["factor"] == 5.0


def test_cli_methods_and_export(experiment, tmp_path, capsys):
    exp, fstore = experiment
    run_step(exp, fstore, "test-scale")
    assert main(["methods", "--json"]) == 0
    listed = {m["method"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["test-scale"]["params"] == {"factor": 1.0, "tag": "x"}
    assert main(["export", str(exp), "--format", "votable", "-o", str(tmp_path / "e.vot")]) == 0
    assert (tmp_path / "e.vot").exists()
    assert main(["export", str(exp), "--format", "csv"]) == 0
    assert (exp / "export.csv").exists()

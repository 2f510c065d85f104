"""The method interface: registry, cached step results, chaining, export (no cluster needed)."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from astropy.io.votable import parse_single_table

from vocloud.cli import main
from vocloud.interop.export import export, export_table
from vocloud.run.experiment import summarize
from vocloud.steps import Method, StepOutput, get_method, list_methods, register, run_step
from vocloud.store import STATUS_FAILED, STATUS_OK, ChunkData, FeatureStore

CALLS = {"n": 0}
N_SPECTRA = 6
#: the fixture's row means (features 0..23 in rows of 4; spectrum 2 failed)
ROW_MEAN = np.array([1.5, 5.5, np.nan, 13.5, 17.5, 21.5])


@register
class _Scale(Method):
    """Test method: scaled row mean and a 2-column output (the mean and twice the mean)."""

    name = "test-scale"
    defaults: ClassVar[dict] = {"factor": 1.0, "tag": "x"}

    def run(self, inputs, context, factor, tag):
        CALLS["n"] += 1
        mean = inputs.mean(inputs.dims[1]) * factor
        pair = xr.concat([mean, 2 * mean], dim="k").transpose("spectrum", "k")
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
        return StepOutput(xr.Dataset({"total": inputs.sum(inputs.dims[1], skipna=False)}))


@pytest.fixture
def experiment(tmp_path):
    exp = tmp_path / "halpha"
    exp.mkdir()
    n, m = N_SPECTRA, 4
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
    np.testing.assert_allclose(ds.row_mean.values, 2 * ROW_MEAN)
    assert r1.metrics == {"factor": 2.0, "n_ok": 5}
    assert (exp / "steps" / f"{r1.store.name}.model.txt").read_bytes() == b"x"
    r2 = run_step(exp, fstore, "test-scale", {"factor": 2.0})
    assert r2.cached and r2.key == r1.key and CALLS["n"] == 1
    r3 = run_step(exp, fstore, "test-scale", {"factor": 3})
    assert r3.key != r1.key and r1.store.exists() and r3.store.exists()
    # chaining: the next step takes the latest run of the previous step (factor 3): its sum of
    # (mean, 2 mean) is 3 * 3 * mean; an older upstream result would give other numbers
    r4 = run_step(exp, fstore, "test-sum", input="test-scale")
    np.testing.assert_allclose(r4.open().total.values, 9 * ROW_MEAN)
    with pytest.raises(ValueError, match="run that step first"):
        run_step(exp, fstore, "test-sum", input="pca-not-run")
    # a changed upstream parameter gives the downstream step a new key and new values
    run_step(exp, fstore, "test-scale", {"factor": 5})
    r5 = run_step(exp, fstore, "test-sum", input="test-scale")
    assert r5.key != r4.key and not r5.cached
    np.testing.assert_allclose(r5.open().total.values, 15 * ROW_MEAN)
    # back to an earlier upstream (its cached result): the downstream follows it
    assert run_step(exp, fstore, "test-scale", {"factor": 2}).cached
    r6 = run_step(exp, fstore, "test-sum", input="test-scale")
    np.testing.assert_allclose(r6.open().total.values, 6 * ROW_MEAN)
    assert run_step(exp, fstore, "test-scale", {"factor": 3}).cached
    r7 = run_step(exp, fstore, "test-sum", input="test-scale")
    assert r7.cached and r7.key == r4.key
    np.testing.assert_allclose(r7.open().total.values, 9 * ROW_MEAN)
    # export: one row per spectrum, every per-spectrum output of the latest steps (factor 3)
    df = export_table(exp)
    assert df["id"].tolist() == [f"s{i}" for i in range(N_SPECTRA)]
    assert df["status"].tolist() == [1, 1, 2, 1, 1, 1]
    assert df["error"].tolist() == ["", "", "empty file", "", "", ""]
    expected = {
        "row_mean": 3 * ROW_MEAN,
        "pair_a": 3 * ROW_MEAN,
        "pair_b": 6 * ROW_MEAN,
        "total": 9 * ROW_MEAN,
    }
    for col, values in expected.items():
        np.testing.assert_allclose(df[col].to_numpy(float), values, err_msg=col)
    # the files hold the same table: read back, compared with it column by column
    out = export(exp, tmp_path / "t.csv")
    back = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert back.columns.tolist() == df.columns.tolist()
    assert back.columns[:3].tolist() == ["id", "status", "error"]
    _assert_same_table(back, df)
    vot = export(exp, tmp_path / "t.vot", format="votable")
    t = parse_single_table(str(vot)).to_table()
    assert t.colnames == df.columns.tolist()
    _assert_same_table(t.to_pandas(), df)
    info = summarize(exp)
    assert [s["method"] for s in info["steps"]] == ["test-scale", "test-sum"]
    assert info["steps"][0]["metrics"]["factor"] == 3.0


def _assert_same_table(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Every column equal: numbers (NaN where NaN), text (missing = empty)."""
    assert len(got) == len(want)
    for col in want.columns:
        w, g = want[col], got[col]
        if pd.api.types.is_numeric_dtype(w):
            np.testing.assert_allclose(g.to_numpy(float), w.to_numpy(float), err_msg=col)
        else:
            text = ["" if v is None or v != v else str(v) for v in g.tolist()]  # v != v: NaN
            assert text == [str(v) for v in w.tolist()], col


def test_cli_methods_and_export(experiment, tmp_path, capsys):
    exp, fstore = experiment
    run_step(exp, fstore, "test-scale")
    assert main(["methods", "--json"]) == 0
    listed = {m["method"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["test-scale"]["params"] == {"factor": 1.0, "tag": "x"}
    assert main(["export", str(exp), "--format", "votable", "-o", str(tmp_path / "e.vot")]) == 0
    want = export_table(exp)
    np.testing.assert_allclose(want["row_mean"].to_numpy(float), ROW_MEAN)
    _assert_same_table(parse_single_table(str(tmp_path / "e.vot")).to_table().to_pandas(), want)
    assert main(["export", str(exp), "--format", "csv"]) == 0
    back = pd.read_csv(exp / "export.csv", keep_default_na=False, na_values=[""])
    _assert_same_table(back, want)

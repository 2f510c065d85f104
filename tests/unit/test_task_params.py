"""The tasks get the experiment's frozen parameter objects, parsed once, and parse nothing again."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vocloud.datasets import make_archive
from vocloud.fetch import FetchOptions
from vocloud.preprocess import PreprocessParams
from vocloud.run.experiment import Experiment
from vocloud.run.tasks import compute_block
from vocloud.testing import StaticServer

CLUSTER = {"n_workers": 1, "processes": False, "dashboard_address": None}


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a task parsed its parameters again")

    monkeypatch.setattr(PreprocessParams, "from_dict", classmethod(refuse))
    monkeypatch.setattr(FetchOptions, "from_dict", classmethod(refuse))


def _experiment(tmp_path: Path, server_url: str, names: list[str]) -> Experiment:
    exp = Experiment(
        {"directory": str(tmp_path / "archive"), "pattern": "**/*.fits"},
        {"cutout": {"center": 656.28, "half_width": 150, "unit": "nm", "half_width_unit": "AA"}},
        name="remote",
        store=tmp_path / "experiments",
        block_size=4,
        fetch={"retries": 1, "timeout": 10, "cache_dir": "raw"},
        base_dir=tmp_path,
    )
    # the same files, downloaded from a loopback HTTP server: the tasks use the fetch options
    exp.spectra = pd.DataFrame({"id": names, "access_url": [server_url + n for n in names]})
    return exp


@pytest.fixture
def archive(tmp_path: Path) -> list[str]:
    make_archive(tmp_path / "archive", 10, layouts="iraf-linear", n_jobs=1)
    return sorted(
        str(p.relative_to(tmp_path / "archive")) for p in (tmp_path / "archive").rglob("*.fits")
    )


def test_task_arguments_are_the_parsed_objects_and_pickle(
    tmp_path: Path, archive: list[str]
) -> None:
    with StaticServer(tmp_path / "archive") as server:
        exp = _experiment(tmp_path, server.url, archive)
        inputs = exp._task_inputs()
        block = inputs.block(np.arange(4))
    assert block.params is exp.params and isinstance(block.params, PreprocessParams)
    assert block.fetch_options is exp.fetch_options
    assert isinstance(block.fetch_options, FetchOptions)
    # units parsed once, to Angstrom floats: 656.28 nm
    params, options = block.params, block.fetch_options
    assert type(params.cutout.center) is float and params.cutout.center == pytest.approx(6562.8)
    assert options.cache_dir == str(tmp_path / "raw") and options.retries == 1
    # a task is sent its own rows only, not the whole list
    assert block.paths == inputs.paths[:4] and len(inputs.paths) == len(archive) > 4
    assert inputs.block(np.array([1, 5])).paths == [inputs.paths[1], inputs.paths[5]]
    back = pickle.loads(pickle.dumps(block))
    assert back.params == params and back.paths == block.paths
    assert back.max_size == block.max_size == exp.max_file_size
    assert repr(back.fetch_options) == repr(options)
    with pytest.raises(AttributeError):  # frozen: a task cannot change what the others get
        params.scale = "none"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        block.max_size = 1  # type: ignore[misc]


def test_tasks_parse_nothing(
    tmp_path: Path, archive: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with StaticServer(tmp_path / "archive") as server:
        exp = _experiment(tmp_path, server.url, archive)
        _ = exp.cache_key  # the spectra list hashed before from_dict is refused
        _no_parsing(monkeypatch)
        # one task in this process, then a whole run on an in-process cluster
        alone = compute_block(exp._task_inputs().block(np.arange(4)))  # chunk 0
        assert (alone.columns["status"] == 1).all(), alone.columns["error"]
        ds = exp.run(cluster_kwargs=CLUSTER, progress=False, verbose=False)
        lazy = exp.features()  # the complete store, opened
        assert int((ds.status == 1).sum()) == len(archive) == lazy.sizes["spectrum"]
        assert sum(server.hits.values()) >= len(archive)
    np.testing.assert_array_equal(ds.features.values[:4], alone.features)

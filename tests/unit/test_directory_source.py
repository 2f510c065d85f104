"""The directory source: recursive walk, glob patterns, ids, duplicates."""

from __future__ import annotations

import pandas as pd
import pytest

from vocloud.sources import DirectorySource, source_from_config
from vocloud.spectralist import duplicate_reasons, list_hash


def _touch(root, rel, data=b"x"):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def test_recursive_glob_and_ids(tmp_path):
    for rel in [
        "a.fits",
        "sub/b.fits",
        "sub/deep/c.fits.gz",
        "sub/d.csv",
        ".hidden/e.fits",
        "f.txt",
    ]:
        _touch(tmp_path, rel)
    src = DirectorySource(tmp_path, pattern=["**/*.fits", "**/*.fits.gz"])
    df = src.list()
    assert df["path"].tolist() == ["a.fits", "sub/b.fits", "sub/deep/c.fits.gz"]
    assert df["id"].tolist() == ["a.fits", "sub/b.fits", "sub/deep/c.fits"]
    assert all(p.startswith(str(tmp_path)) for p in df["access_url"])
    assert (df["size"] == 1).all()


def test_top_level_pattern_and_non_recursive(tmp_path):
    for rel in ["index.csv", "lamost/0001/x.csv", "y.fits", "sub/z.fits"]:
        _touch(tmp_path, rel)
    assert DirectorySource(tmp_path, pattern="*/**/*.csv").list()["id"].tolist() == [
        "lamost/0001/x.csv"
    ]
    assert DirectorySource(tmp_path, pattern="*.fits").list()["id"].tolist() == ["y.fits"]
    assert DirectorySource(tmp_path, pattern="**/*.fits", recursive=False).list()[
        "id"
    ].tolist() == ["y.fits"]


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        DirectorySource(tmp_path / "nope").list()


def test_duplicates_named():
    df = pd.DataFrame(
        {"id": ["a", "b", "a", "a"], "path": ["a.fits", "b", "a.fits.gz", "a.fits.xz"]}
    )
    assert duplicate_reasons(df).tolist() == [
        None,
        None,
        "duplicate id (same id as a.fits)",
        "duplicate id (same id as a.fits)",
    ]


def test_list_hash_changes_with_content(tmp_path):
    _touch(tmp_path, "a.fits", b"1")
    src = DirectorySource(tmp_path)
    h1 = list_hash(src.list())
    assert list_hash(src.list()) == h1
    _touch(tmp_path, "a.fits", b"22")
    assert list_hash(src.list()) != h1


def test_source_from_config_relative_and_errors(tmp_path):
    _touch(tmp_path, "spectra/a.fits")
    src = source_from_config({"directory": "spectra", "pattern": "*.fits"}, tmp_path)
    assert src.list()["id"].tolist() == ["a.fits"]
    with pytest.raises(ValueError, match="unknown keys"):
        source_from_config({"directory": "x", "patern": "*"}, tmp_path)
    with pytest.raises(ValueError, match="exactly one kind"):
        source_from_config({"nothing": 1}, tmp_path)

"""The real-archive corpus (tests/data/real/) is what PROVENANCE.md and trim.py say it is."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
NOT_DATA = {"PROVENANCE.md", "trim.py", ".gitattributes"}


@pytest.fixture(scope="module")
def trim():
    spec = importlib.util.spec_from_file_location("trim", REAL / "trim.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files() -> set[str]:
    return {
        p.relative_to(REAL).as_posix()
        for p in REAL.rglob("*")
        if p.is_file() and p.name not in NOT_DATA and "__pycache__" not in p.parts
    }


def test_every_file_has_a_source_and_a_provenance_row(trim):
    sources = {row[0]: row for row in trim.SOURCES}
    stated = trim.stated_rows()
    assert _files() == set(sources) == set(stated)
    for name, (_, repo, commit, path, licence, _cut, what) in sources.items():
        assert stated[name][1:6] == [what, repo, commit, path, licence], name
        assert len(commit) == 40 and int(commit, 16) >= 0, name


def test_files_are_small():
    # the bound: each under about 1 MB, trimmed where the format allows
    sizes = {name: (REAL / name).stat().st_size for name in _files()}
    assert max(sizes.values()) < 1_100_000, sizes

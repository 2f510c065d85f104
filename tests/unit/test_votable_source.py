"""Spectra lists from VOTables: column detection by utype, UCD and name; paths; errors."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io.votable.tree import Field, Resource, TableElement, VOTableFile

from vocloud.chunks import read_block
from vocloud.sources import VOTableSource, source_from_config


def _votable(path, columns, fmt="tabledata"):
    """Write a VOTable whose FIELDs carry the given (name, datatype, utype, ucd) and values."""
    vot = VOTableFile()
    res = Resource()
    vot.resources.append(res)
    table = TableElement(vot)
    res.tables.append(table)
    for name, datatype, utype, ucd, _ in columns:
        table.fields.append(
            Field(
                vot,
                name=name,
                datatype=datatype,
                arraysize="*" if datatype == "char" else None,
                utype=utype,
                ucd=ucd,
            )
        )
    n = len(columns[0][4])
    table.create_arrays(n)
    for i in range(n):
        table.array[i] = tuple(c[4][i] for c in columns)
    table.format = fmt
    vot.to_xml(str(path))
    return path


@pytest.mark.parametrize("fmt", ["tabledata", "binary2"])
def test_columns_by_utype(tmp_path, fmt):
    f = _votable(
        tmp_path / "l.xml",
        [
            ("link", "char", "obscore:Access.Reference", None, ["a.fits", "file:///data/b.fits"]),
            ("did", "char", "obscore:Curation.PublisherDID", None, ["ivo://x?a", "ivo://x?b"]),
            ("ra", "double", None, "pos.eq.ra", [1.0, 2.0]),
        ],
        fmt,
    )
    df = VOTableSource(f).list()
    assert df["id"].tolist() == ["ivo://x?a", "ivo://x?b"]
    assert df["access_url"].tolist() == [str(tmp_path / "a.fits"), "/data/b.fits"]
    np.testing.assert_allclose(df["ra"], [1.0, 2.0])


def test_columns_by_ucd_and_by_name(tmp_path):
    f = _votable(
        tmp_path / "u.xml",
        [
            ("u", "char", None, "meta.ref.url", ["http://h/s.fits"]),
            ("i", "char", None, "meta.ref.ivoid", ["ivo://y"]),
        ],
    )
    df = VOTableSource(f).list()
    assert df[["id", "access_url"]].values.tolist() == [["ivo://y", "http://h/s.fits"]]
    g = _votable(tmp_path / "n.xml", [("path", "char", None, None, ["x/s.fits"])])
    df = VOTableSource(g).list()
    assert df["id"].tolist() == ["x/s.fits"]  # no id column: the access reference is the id


def test_errors_name_the_file_and_the_columns(tmp_path):
    f = _votable(tmp_path / "bad.xml", [("flux", "double", None, None, [1.0])])
    with pytest.raises(ValueError, match=r"bad\.xml: no access column.*\['flux'\]"):
        VOTableSource(f).list()
    (tmp_path / "junk.xml").write_text("<html>no</html>")
    with pytest.raises(ValueError, match=r"junk\.xml"):
        VOTableSource(tmp_path / "junk.xml").list()
    with pytest.raises(FileNotFoundError, match=r"none\.xml"):
        VOTableSource(tmp_path / "none.xml").list()
    with pytest.raises(ValueError, match="unknown keys"):
        source_from_config({"votable": "x.xml", "acces_column": "a"}, tmp_path)


def test_archive_index_as_a_source_and_remote_rows_named(tmp_path):
    from vocloud.datasets import make_archive

    info = make_archive(tmp_path / "a", 8, layouts="iraf-linear", seed=4, n_jobs=1)
    src = source_from_config({"votable": "a/index.vot"}, tmp_path)
    df = src.list()
    assert df["id"].tolist() == info.index["id"].tolist()
    # a remote row that cannot be fetched (nothing listens on port 9 of loopback) is named
    remote = "http://127.0.0.1:9/s.fits"
    spectra = read_block([*df["access_url"], remote], [None] * 9, {"retries": 0, "timeout": 2.0})
    assert all(not isinstance(s, BaseException) for s in spectra[:8])
    assert isinstance(spectra[8], ValueError) and "connection" in str(spectra[8])

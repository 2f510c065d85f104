"""Spectra lists from VOTables: column detection by utype, UCD and name; paths; errors."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io.votable.tree import Field, Resource, TableElement, VOTableFile

from vocloud.run.tasks import read_block
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


_SAVED_TAP_RESULT = """<?xml version="1.0"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results"><TABLE>
<FIELD name="ssa_pubDID" ID="pubdid" datatype="char" arraysize="*" utype="ssa:Curation.PublisherDID"/>
<FIELD name="accref" datatype="char" arraysize="*" utype="ssa:Access.Reference"/>
<FIELD name="mime" datatype="char" arraysize="*"/>
<FIELD name="ssa_location" datatype="double" arraysize="2" ucd="pos.eq"/>
<FIELD name="ssa_specstart" datatype="double" unit="m"/>
<FIELD name="ssa_targname" datatype="char" arraysize="*"/>
<FIELD name="class_label" datatype="char" arraysize="*"/>
<DATA><TABLEDATA>
<TR><TD>ivo://x/~?a.fits</TD><TD>http://h/get/a.fits</TD><TD>image/fits</TD><TD>10.5 -3.25</TD><TD>6.3e-7</TD><TD>HD 1</TD><TD>be</TD></TR>
<TR><TD>ivo://x/~?b.fits</TD><TD>http://h/dl?ID=ivo%3A%2F%2Fx%2F~%3Fb.fits</TD><TD>application/x-votable+xml;content=datalink</TD><TD>11 4</TD><TD>6.3e-7</TD><TD>HD 2</TD><TD>normal</TD></TR>
</TABLEDATA></DATA></TABLE></RESOURCE>
<RESOURCE type="meta" utype="adhoc:service">
<PARAM name="standardID" datatype="char" arraysize="*" value="ivo://ivoa.net/std/DataLink#links-1.1"/>
<PARAM name="accessURL" datatype="char" arraysize="*" value="http://h/q/sdl/dlmeta"/>
<GROUP name="inputParams">
<PARAM name="ID" datatype="char" arraysize="*" value="" ref="pubdid"/>
</GROUP></RESOURCE>
</VOTABLE>
"""


def test_saved_query_result_gives_datalink_position_and_target(tmp_path):
    path = tmp_path / "result.xml"
    path.write_text(_SAVED_TAP_RESULT)
    df = VOTableSource(path).list()
    assert df["id"].tolist() == ["ivo://x/~?a.fits", "ivo://x/~?b.fits"]
    assert df["access_url"].tolist()[0] == "http://h/get/a.fits"
    # the service descriptor's ID parameter refers to the pubDID column
    assert df["datalink_url"].tolist() == [
        "http://h/q/sdl/dlmeta?ID=ivo%3A%2F%2Fx%2F~%3Fa.fits",
        "http://h/q/sdl/dlmeta?ID=ivo%3A%2F%2Fx%2F~%3Fb.fits",
    ]
    assert df["s_ra"].tolist() == [10.5, 11.0] and df["s_dec"].tolist() == [-3.25, 4.0]
    assert df["em_min"].tolist() == [6.3e-7, 6.3e-7]
    assert df["target"].tolist() == ["HD 1", "HD 2"]
    assert df["class_label"].tolist() == ["be", "normal"]
    assert df["access_format"].tolist()[1].endswith("content=datalink")


def test_access_url_that_is_a_datalink_document_becomes_the_datalink_url(tmp_path):
    text = _SAVED_TAP_RESULT.split('<RESOURCE type="meta"')[0] + "</VOTABLE>\n"
    path = tmp_path / "result.xml"
    path.write_text(text)
    df = VOTableSource(path).list()
    assert df["datalink_url"].tolist() == [None, df["access_url"][1]]


def test_votable_list_from_a_url_resolves_relative_references(tmp_path):
    import functools
    import http.server
    import threading

    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "result.xml").write_text(
        _SAVED_TAP_RESULT.replace("http://h/get/a.fits", "../spectra/a.fits")
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        src = source_from_config({"votable": f"{base}/lists/result.xml"})
        df = src.list()
        assert df["access_url"].tolist()[0] == f"{base}/spectra/a.fits"
        assert src.describe()["votable"] == f"{base}/lists/result.xml"
        with pytest.raises(ValueError, match="HTTP 404"):
            source_from_config({"votable": f"{base}/lists/missing.xml"}).list()
    finally:
        server.shutdown()
        server.server_close()

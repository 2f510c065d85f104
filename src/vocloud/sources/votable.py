"""A spectra list from a VOTable (e.g. made in TOPCAT, or saved from a TAP/SSAP query).

The access and id columns are found by utype, then UCD, then name; every other column passes
through to the spectra list.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pandas as pd

from vocloud.fetch import FetchError, FetchOptions, fetch
from vocloud.sources.columns import parse_votable, spectra_frame
from vocloud.sources.expand import expand_spectra, parse_expand


class VOTableSource:
    """Spectra listed in a VOTable file (TABLEDATA, BINARY or BINARY2).

    Parameters
    ----------
    location : str or Path
        The VOTable file, or its URL (http, https, ftp: downloaded with :func:`vocloud.fetch.fetch`,
        retried; relative access references are then relative to the URL).
    access_column, id_column : str, optional
        Column names, when the automatic search (utype ``...Access.Reference`` / UCD
        ``meta.ref.url`` / names such as ``access_url``; utype ``...PublisherDID`` / UCD
        ``meta.ref.ivoid`` / names such as ``obs_publisher_did``) is not what you want.
    expand : bool or str
        As for :class:`~vocloud.sources.DirectorySource`: each spectrum of a local file of many
        (``True``), and each order of an echelle file (``"orders"``), becomes a row addressed
        ``file#<fragment>``; remote entries are not opened at listing and stay one row.

    Notes
    -----
    Relative paths in the access column are relative to the VOTable's folder; ``file://`` URLs
    become paths. Without an id column, the access reference is the id.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astropy.table import Table
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> t = Table({"obs_publisher_did": ["ivo://x?1"], "access_url": ["a.fits"], "s_ra": [10.0]})
    >>> t.write(d / "list.xml", format="votable")
    >>> VOTableSource(d / "list.xml").list()[["id", "path"]].values.tolist()
    [['ivo://x?1', 'a.fits']]
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        *,
        access_column: str | None = None,
        id_column: str | None = None,
        expand: bool | str = False,
    ) -> None:
        text = os.fspath(location)
        self.url = text if text.split("://", 1)[0].lower() in ("http", "https", "ftp") else None
        self.location = Path(location) if self.url is None else None
        self.access_column = access_column
        self.id_column = id_column
        self.expand = parse_expand(expand, "source.votable")

    def describe(self) -> dict[str, Any]:
        """JSON-able description for provenance."""
        return {
            "votable": self.url if self.url is not None else str(self.location.resolve()),
            "access_column": self.access_column,
            "id_column": self.id_column,
            "expand": self.expand,
        }

    def list(self) -> pd.DataFrame:
        """Read the VOTable and return the spectra list (``id``, ``access_url``, ``path``, ...);
        with ``expand``, one row per spectrum of each local file of many.

        Raises
        ------
        ValueError
            When the file is not a VOTable with a table, or no access column is found (the
            message lists the columns).
        """
        spectra = self._rows()
        return spectra if self.expand is None else expand_spectra(spectra, self.expand)

    def _rows(self) -> pd.DataFrame:
        """The table's rows as a spectra list, one per row."""
        if self.url is not None:
            try:
                data = fetch(self.url, FetchOptions(retries=2, timeout=60.0))
            except FetchError as exc:
                raise ValueError(f"VOTable list {exc.url}: {exc.reason}") from None
            vot, table = parse_votable(io.BytesIO(data), self.url)
            return spectra_frame(
                vot,
                table,
                where=self.url,
                base_url=self.url,
                access_column=self.access_column,
                id_column=self.id_column,
            )
        try:
            vot, table = parse_votable(str(self.location), str(self.location))
        except FileNotFoundError:
            raise FileNotFoundError(f"VOTable list {self.location}: no such file") from None
        return spectra_frame(
            vot,
            table,
            where=str(self.location),
            base=self.location.resolve().parent,
            access_column=self.access_column,
            id_column=self.id_column,
        )

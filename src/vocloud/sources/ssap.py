"""Spectra from a Simple Spectral Access (SSAP) service, through pyvo's ``SSAService``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import astropy.units as u
import pandas as pd
import pyvo
from astropy.coordinates import SkyCoord
from astropy.time import Time

from vocloud.sources.tap import results_to_spectra, run_query


class SSAPSource:
    """Spectra found by an SSA query (position, size, band, time, target).

    ``accref`` (the access URL) and the DataLink columns are kept: with a DataLink service the
    spectra can be fetched as SODA cutouts (``fetch: {cutout: server}``).

    Parameters
    ----------
    url : str
        The SSA service, e.g. ``http://localhost:8080/vospec/q/ssa/ssap.xml``.
    pos : (ra, dec), optional
        Degrees, ICRS.
    size : float, optional
        Diameter of the search region, degrees (SSA's SIZE).
    band : (low, high), optional
        A Quantity, or two numbers in ``band_unit``.
    band_unit : str
        Unit of a plain-number ``band`` (default Angstrom; SSA itself speaks metres).
    time : (start, end), optional
        ISO 8601 strings or astropy Times.
    target : str, optional
        SSA ``TARGETNAME``.
    maxrec : int, optional
        The most rows wanted; a cut result warns.
    params : dict, optional
        Further SSA parameters, sent as they are (e.g. ``{"COLLECTION": "x"}``).
    access_column, id_column : str, optional
        Override the automatic column search.

    Examples
    --------
    >>> src = SSAPSource("http://localhost:8080/vospec/q/ssa/ssap.xml", pos=(10.0, 20.0), size=1.0)
    >>> src.describe()["size"]
    1.0
    >>> spectra = src.list()  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        *,
        pos: Sequence[float] | None = None,
        size: float | None = None,
        band: Any = None,
        band_unit: str = "Angstrom",
        time: Sequence[Any] | None = None,
        target: str | None = None,
        maxrec: int | None = None,
        params: dict[str, Any] | None = None,
        access_column: str | None = None,
        id_column: str | None = None,
    ) -> None:
        if pos is not None and len(pos) != 2:
            raise ValueError(f"source.ssap: pos must be [ra, dec] in degrees, not {pos!r}")
        if size is not None and float(size) <= 0:
            raise ValueError(f"source.ssap: size must be > 0 degrees, not {size!r}")
        if band is not None:
            q = band if isinstance(band, u.Quantity) else u.Quantity(list(band), band_unit)
            if q.shape != (2,):
                raise ValueError(f"source.ssap: band must be (low, high), not {band!r}")
            band = q
        self.url = url
        self.pos = None if pos is None else (float(pos[0]), float(pos[1]))
        self.size = None if size is None else float(size)
        self.band = band
        self.time = None if time is None else tuple(time)
        self.target = target
        self.maxrec = None if maxrec is None else int(maxrec)
        self.params = dict(params or {})
        self.access_column = access_column
        self.id_column = id_column

    def describe(self) -> dict[str, Any]:
        """JSON-able description for provenance."""
        return {
            "ssap": self.url,
            "pos": self.pos,
            "size": self.size,
            "band_m": None if self.band is None else self.band.to_value(u.m).tolist(),
            "time": None if self.time is None else [str(t) for t in self.time],
            "target": self.target,
            "maxrec": self.maxrec,
            "params": self.params,
        }

    def list(self) -> pd.DataFrame:
        """Run the SSA query and return the spectra list.

        Raises
        ------
        VOServiceError
            When the service answers with an error.
        """

        kwargs: dict[str, Any] = dict(self.params)
        if self.pos is not None:
            kwargs["pos"] = SkyCoord(self.pos[0], self.pos[1], unit="deg")
        if self.size is not None:
            kwargs["diameter"] = self.size * u.deg
        if self.band is not None:
            kwargs["band"] = self.band
        if self.time is not None:
            kwargs["time"] = Time(list(self.time))
        if self.target is not None:
            kwargs["TARGETNAME"] = self.target
        if self.maxrec is not None:
            kwargs["MAXREC"] = self.maxrec
        where = f"SSAP {self.url}"
        service = pyvo.dal.SSAService(self.url)
        res = run_query(lambda: service.search(**kwargs), where)
        return results_to_spectra(
            res,
            where,
            access_column=self.access_column,
            id_column=self.id_column,
            maxrec=self.maxrec,
        )

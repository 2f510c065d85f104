"""An ObsCore helper: spectra from ``ivoa.obscore`` of a TAP service, by collection, position,
band and target, without writing ADQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import astropy.units as u

from vocloud.sources.tap import TAPSource


def _adql_string(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _band_metres(band: Any, unit: str | u.UnitBase) -> tuple[float, float]:
    q = band if isinstance(band, u.Quantity) else u.Quantity(list(band), unit)
    if q.shape != (2,):
        raise ValueError(f"obscore: band must be two values (low, high), got {band!r}")
    lo, hi = sorted(q.to_value(u.m, equivalencies=u.spectral()).tolist())
    # 6600 Angstrom is 6.600000000000001e-07 m in binary: print what the user meant
    return float(f"{lo:.12g}"), float(f"{hi:.12g}")


def obscore_query(
    *,
    collection: str | Sequence[str] | None = None,
    pos: tuple[float, float] | None = None,
    radius: float | None = None,
    band: Any = None,
    band_unit: str = "Angstrom",
    target: str | None = None,
    where: str | None = None,
    columns: str = "*",
    table: str = "ivoa.obscore",
) -> str:
    """The ADQL for spectra in an ObsCore table.

    Parameters
    ----------
    collection : str or list of str, optional
        ``obs_collection`` value(s).
    pos : (ra, dec), optional
        Centre of a cone, degrees (ICRS); needs ``radius``.
    radius : float, optional
        Cone radius, degrees.
    band : (low, high), optional
        A spectral range the spectra must overlap: a Quantity, or two numbers in ``band_unit``.
    band_unit : str
        Unit of a plain-number ``band`` (ObsCore stores metres; Angstrom is the default here).
    target : str, optional
        ``target_name`` value.
    where : str, optional
        Extra ADQL condition, ANDed.
    columns : str
        The SELECT list.
    table : str
        The ObsCore table.

    Examples
    --------
    >>> print(obscore_query(collection="Ondrejov", pos=(10.0, 20.0), radius=0.5,
    ...                     band=(6500, 6600)))
    SELECT * FROM ivoa.obscore WHERE dataproduct_type = 'spectrum' AND obs_collection = 'Ondrejov' AND 1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', 10.0, 20.0, 0.5)) AND em_min <= 6.6e-07 AND em_max >= 6.5e-07
    """
    conds = ["dataproduct_type = 'spectrum'"]
    if collection is not None:
        if isinstance(collection, str):
            conds.append(f"obs_collection = {_adql_string(collection)}")
        else:
            names = ", ".join(_adql_string(c) for c in collection)
            conds.append(f"obs_collection IN ({names})")
    if pos is not None or radius is not None:
        if pos is None or radius is None:
            raise ValueError("obscore: pos and radius go together")
        ra, dec = (float(v) for v in pos)
        conds.append(
            f"1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', {ra!r}, {dec!r}, "
            f"{float(radius)!r}))"
        )
    if band is not None:
        lo, hi = _band_metres(band, band_unit)
        conds.append(f"em_min <= {hi!r} AND em_max >= {lo!r}")
    if target is not None:
        conds.append(f"target_name = {_adql_string(target)}")
    if where:
        conds.append(f"({where})")
    return f"SELECT {columns} FROM {table} WHERE " + " AND ".join(conds)


class ObsCoreSource(TAPSource):
    """Spectra from the ObsCore table of a TAP service (``dataproduct_type = 'spectrum'``).

    Parameters
    ----------
    url : str
        The TAP service.
    collection, pos, radius, band, band_unit, target, where, columns, table
        As for :func:`obscore_query`.
    **kwargs
        ``mode``, ``maxrec``, ``uploads``, ``timeout`` ... as for
        :class:`~vocloud.sources.tap.TAPSource`.

    Examples
    --------
    >>> src = ObsCoreSource("http://localhost:8080/tap", collection="SynSpec")
    >>> src.query
    "SELECT * FROM ivoa.obscore WHERE dataproduct_type = 'spectrum' AND obs_collection = 'SynSpec'"
    """

    def __init__(
        self,
        url: str,
        *,
        collection: str | Sequence[str] | None = None,
        pos: tuple[float, float] | None = None,
        radius: float | None = None,
        band: Any = None,
        band_unit: str = "Angstrom",
        target: str | None = None,
        where: str | None = None,
        columns: str = "*",
        table: str = "ivoa.obscore",
        **kwargs: Any,
    ) -> None:
        query = obscore_query(
            collection=collection,
            pos=pos,
            radius=radius,
            band=band,
            band_unit=band_unit,
            target=target,
            where=where,
            columns=columns,
            table=table,
        )
        super().__init__(url, query, **kwargs)

    def describe(self) -> dict[str, Any]:
        """JSON-able description for provenance."""
        d = super().describe()
        d["obscore"] = d.pop("tap")
        return d

"""What a spectrum address (the ``#`` fragment of ``path#TARGETID=<id>``, ``#FIBERID=<n>``,
``#ORDER=<m>``, ``#<row>``; docs/layouts.md, "Files of many spectra") picks in a file: the row
of a file of many (``desi-coadd``, ``desi-spectra``, ``sdss-spplate``) or the order of an
echelle file (``iraf-multispec``, ``hst-x1d``, ``crires-extracted``), refusing an address that
names none or several.

The readers of those layouts use it; listing the addresses and reading many spectra of one
file is :mod:`vocloud.io.fitslayouts.address`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vocloud.io.spectrum import Spectrum, SpectrumFormatError

#: the id columns whose values address one spectrum of a file of many (docs/layouts.md): a
#: spectra-* file holds a target once per exposure, so TARGETID alone is not an address there
ADDRESS_KEYS = {
    "desi-coadd": ("TARGETID",),
    "desi-spectra": ("TARGETID", "EXPID"),
    "sdss-spplate": ("FIBERID",),
}

#: the layouts whose files hold echelle orders an address ``ORDER=<m>`` picks one of: the
#: order number m is the beam number of a multispec ``specN`` string, an x1d row's ``SPORDER``,
#: a CRIRES+ order's ``ESO QC REALORDERn`` (else its cr2res order index)
ORDER_LAYOUTS = ("iraf-multispec", "hst-x1d", "crires-extracted")


def _one_order(whole: Spectrum, part: Spectrum, order: int, extra: dict[str, Any]) -> Spectrum:
    """Order ``part`` of a file of orders as a spectrum of its own: one segment, the file's
    metadata plus ``ORDER`` (and what ``extra`` adds)."""
    part.meta = {**whole.meta, **extra, "ORDER": int(order)}
    part.segments = ((0, len(part)),)
    return part


def _ranges_text(values: np.ndarray) -> str:
    """Integers as sorted ranges, for messages.

    Examples
    --------
    >>> _ranges_text(np.array([88, 87, 86, 3, 1]))
    '1, 3, 86-88'
    """
    v = sorted(set(int(x) for x in values))
    runs: list[list[int]] = []
    for x in v:
        if runs and x == runs[-1][1] + 1:
            runs[-1][1] = x
        else:
            runs.append([x, x])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def _select_order(orders: np.ndarray, select: str, source: str) -> int:
    """The row of the order that ``select`` (``ORDER=<m>`` or ``<row>``) addresses; an order
    the file does not hold fails naming those it holds."""
    try:
        return _select_row({"ORDER": orders}, select, source)
    except SpectrumFormatError as exc:
        if exc.reason.startswith("no ORDER"):
            raise SpectrumFormatError(
                source, f"{exc.reason} (it holds orders {_ranges_text(orders)})"
            ) from None
        raise


def _address_ids(layout: str, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The id columns that address a row of a file of many spectra, in address order."""
    return {k: columns[k] for k in ADDRESS_KEYS[layout] if k in columns}


def _fragment(ids: dict[str, np.ndarray], row: int) -> str:
    return ",".join(f"{k}={int(v[row])}" for k, v in ids.items())


def _select_row(ids: dict[str, np.ndarray], select: str | None, source: str) -> int:
    """The row that ``select`` addresses: ``None`` (a file of one row), ``"<row>"``, or
    ``"KEY=<n>[,KEY=<n>...]"`` with keys among ``ids`` (``ID`` is the first). An address that
    several rows match is refused, naming them and how to address one -- never the first."""
    keys = list(ids)
    n = len(ids[keys[0]])
    if select is None or select == "":
        if n == 1:
            return 0
        form = ",".join(f"{k}=<{k.lower()}>" for k in keys)
        raise SpectrumFormatError(
            source,
            f"file holds {n} spectra: address one as <file>#{form} "
            f"(e.g. #{_fragment(ids, 0)}) or <file>#<row>, or list each of them with the "
            "directory source's option expand: true",
        )
    select = str(select).strip()
    if "=" not in select:
        try:
            row = int(select)
        except ValueError:
            raise SpectrumFormatError(source, f"bad spectrum address #{select}") from None
        if not 0 <= row < n:
            raise SpectrumFormatError(source, f"row {row} is not in the file's {n} spectra")
        return row
    wanted: dict[str, int] = {}
    for part in select.split(","):
        key, _, value = part.partition("=")
        key = key.strip().upper()
        key = keys[0] if key == "ID" else key
        if key not in ids:
            raise SpectrumFormatError(source, f"cannot select by {key!r} (use {', '.join(keys)})")
        try:
            wanted[key] = int(value)
        except ValueError:
            raise SpectrumFormatError(source, f"bad spectrum address #{select}") from None
    hit = np.ones(n, dtype=bool)
    for key, value in wanted.items():
        hit &= ids[key] == value
    rows = np.flatnonzero(hit)
    said = ",".join(f"{k}={v}" for k, v in wanted.items())
    if rows.size == 0:
        if len(wanted) == 1:
            key, value = next(iter(wanted.items()))
            raise SpectrumFormatError(source, f"no {key} {value} in the file")
        raise SpectrumFormatError(source, f"no spectrum with {said} in the file")
    if rows.size > 1:
        rest = [k for k in keys if k not in wanted]
        which = "; ".join(
            f"row {r}" + "".join(f" {k} {int(ids[k][r])}" for k in rest) for r in rows[:10]
        )
        more = f" and {rows.size - 10} more" if rows.size > 10 else ""
        how = (
            f"#{said},{','.join(f'{k}=<{k.lower()}>' for k in rest)} or #<row>"
            if rest
            else "#<row>"
        )
        raise SpectrumFormatError(
            source,
            f"{said} names {rows.size} spectra ({which}{more}): address one as {how}",
        )
    return int(rows[0])

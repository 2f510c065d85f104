"""Files of many spectra in a spectra list: one row per spectrum, addressed ``file#<fragment>``.

A DESI coadd holds hundreds of targets, an SDSS spPlate 640-1000 fibres; read without an address
such a file is refused. A file source with ``expand`` lists each spectrum of such a file by its
address instead (:func:`vocloud.io.read.list_spectra`, which reads headers and id columns only).
It is opt-in: expanding opens every listed file, which a folder of a million single-spectrum
files should not pay for.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from vocloud.io.read import list_spectra
from vocloud.spectralist import SpectraList

__all__ = ["EXPAND_VALUES", "expand_spectra", "parse_expand"]

#: what ``expand`` accepts, and the ``by`` of :func:`vocloud.io.read.list_spectra` each means
EXPAND_VALUES: dict[Any, str | None] = {
    False: None,
    None: None,
    "none": None,
    True: "spectrum",
    "spectra": "spectrum",
    "orders": "order",
}


def parse_expand(value: Any, where: str = "source") -> str | None:
    """The ``expand`` option of a source as the ``by`` of :func:`vocloud.io.read.list_spectra`:
    ``None`` (off, the default), ``"spectrum"`` (``true`` or ``spectra``: each spectrum of a file
    of many) or ``"order"`` (``orders``: also each order of an echelle file).

    Examples
    --------
    >>> parse_expand(True), parse_expand(False), parse_expand("orders")
    ('spectrum', None, 'order')
    >>> parse_expand("yes", "source.directory")
    Traceback (most recent call last):
    ...
    ValueError: source.directory: expand must be true, false, spectra or orders, not 'yes'
    """
    key = value.strip().lower() if isinstance(value, str) else value
    if isinstance(key, bool) or key is None or isinstance(key, str):
        if key in EXPAND_VALUES:
            return EXPAND_VALUES[key]
    raise ValueError(f"{where}: expand must be true, false, spectra or orders, not {value!r}")


def expand_spectra(spectra: SpectraList, by: str = "spectrum") -> SpectraList:
    """Each row of ``spectra`` whose ``access_url`` is a local file of many spectra becomes one
    row per spectrum: ``access_url``, ``id`` and ``path`` get the spectrum's ``#<fragment>``
    (``#TARGETID=<id>``, ``#FIBERID=<n>``, ``#ORDER=<m>`` with ``by="order"``...), the other
    columns are copied; the spectra of a file stay together, in file order (a task then reads
    the file once for all of its spectra in its block).

    Remote entries (``scheme://``) and files of one spectrum are kept as they are, and so is a
    file that cannot be opened or parsed: its read fails later, in the run, with the reason.

    Parameters
    ----------
    spectra : pandas.DataFrame
        A spectra list (``id``, ``access_url``, optional ``path`` ...).
    by : {"spectrum", "order"}
        As in :func:`vocloud.io.read.list_spectra`.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import os, tempfile, numpy as np, pandas as pd
    >>> from astropy.io import fits
    >>> ech = fits.PrimaryHDU(np.ones((2, 3), dtype=np.float32))
    >>> ech.header.update(CTYPE1="MULTISPE", WAT0_001="system=multispec",
    ...     WAT2_001='wtype=multispec spec1 = "1 61 0 6500. 1. 3 0. 1. 2." spec2 = "2 60 0 6600. 1.',
    ...     WAT2_002=' 3 0. 3. 4."')
    >>> path = os.path.join(tempfile.mkdtemp(), "ech.fits")
    >>> ech.writeto(path)
    >>> df = pd.DataFrame({"id": ["ech.fits"], "access_url": [path], "path": ["ech.fits"]})
    >>> expand_spectra(df, by="order")["id"].tolist()
    ['ech.fits#ORDER=61', 'ech.fits#ORDER=60']
    >>> expand_spectra(df)["id"].tolist()
    ['ech.fits']
    """
    if len(spectra) == 0:
        return spectra
    urls = spectra["access_url"].astype(str).tolist()
    frags: list[list[str] | None] = []
    for url in urls:
        if "://" in url:
            frags.append(None)
            continue
        try:
            addresses = list_spectra(url, by=by)
        except Exception:  # listed as the file: the run records why it cannot be read
            addresses = [url]
        frags.append([a[len(url) + 1 :] for a in addresses] if addresses != [url] else None)
    if all(f is None for f in frags):
        return spectra
    take = [i for i, f in enumerate(frags) for _ in (f or [None])]
    tails = [f"#{x}" if x is not None else "" for f in frags for x in (f or [None])]
    out = spectra.iloc[take].reset_index(drop=True)
    hit = pd.Series([t != "" for t in tails])
    suffix = pd.Series(tails, dtype=object)
    for col in ("id", "access_url", "path"):
        if col in out:
            values = out[col].astype(object)
            values[hit] = values[hit].astype(str) + suffix[hit]
            out[col] = values
    return out

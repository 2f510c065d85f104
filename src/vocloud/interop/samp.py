"""Send spectra and tables to SPLAT, TOPCAT or any SAMP client through a SAMP hub.

:func:`send_spectrum` sends one spectrum (``spectrum.load.ssa-generic``), :func:`send_table`
a spectra list or a feature-store selection (``table.load.votable``). Both write what they
send to a VOTable in a vocloud temporary folder (kept until the process exits: receivers
read the file after the call has returned) and use :mod:`astropy.samp`, either through a
client the caller already connected or through one connected for the call (to a given hub,
else to the hub of the standard lockfile) and disconnected afterwards.

Examples
--------
To a running TOPCAT through the hub of the standard lockfile (needs TOPCAT, a desktop
application):

>>> from vocloud.interop.samp import send_table
>>> import pandas as pd
>>> send_table(pd.DataFrame({"id": ["a", "b"]}), recipient="topcat")  # doctest: +SKIP
['cli#2']

:func:`send_table` and :func:`send_spectrum` show the same against a hub and a receiving
client started in-process.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import shutil
import tempfile
import threading
import uuid
import warnings
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
from astropy.io.votable.tree import Param, VOTableFile
from astropy.table import Table

from vocloud.io import Spectrum

if TYPE_CHECKING:  # astropy.samp warns (deprecated in astropy 8) on import: import it lazily
    import xarray as xr
    from astropy.samp import SAMPHubServer, SAMPIntegratedClient

__all__ = [
    "SAMPDeliveryError",
    "SAMPRecipientError",
    "send_spectrum",
    "send_table",
    "temp_folder",
    "to_table",
]

SPECTRUM_MTYPE = "spectrum.load.ssa-generic"
TABLE_MTYPE = "table.load.votable"
VOTABLE_FORMAT = "application/x-votable+xml"
#: Seconds each recipient has to load the file and reply (a big table takes TOPCAT a while).
DEFAULT_TIMEOUT = 30.0

#: Access.Format by (lower-case) file suffix, ``.gz`` stripped first.
_FORMATS = {
    ".fits": "application/fits",
    ".fit": "application/fits",
    ".fts": "application/fits",
    ".fz": "application/fits",
    ".xml": VOTABLE_FORMAT,
    ".vot": VOTABLE_FORMAT,
    ".votable": VOTABLE_FORMAT,
    ".csv": "text/csv",
}


class SAMPRecipientError(LookupError):
    """No registered SAMP client matches the requested recipient (or none can take the MType)."""


class SAMPDeliveryError(RuntimeError):
    """A recipient did not take the message: no reply in time, an error reply, or it went away.

    Attributes
    ----------
    delivered : list of str
        The ids of the recipients that did take it (a broadcast goes on past a failure).
    failures : dict of str to str
        The reason, by recipient id.
    """

    def __init__(self, message: str, delivered: list[str], failures: dict[str, str]) -> None:
        super().__init__(message)
        self.delivered = delivered
        self.failures = failures


# ---------------------------------------------------------------------------- temporary files

_TEMP_LOCK = threading.Lock()
_TEMP_DIR: Path | None = None


def temp_folder() -> Path:
    """The vocloud SAMP temporary folder, made on first use and removed when the process exits.

    Returns
    -------
    pathlib.Path
        A private folder (``vocloud-samp-*`` in the system temporary folder).

    Examples
    --------
    >>> temp_folder().is_dir()
    True
    """
    global _TEMP_DIR
    with _TEMP_LOCK:
        if _TEMP_DIR is None or not _TEMP_DIR.is_dir():
            _TEMP_DIR = Path(tempfile.mkdtemp(prefix="vocloud-samp-"))
            atexit.register(shutil.rmtree, str(_TEMP_DIR), True)
        return _TEMP_DIR


def _temp_path(stem: str, suffix: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:60] or "vocloud"
    return temp_folder() / f"{safe}-{uuid.uuid4().hex[:8]}{suffix}"


# ---------------------------------------------------------------------------- connecting


def _samp() -> Any:
    """The :mod:`astropy.samp` module, imported without its astropy 8 deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import astropy.samp as samp
    return samp


@contextlib.contextmanager
def _connected(
    hub: SAMPHubServer | str | os.PathLike[str] | None,
    client: SAMPIntegratedClient | None,
) -> Iterator[SAMPIntegratedClient]:
    """``client`` as given (left connected), else a new one connected for the block."""
    if client is not None:
        if not client.hub.is_connected:  # (``is_connected`` is False for non-callable clients)
            raise ConnectionError("the given SAMP client is not connected to a hub")
        yield client
        return
    samp = _samp()
    own = samp.SAMPIntegratedClient(
        name="vocloud",
        description="vocloud: mining astronomical spectra archives",
        callable=False,  # callAndWait is answered through the hub: no XML-RPC server of its own
    )
    if hub is None:
        own.connect()
    elif isinstance(hub, (str, os.PathLike)):
        from astropy.samp.lockfile_helpers import read_lockfile

        own.connect(hub_params=read_lockfile(os.fspath(hub)))
    else:
        own.connect(hub=hub)
    try:
        yield own
    finally:
        _disconnect(own)


def _disconnect(client: SAMPIntegratedClient) -> None:
    """Unregister and disconnect a non-callable client (its ``disconnect()`` is a no-op)."""
    if not client.hub.is_connected:
        return
    try:
        with contextlib.suppress(Exception):  # hub already gone: nothing to unregister from
            client.client.unregister()
    finally:
        with contextlib.suppress(Exception):
            client.hub.disconnect()


def _client_name(client: SAMPIntegratedClient, cid: str) -> str:
    try:
        meta = client.get_metadata(cid)
    except Exception:  # a client that went away between the two calls
        return ""
    return str(meta.get("samp.name", "") or "")


def _resolve(client: SAMPIntegratedClient, mtype: str, recipient: str) -> list[str]:
    """Client ids for ``recipient``: a registered client id, else a ``samp.name`` substring."""
    registered = [c for c in client.get_registered_clients() if c != client.get_public_id()]
    subscribed = set(client.get_subscribed_clients(mtype))
    if recipient in registered:
        if recipient not in subscribed:
            raise SAMPRecipientError(f"SAMP client {recipient!r} does not accept {mtype}")
        return [recipient]
    names = {cid: _client_name(client, cid) for cid in registered}
    wanted = recipient.strip().lower()
    matches = [cid for cid, n in names.items() if wanted and wanted in n.lower()]
    if not matches:
        known = ", ".join(f"{n or '?'} ({cid})" for cid, n in names.items()) or "none"
        raise SAMPRecipientError(
            f"no SAMP client named like {recipient!r} is registered with the hub "
            f"(registered: {known})"
        )
    exact = [cid for cid in matches if names[cid].lower() == wanted]
    matches = exact or matches
    able = [cid for cid in matches if cid in subscribed]
    if not able:
        which = ", ".join(f"{names[c]} ({c})" for c in matches)
        raise SAMPRecipientError(f"SAMP client(s) {which} do not accept {mtype}")
    return able


def _call(client: SAMPIntegratedClient, cid: str, message: dict[str, Any], timeout: float) -> str:
    """Call ``cid`` and wait for its reply: ``""`` when it took the message, else the reason."""
    # The SAMP timeout is whole seconds, and "0" means "wait for ever" to the hub.
    seconds = str(max(1, math.ceil(timeout)))
    try:
        response = client.call_and_wait(cid, message, seconds)
    except xmlrpc.client.Fault as exc:
        text = str(exc.faultString)
        if "timeout" in text.lower():
            return f"no reply within {seconds} s"
        return f"the hub refused the call: {text}"
    except OSError as exc:  # the hub went away while waiting
        return f"the hub cannot be reached: {exc}"
    status = response.get("samp.status") if isinstance(response, dict) else None
    if status == "samp.error":
        error = response.get("samp.error") or {}
        return f"it replied with an error: {error.get('samp.errortxt', '(no text)')}"
    if status not in ("samp.ok", "samp.warning"):
        return "no reply (the hub stopped waiting)"
    if status == "samp.warning":
        error = response.get("samp.error") or {}
        warnings.warn(
            f"SAMP client {cid} took {message['samp.mtype']} with a warning: "
            f"{error.get('samp.errortxt', '(no text)')}",
            stacklevel=4,
        )
    return ""


def _send(
    message: dict[str, Any],
    recipient: str | None,
    hub: SAMPHubServer | str | os.PathLike[str] | None,
    client: SAMPIntegratedClient | None,
    timeout: float,
) -> list[str]:
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    with _connected(hub, client) as c:
        mtype = message["samp.mtype"]
        if recipient is None:
            me = c.get_public_id()
            ids = [str(k) for k in c.get_subscribed_clients(mtype) if k != me]
            if not ids:
                raise SAMPRecipientError(f"no SAMP client registered with the hub accepts {mtype}")
        else:
            ids = _resolve(c, mtype, recipient)
        # One recipient after the other: a hub proxy is one XML-RPC connection, not thread-safe.
        failures = {cid: reason for cid in ids if (reason := _call(c, cid, message, timeout))}
        if failures:
            names = {cid: _client_name(c, cid) for cid in failures}
            said = "; ".join(f"{names[cid] or '?'} ({cid}): {r}" for cid, r in failures.items())
            delivered = [cid for cid in ids if cid not in failures]
            raise SAMPDeliveryError(
                f"SAMP client(s) did not take {mtype}: {said}", delivered, failures
            )
        return ids


# ---------------------------------------------------------------------------- spectra


def _write_spectrum(spectrum: Spectrum, name: str) -> Path:
    wave = spectrum.wavelength_aa
    flux = np.asarray(spectrum.flux)
    if flux.dtype.kind != "f":
        flux = flux.astype(np.float64)
    cols: dict[str, np.ndarray] = {"spectral": wave, "flux": flux}
    if spectrum.ivar is not None:
        ivar = np.asarray(spectrum.ivar, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            cols["flux_error"] = np.where(ivar > 0, 1.0 / np.sqrt(ivar), np.nan).astype(flux.dtype)
    table = Table(cols)
    table["spectral"].unit = "Angstrom"
    vot = VOTableFile.from_table(table)
    res_table = vot.get_first_table()
    utypes = {
        "spectral": ("em.wl", "spec:Spectrum.Data.SpectralAxis.Value"),
        "flux": ("phot.flux.density;em.wl", "spec:Spectrum.Data.FluxAxis.Value"),
        "flux_error": (
            "stat.error;phot.flux.density;em.wl",
            "spec:Spectrum.Data.FluxAxis.Accuracy.StatError",
        ),
    }
    for f in res_table.fields:
        f.ucd, f.utype = utypes[f.name]
    res_table.name = name
    res_table.params.append(
        Param(vot, name="Target.Name", datatype="char", arraysize="*", value=name)
    )
    path = _temp_path(name, ".vot")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # VOUnit prefers "0.1nm" to the "Angstrom" SDM asks for
        vot.to_xml(str(path), tabledata_format="binary2")
    return path


def _as_url(location: str | os.PathLike[str]) -> str:
    text = os.fspath(location)
    scheme = urlparse(text).scheme.lower()
    if len(scheme) > 1:  # http, https, ftp, file... (one letter: a Windows drive)
        return text
    return Path(text).expanduser().resolve().as_uri()


def _guess_format(url: str) -> str | None:
    name = urlparse(url).path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return _FORMATS.get(Path(name).suffix)


def send_spectrum(
    spectrum_or_url: Spectrum | str | os.PathLike[str],
    *,
    name: str | None = None,
    recipient: str | None = None,
    hub: SAMPHubServer | str | os.PathLike[str] | None = None,
    client: SAMPIntegratedClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[str]:
    """Send one spectrum to SPLAT (or any client taking ``spectrum.load.ssa-generic``).

    Parameters
    ----------
    spectrum_or_url : vocloud.io.Spectrum, str or os.PathLike
        A spectrum, written to a temporary VOTable (IVOA Spectrum Data Model: FIELDs
        ``spectral`` in Angstrom and ``flux``, plus ``flux_error`` when it has an inverse
        variance); or the URL or path of a spectrum file, sent as is with its format guessed
        from the name (``.fits`` -> ``application/fits``, ``.vot``/``.xml`` -> VOTable,
        ``.csv`` -> ``text/csv``; ``.gz`` is looked through).
    name : str, optional
        The name shown by the receiver; defaults to the file name of the spectrum's source.
    recipient : str, optional
        ``None`` broadcasts to every client subscribed to the MType; else a client id
        (``"cli#2"``) or a name matched case-insensitively against the ``samp.name`` of the
        registered clients (``"splat"``, ``"topcat"``).
    hub : astropy.samp.SAMPHubServer, str or os.PathLike, optional
        The hub to connect to (or the path of its lockfile) when ``client`` is not given;
        default: the hub of the standard lockfile (``SAMP_HUB`` or ``~/.samp``).
    client : astropy.samp.SAMPIntegratedClient, optional
        An already connected client to send with (left connected). Without it a client is
        connected for the call and disconnected afterwards.
    timeout : float, default 30
        Seconds each recipient has to reply (rounded up to whole seconds, as SAMP counts).

    Returns
    -------
    list of str
        The ids of the clients that took the spectrum (replied ``samp.ok`` or ``samp.warning``).

    Raises
    ------
    SAMPRecipientError
        No registered client matches ``recipient`` or accepts the MType.
    SAMPDeliveryError
        A recipient did not reply within ``timeout``, replied with an error or went away; the
        message names each one and its reason.
    astropy.samp.SAMPHubError
        No hub is running (when ``client`` is not given).

    Examples
    --------
    A hub and a SPLAT-like client on loopback, in this process (a real SPLAT replies the same
    way once it has loaded the spectrum):

    >>> import contextlib, io, tempfile, warnings
    >>> import numpy as np, astropy.units as u
    >>> from vocloud.io import Spectrum
    >>> with warnings.catch_warnings():  # astropy.samp is deprecated in astropy 8
    ...     warnings.simplefilter("ignore")
    ...     from astropy.samp import SAMPHubServer, SAMPIntegratedClient
    >>> hub = SAMPHubServer(web_profile=False, addr="127.0.0.1",
    ...                     lockfile=f"{tempfile.mkdtemp()}/samp.lock")
    >>> quiet = contextlib.redirect_stdout(io.StringIO())  # the hub logs to stdout
    >>> with quiet:
    ...     hub.start()
    >>> splat = SAMPIntegratedClient(name="SPLAT-VO", addr="127.0.0.1")
    >>> splat.connect(hub=hub)
    >>> got = []
    >>> def load(private_key, sender_id, msg_id, mtype, params, extra):
    ...     got.append(params["name"])
    ...     splat.ereply(msg_id, "samp.ok", result={})
    >>> splat.bind_receive_call("spectrum.load.ssa-generic", load)
    >>> s = Spectrum(np.linspace(4000, 5000, 100) * u.AA, np.ones(100), source="x.fits")
    >>> send_spectrum(s, recipient="splat", hub=hub) == [splat.get_public_id()]
    True
    >>> _ = send_spectrum("https://example.org/spec/1.fits", hub=hub)  # to every taker
    >>> got
    ['x.fits', '1.fits']
    >>> splat.disconnect()
    >>> with quiet:
    ...     hub.stop()
    """
    if isinstance(spectrum_or_url, Spectrum):
        source = spectrum_or_url.source
        label = name or (Path(source).name if source and source != "<bytes>" else "spectrum")
        path = _write_spectrum(spectrum_or_url, label)
        url: str = path.as_uri()
        fmt: str | None = VOTABLE_FORMAT
    else:
        url = _as_url(spectrum_or_url)
        label = name or (Path(urlparse(url).path).name or url)
        fmt = _guess_format(url)
    meta: dict[str, str] = {"Access.Reference": url, "Target.Name": label}
    if fmt is not None:
        meta["Access.Format"] = fmt
    params = {"url": url, "meta": meta, "spectrum-id": url, "name": label}
    message = {"samp.mtype": SPECTRUM_MTYPE, "samp.params": params}
    return _send(message, recipient, hub, client, timeout)


# ---------------------------------------------------------------------------- tables


def _dataset_frame(ds: xr.Dataset, features: bool) -> pd.DataFrame:
    """One row per spectrum: id, status, error, the other per-spectrum coords and variables."""
    dim = "spectrum"
    if dim not in ds.dims:
        raise ValueError(
            f"a feature store selection needs a {dim!r} dimension, got {tuple(ds.dims)}"
        )
    cols: dict[str, np.ndarray] = {}
    per_spectrum = [
        k for k, v in {**ds.coords, **ds.data_vars}.items() if v.dims == (dim,) and k != dim
    ]
    first = [k for k in ("id", "status", "error") if k in per_spectrum]
    for k in first + [k for k in per_spectrum if k not in first]:
        cols[str(k)] = np.asarray(ds[k].values)
    frame = pd.DataFrame(cols)
    if features and "features" in ds:
        feats = ds["features"].transpose(dim, ...)
        if feats.ndim != 2:
            raise ValueError(f"features must be 2-D (spectrum, wavelength), got {feats.dims}")
        other = feats.dims[1]
        waves = np.asarray(ds[other].values) if other in ds.coords else np.arange(feats.shape[1])
        names = [f"f_{np.format_float_positional(float(w), trim='-')}" for w in waves]
        matrix = pd.DataFrame(np.asarray(feats.values), columns=names, index=frame.index)
        frame = pd.concat([frame, matrix], axis=1)
    return frame


def _object_column(values: pd.Series) -> np.ndarray | np.ma.MaskedArray:
    """An object column as a (masked) string array; missing values masked."""
    missing = values.isna().to_numpy()
    text = np.array(["" if m else str(v) for v, m in zip(values, missing, strict=True)], dtype=str)
    if text.dtype.itemsize == 0:
        text = text.astype("U1")
    return np.ma.MaskedArray(text, mask=missing) if missing.any() else text


def _votable_safe(arr: Any) -> Any:
    """``arr`` in a dtype VOTable can hold (no int8, uint16/32/64: widened)."""
    dtype = np.asarray(arr).dtype
    if dtype.kind == "i" and dtype.itemsize == 1:
        return arr.astype(np.int16)
    if dtype.kind == "u" and dtype.itemsize > 1:
        if dtype.itemsize < 8:
            return arr.astype(np.dtype(f"i{dtype.itemsize * 2}"))
        return arr.astype(np.float64) if np.max(arr, initial=0) >= 2**63 else arr.astype(np.int64)
    if dtype.kind == "f" and dtype.itemsize == 2:
        return arr.astype(np.float32)
    return arr


def to_table(
    table: pd.DataFrame | xr.Dataset,
    *,
    features: bool = False,
) -> Any:
    """The :class:`astropy.table.Table` :func:`send_table` writes.

    Parameters
    ----------
    table : pandas.DataFrame or xarray.Dataset
        A spectra list (every column, the index dropped unless named) or a feature store
        selection (one row per spectrum: ``id``, ``status``, ``error`` then the other
        per-spectrum coords and variables).
    features : bool, default False
        For a Dataset, also one column ``f_<wavelength>`` per wavelength of ``features``.

    Returns
    -------
    astropy.table.Table

    Examples
    --------
    >>> import pandas as pd
    >>> to_table(pd.DataFrame({"id": ["a", "b"], "n": [1, 2]})).colnames
    ['id', 'n']
    """
    if isinstance(table, pd.DataFrame):
        frame = table
        if frame.index.name is not None or isinstance(frame.index, pd.MultiIndex):
            frame = frame.reset_index()
    else:
        frame = _dataset_frame(table, features)
    out = Table()
    for col in frame.columns:
        series = frame[col]
        key = str(col)
        if key in out.colnames:
            raise ValueError(f"duplicate column name {key!r}")
        if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
            out[key] = _object_column(series)
        elif isinstance(series.dtype, pd.CategoricalDtype):
            out[key] = _object_column(series.astype(object))
        elif pd.api.types.is_datetime64_any_dtype(series.dtype):
            out[key] = _object_column(series.astype(object).where(series.notna(), None))
        elif isinstance(series.dtype, pd.api.extensions.ExtensionDtype):  # nullable ints...
            np_dtype = getattr(series.dtype, "numpy_dtype", None)
            if np_dtype is None:
                out[key] = _object_column(series.astype(object))
                continue
            missing = series.isna().to_numpy()
            fill = np.nan if np_dtype.kind == "f" else 0
            arr = series.to_numpy(dtype=np_dtype, na_value=fill)
            arr = _votable_safe(arr)
            out[key] = np.ma.MaskedArray(arr, mask=missing) if missing.any() else arr
        else:
            out[key] = _votable_safe(series.to_numpy())
    return out


def send_table(
    table: pd.DataFrame | xr.Dataset,
    *,
    name: str = "vocloud",
    recipient: str | None = None,
    hub: SAMPHubServer | str | os.PathLike[str] | None = None,
    client: SAMPIntegratedClient | None = None,
    features: bool = False,
    table_id: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[str]:
    """Send a spectra list or a feature store selection to TOPCAT (``table.load.votable``).

    The table is written as a BINARY2 VOTable to the vocloud temporary folder
    (:func:`temp_folder`) and its ``file://`` URL sent.

    Parameters
    ----------
    table : pandas.DataFrame or xarray.Dataset
        A spectra list (:class:`pandas.DataFrame`) or a selection of a feature store
        (:func:`vocloud.store.open_store`): one row per spectrum with ``id``, ``status``,
        ``error`` and the other per-spectrum coords, not the features (see ``features``).
    name : str, default "vocloud"
        The table name shown by the receiver.
    recipient : str, optional
        ``None`` broadcasts; else a client id or a (case-insensitive, substring) ``samp.name``
        such as ``"topcat"``.
    hub : astropy.samp.SAMPHubServer, str or os.PathLike, optional
        The hub (or its lockfile path) to connect to when ``client`` is not given; default:
        the standard lockfile.
    client : astropy.samp.SAMPIntegratedClient, optional
        An already connected client (left connected).
    features : bool, default False
        For a Dataset, add the features matrix as columns ``f_<wavelength>``.
    table_id : str, optional
        The ``table-id`` parameter; defaults to a fresh ``vocloud-<hex>`` id.
    timeout : float, default 30
        Seconds each recipient has to load the table and reply (rounded up to whole seconds).

    Returns
    -------
    list of str
        The ids of the clients that took the table (replied ``samp.ok`` or ``samp.warning``).

    Raises
    ------
    SAMPRecipientError
        No registered client matches ``recipient`` or accepts the MType.
    SAMPDeliveryError
        A recipient did not reply within ``timeout``, replied with an error or went away; the
        message names each one and its reason.

    Examples
    --------
    A hub and a TOPCAT-like client on loopback, in this process; a feature store selection
    (``vocloud.store.open_store(path).isel(spectrum=slice(0, 100))``) is sent the same way:

    >>> import contextlib, io, tempfile, warnings
    >>> import pandas as pd
    >>> from astropy.table import Table
    >>> with warnings.catch_warnings():  # astropy.samp is deprecated in astropy 8
    ...     warnings.simplefilter("ignore")
    ...     from astropy.samp import SAMPHubServer, SAMPIntegratedClient
    >>> hub = SAMPHubServer(web_profile=False, addr="127.0.0.1",
    ...                     lockfile=f"{tempfile.mkdtemp()}/samp.lock")
    >>> quiet = contextlib.redirect_stdout(io.StringIO())  # the hub logs to stdout
    >>> with quiet:
    ...     hub.start()
    >>> topcat = SAMPIntegratedClient(name="TOPCAT", addr="127.0.0.1")
    >>> topcat.connect(hub=hub)
    >>> tables = []
    >>> def load(private_key, sender_id, msg_id, mtype, params, extra):
    ...     tables.append(Table.read(params["url"], format="votable"))
    ...     topcat.ereply(msg_id, "samp.ok", result={})
    >>> topcat.bind_receive_call("table.load.votable", load)
    >>> spectra = pd.DataFrame({"id": ["a", "b"], "snr": [12.5, 3.0]})
    >>> send_table(spectra, recipient="topcat", hub=hub) == [topcat.get_public_id()]
    True
    >>> tables[0]["id"].tolist(), tables[0]["snr"].tolist()  # loaded before send_table returned
    (['a', 'b'], [12.5, 3.0])
    >>> send_table(spectra, recipient="aladin", hub=hub)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vocloud.interop.samp.SAMPRecipientError: no SAMP client named like 'aladin' ... TOPCAT (cli#1))
    >>> topcat.disconnect()
    >>> with quiet:
    ...     hub.stop()
    """
    astropy_table = to_table(table, features=features)
    astropy_table.meta.clear()
    path = _temp_path(name, ".vot")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. W50/W17 about unusual names or units
        astropy_table.write(str(path), format="votable", tabledata_format="binary2", overwrite=True)
    tid = table_id or f"vocloud-{uuid.uuid4().hex[:12]}"
    params = {"url": path.as_uri(), "name": name, "table-id": tid}
    return _send(
        {"samp.mtype": TABLE_MTYPE, "samp.params": params}, recipient, hub, client, timeout
    )

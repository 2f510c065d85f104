"""vocloud.interop.samp against a real astropy SAMP hub on loopback (no web profile)."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from vocloud.interop.samp import (
    SAMPDeliveryError,
    SAMPRecipientError,
    send_spectrum,
    send_table,
    temp_folder,
    to_table,
)
from vocloud.io import Spectrum, read_spectrum

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # astropy.samp is deprecated in astropy 8
    from astropy.samp import SAMPHubServer, SAMPIntegratedClient
    from astropy.table import Table

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyDeprecationWarning"),
]

ADDR = "127.0.0.1"


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _path(url: str) -> str:
    parsed = urlparse(url)
    assert parsed.scheme == "file", url
    return url2pathname(parsed.path)


class Receiver:
    """A TOPCAT-like client reading every table and spectrum it is sent, replying to calls."""

    def __init__(self, name: str) -> None:
        self.client = SAMPIntegratedClient(name=name, addr=ADDR)
        self.lock = threading.Lock()
        self.tables: list[tuple[dict[str, Any], Table]] = []
        self.spectra: list[tuple[dict[str, Any], Spectrum]] = []
        self.errors: list[BaseException] = []

    def _reply(self, msg_id: str | None, exc: BaseException | None) -> None:
        if msg_id is None:  # a notification
            return
        if exc is None:
            self.client.ereply(msg_id, "samp.ok", result={})
        else:  # as TOPCAT does when it cannot load the file
            self.client.ereply(msg_id, "samp.error", error={"samp.errortxt": str(exc)})

    def on_table(self, private_key, sender_id, msg_id, mtype, params, extra) -> None:
        err = None
        try:
            t = Table.read(params["url"], format="votable")
            with self.lock:
                self.tables.append((params, t))
        except BaseException as exc:  # surfaced by the test, not lost in the hub thread
            err = exc
            with self.lock:
                self.errors.append(exc)
        self._reply(msg_id, err)

    def on_spectrum(self, private_key, sender_id, msg_id, mtype, params, extra) -> None:
        err = None
        try:
            s = read_spectrum(_path(params["url"]))
            with self.lock:
                self.spectra.append((params, s))
        except BaseException as exc:
            err = exc
            with self.lock:
                self.errors.append(exc)
        self._reply(msg_id, err)

    def connect(self, hub: SAMPHubServer) -> None:
        self.client.connect(hub=hub)
        self.client.bind_receive_message("table.load.votable", self.on_table)
        self.client.bind_receive_message("spectrum.load.ssa-generic", self.on_spectrum)

    @property
    def id(self) -> str:
        return self.client.get_public_id()

    def got(self, attr: str, n: int = 1) -> bool:
        with self.lock:
            return bool(self.errors) or len(getattr(self, attr)) >= n


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[SAMPHubServer]:
    server = SAMPHubServer(web_profile=False, lockfile=str(tmp_path / "samp.lock"), addr=ADDR)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def receiver(hub: SAMPHubServer) -> Iterator[Receiver]:
    r = Receiver("TOPCAT-like")
    try:
        r.connect(hub)
        yield r
    finally:
        if r.client.is_connected:
            r.client.disconnect()


@pytest.fixture
def sender(hub: SAMPHubServer) -> Iterator[SAMPIntegratedClient]:
    c = SAMPIntegratedClient(name="test-sender", addr=ADDR)
    try:
        c.connect(hub_params=hub.params)
        yield c
    finally:
        if c.is_connected:
            c.disconnect()


def _spectra_list() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "access_url": ["http://x/a.fits", "http://x/b.fits", None],
            "path": ["a.fits", "b.fits", "c.fits"],
            "snr": [10.5, np.nan, 3.0],
            "n": [1, 2, 3],
        }
    )


def test_send_table_dataframe_broadcast(hub, receiver, sender):
    ids = send_table(_spectra_list(), name="my list", client=sender)
    assert ids == [receiver.id]
    assert _wait(lambda: receiver.got("tables"))
    assert not receiver.errors
    params, t = receiver.tables[0]
    assert params["name"] == "my list"
    assert params["table-id"]
    assert t.colnames == ["id", "access_url", "path", "snr", "n"]
    assert list(t["id"]) == ["a", "b", "c"]
    assert str(np.ma.filled(t["access_url"], "")[2]) == ""  # null (astropy reads it as "")
    assert list(t["n"]) == [1, 2, 3]
    np.testing.assert_allclose(np.ma.filled(t["snr"], np.nan), [10.5, np.nan, 3.0])
    assert Path(_path(params["url"])).parent == temp_folder()
    assert Path(_path(params["url"])).exists()  # kept after the call


def test_send_table_dataset_via_hub(hub, receiver, tmp_path):
    wl = np.array([4000.0, 4000.5, 4001.0])
    ds = xr.Dataset(
        {"features": (("spectrum", "wavelength"), np.arange(12, dtype=np.float32).reshape(4, 3))},
        coords={
            "id": ("spectrum", ["s0", "s1", "s2", "s3"]),
            "path": ("spectrum", ["p0", "p1", "p2", "p3"]),
            "status": ("spectrum", np.array([0, 0, 1, 0], dtype=np.int8)),
            "error": ("spectrum", ["", "", "truncated FITS", ""]),
            "wavelength": ("wavelength", wl),
        },
    )
    sel = ds.isel(spectrum=[0, 2, 3])
    ids = send_table(sel, name="store", hub=hub, recipient="topcat")  # own client, by name
    assert ids == [receiver.id]
    assert _wait(lambda: receiver.got("tables"))
    assert not receiver.errors
    _, t = receiver.tables[0]
    assert t.colnames == ["id", "status", "error", "path"]
    assert list(t["id"]) == ["s0", "s2", "s3"]
    assert list(t["status"]) == [0, 1, 0]
    assert str(t["error"][1]) == "truncated FITS"

    lockfile = tmp_path / "samp.lock"  # the hub fixture's lockfile, given as a path
    send_table(sel, name="store+f", hub=lockfile, features=True)
    assert _wait(lambda: receiver.got("tables", 2))
    assert not receiver.errors
    _, t = receiver.tables[1]
    names = [  # the per-call clients have unregistered
        receiver.client.get_metadata(c).get("samp.name")
        for c in receiver.client.get_registered_clients()
    ]
    assert "vocloud" not in names
    assert t.colnames[4:] == ["f_4000", "f_4000.5", "f_4001"]
    np.testing.assert_array_equal(
        np.array([t[c] for c in t.colnames[4:]]).T, sel["features"].values
    )


def test_send_spectrum_round_trips(hub, receiver, sender):
    wave = np.linspace(3900.0, 9000.0, 500)
    flux = np.random.default_rng(1).normal(size=500).astype(np.float32)
    s = Spectrum(wave * u.AA, flux, ivar=np.full(500, 4.0), layout="test", source="/d/spec-1.fits")
    ids = send_spectrum(s, client=sender, recipient="TOPCAT")
    assert ids == [receiver.id]
    assert _wait(lambda: receiver.got("spectra"))
    assert not receiver.errors
    params, got = receiver.spectra[0]
    assert params["meta"]["Access.Format"] == "application/x-votable+xml"
    assert params["name"] == "spec-1.fits"
    np.testing.assert_array_equal(got.wavelength_aa, wave)
    np.testing.assert_array_equal(got.flux, flux)
    np.testing.assert_allclose(got.ivar, 4.0)


def test_send_spectrum_nm_converted_to_angstrom(hub, receiver, sender):
    s = Spectrum(np.array([400.0, 500.0]) * u.nm, np.array([1.0, 2.0]))
    send_spectrum(s, client=sender, name="nm")
    assert _wait(lambda: receiver.got("spectra"))
    _, got = receiver.spectra[0]
    np.testing.assert_allclose(got.wavelength_aa, [4000.0, 5000.0])


def test_send_spectrum_url_as_is(hub, tmp_path, sender):
    seen: list[dict[str, Any]] = []

    def on_spectrum(private_key, sender_id, msg_id, mtype, params, extra) -> None:
        seen.append(params)
        r.ereply(msg_id, "samp.ok", result={})

    r = SAMPIntegratedClient(name="SPLAT-VO", addr=ADDR)
    try:
        r.connect(hub=hub)
        r.bind_receive_call("spectrum.load.ssa-generic", on_spectrum)
        ids = send_spectrum("https://example.org/s/1.fits.gz", client=sender, recipient="splat")
        assert ids == [r.get_public_id()]
        f = tmp_path / "local.vot"
        f.write_text("x")
        send_spectrum(f, client=sender, recipient=r.get_public_id())  # by id
        assert _wait(lambda: len(seen) >= 2)
    finally:
        r.disconnect()
    assert seen[0]["url"] == "https://example.org/s/1.fits.gz"
    assert seen[0]["meta"]["Access.Format"] == "application/fits"
    assert seen[1]["url"] == f.resolve().as_uri()
    assert seen[1]["meta"]["Access.Format"] == "application/x-votable+xml"


def test_unknown_recipient_is_a_clear_error(hub, receiver, sender):
    with pytest.raises(SAMPRecipientError, match=r"no SAMP client named like 'splat'.*TOPCAT-like"):
        send_table(_spectra_list(), client=sender, recipient="splat")
    with pytest.raises(SAMPRecipientError, match="no SAMP client named like"):
        send_spectrum("https://example.org/1.fits", hub=hub, recipient="aladin")


def test_broadcast_with_no_subscriber_is_an_error(hub, sender):
    with pytest.raises(SAMPRecipientError, match=r"accepts table\.load\.votable"):
        send_table(_spectra_list(), client=sender)


def test_to_table_nullable_and_index():
    df = pd.DataFrame(
        {"n": pd.array([1, None, 3], dtype="Int64")}, index=pd.Index([5, 6, 7], name="k")
    )
    t = to_table(df)
    assert t.colnames == ["k", "n"]
    assert list(np.ma.getmaskarray(t["n"])) == [False, True, False]


def _delay_hub_delivery(hub: SAMPHubServer, monkeypatch: pytest.MonkeyPatch, delay: float) -> None:
    """Start every delivery thread of the real hub ``delay`` s late, as on a loaded machine."""
    launch = hub._launch_thread

    def late_launch(group=None, target=None, name=None, args=None):
        def late(*a: Any) -> None:
            time.sleep(delay)
            target(*a)

        launch(group=group, target=late, name=name, args=args)

    monkeypatch.setattr(hub, "_launch_thread", late_launch)


def test_own_client_waits_for_a_late_hub_delivery(hub, receiver, monkeypatch):
    _delay_hub_delivery(hub, monkeypatch, 0.3)
    t0 = time.monotonic()
    ids = send_table(_spectra_list(), name="late", hub=hub, recipient="topcat")
    assert time.monotonic() - t0 >= 0.3  # returned only once the receiver had it
    assert ids == [receiver.id]
    assert receiver.got("tables")  # at once: send_table waited for the reply
    assert not receiver.errors
    assert receiver.tables[0][0]["name"] == "late"

    s = Spectrum(np.array([4000.0, 4001.0]) * u.AA, np.array([1.0, 2.0]), source="/d/late.fits")
    assert send_spectrum(s, hub=hub) == [receiver.id]  # broadcast, own client too
    assert receiver.got("spectra")
    assert receiver.spectra[0][0]["name"] == "late.fits"


def test_no_reply_in_time_names_the_recipient(hub, receiver):
    mute = SAMPIntegratedClient(name="Aladin-mute", addr=ADDR)
    try:
        mute.connect(hub=hub)
        # subscribed, takes the call, never replies
        mute.bind_receive_call("table.load.votable", lambda *a: None)
        t0 = time.monotonic()
        with pytest.raises(
            SAMPDeliveryError, match=r"Aladin-mute \(cli#\d+\): no reply within 1 s"
        ) as info:
            send_table(_spectra_list(), hub=hub, timeout=0.5)  # broadcast: both clients
        assert time.monotonic() - t0 >= 1.0  # SAMP counts whole seconds
        assert info.value.delivered == [receiver.id]  # the other recipient still got it
        assert list(info.value.failures) == [mute.get_public_id()]
        assert receiver.got("tables")
    finally:
        mute.disconnect()


def test_error_reply_names_the_recipient_and_its_reason(hub, receiver):
    # the receiver reads only file:// URLs, and replies samp.error as TOPCAT does
    with pytest.raises(
        SAMPDeliveryError, match=r"TOPCAT-like \(cli#\d+\): it replied with an error"
    ):
        send_spectrum("https://example.org/s/1.fits", hub=hub, recipient="topcat")
    with pytest.raises(ValueError, match="timeout must be > 0"):
        send_spectrum("https://example.org/s/1.fits", hub=hub, timeout=0)

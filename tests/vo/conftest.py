"""The VO-server tier: tests against a real GAVO DaCHS on 127.0.0.1:8080 (``make test-vo``).

``scripts/vo-server/ensure.sh`` installs DaCHS (Debian package ``gavodachs2-server``) with
PostgreSQL, imports the resource ``vospec/q`` (``scripts/vo-server/vospec.rd``) with synthetic
spectra from :mod:`vocloud.datasets` (``scripts/vo-server/make_data.py``), starts the server and
writes ``server.json`` into its state directory (``$VOCLOUD_VO_STATE``, default
``/tmp/vocloud-vo-server``); when it cannot, it writes the reason to ``skip-reason`` there.

Every test in ``tests/vo`` is marked ``vo`` (by tests/conftest.py) (``make test-unit`` deselects them).

Fixtures
--------
``dachs`` (session): a frozen :class:`DachsServer`. When the server is not reachable the test
    skips with the reason ensure.sh gave, or FAILS under ``CI=true``. Its API (kept stable):

    - ``base_url``  ``"http://localhost:8080"``
    - ``tap_url``   ``"http://localhost:8080/tap"`` (sync, async, uploads)
    - ``ssap_url``  ``"http://localhost:8080/vospec/q/ssap/ssap.xml"``
    - ``datalink_service_url`` ``".../vospec/q/dl/dlmeta"``; ``soda_service_url`` ``".../vospec/q/dl/dlget"``
    - ``table``     ``"vospec.ssa"``: the SSA view in TAP, one row per spectrum; ``ssa_pubDID`` is the
      id, ``class_label`` the class (a :data:`vocloud.datasets.CLASSES` name or ``"outlier"``)
    - ``obscore_collection`` ``"vocloud-synth"`` (``ivoa.obscore.obs_collection``)
    - ``authority`` ``"vocloud.test"``; ``pubdid_prefix`` ``"ivo://vocloud.test/~?vospec/data/"``
    - ``n_spectra`` (1000 by default)
    - ``labels``    pandas DataFrame, columns ``id`` (publisher DID = ``obs_publisher_did`` =
      ``ssa_pubDID``) and ``class``, one row per spectrum, in spectrum order
    - ``spectra``   pandas DataFrame: ``id``, ``class``, ``accref`` and the truth (``outlier_kind``,
      ``target``, ``ra``, ``dec``, ``snr``, ``rv``, ``resolving_power``, ``n_pixels``,
      ``wl_min``/``wl_max`` in Angstrom (air), ``date_obs``)
    - ``data_dir``  :class:`pathlib.Path` of the FITS files the server reads
      (``/var/gavo/inputs/vospec/data``)
    - ``datalink_url(pubdid)`` the DataLink document URL of one spectrum
    - ``soda_url(pubdid, band=None)`` the SODA sync URL (whole spectrum, or a BAND cutout given in
      Angstrom as ``(lo, hi)``), answering an SDM VOTable with columns ``spectral`` (Angstrom), ``flux``
    - ``path_of(pubdid)`` the local FITS file behind a publisher DID

``ivoa_vocabularies`` (session, autouse): puts the DataLink vocabulary that pyvo ships (a copy of
    http://www.ivoa.net/rdf/datalink/core) into the astropy download cache when it is not there, so
    ``DatalinkResults.bysemantics`` (and ``SSARecord.getdataset``) work without internet.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from tiers import unavailable

STATE_DIR = Path(os.environ.get("VOCLOUD_VO_STATE", "/tmp/vocloud-vo-server"))
DATALINK_VOCABULARY = "http://www.ivoa.net/rdf/datalink/core"


@dataclass(frozen=True)
class DachsServer:
    """The local DaCHS of the VO tier (see the module docstring for every attribute)."""

    base_url: str
    tap_url: str
    ssap_url: str
    datalink_service_url: str
    soda_service_url: str
    table: str
    obscore_collection: str
    authority: str
    pubdid_prefix: str
    n_spectra: int
    data_dir: Path
    labels: pd.DataFrame = field(repr=False, compare=False)
    spectra: pd.DataFrame = field(repr=False, compare=False)

    def datalink_url(self, pubdid: str) -> str:
        """URL of the DataLink document (``dlmeta``) of the spectrum ``pubdid``."""
        return f"{self.datalink_service_url}?{urllib.parse.urlencode({'ID': pubdid})}"

    def soda_url(self, pubdid: str, band: tuple[float, float] | None = None) -> str:
        """SODA sync URL of ``pubdid``; ``band`` = ``(lo, hi)`` in Angstrom makes a cutout."""
        query = {"ID": pubdid}
        if band is not None:
            lo, hi = band
            query["BAND"] = f"{lo * 1e-10!r} {hi * 1e-10!r}"
        return f"{self.soda_service_url}?{urllib.parse.urlencode(query)}"

    def path_of(self, pubdid: str) -> Path:
        """The FITS file on this machine behind the publisher DID ``pubdid``."""
        if not pubdid.startswith(self.pubdid_prefix):
            raise ValueError(f"{pubdid!r} is not a publisher DID of this server")
        return self.data_dir / pubdid[len(self.pubdid_prefix) :]


def _server_reason() -> str:
    marker = STATE_DIR / "skip-reason"
    if marker.is_file() and marker.read_text().strip():
        return "VO server not available: " + marker.read_text().strip()
    return (
        f"VO server not set up ({STATE_DIR / 'server.json'} missing): run `make test-vo`, "
        "or as root `bash scripts/vo-server/ensure.sh`"
    )


@pytest.fixture(scope="session")
def dachs() -> DachsServer:
    """The running local DaCHS, or a skip (a failure under CI=true) with the reason."""
    conf_file = STATE_DIR / "server.json"
    if not conf_file.is_file():
        unavailable("VO server", _server_reason())
    conf = json.loads(conf_file.read_text())
    try:
        with urllib.request.urlopen(conf["tap_url"] + "/capabilities", timeout=10) as r:
            r.read()
    except OSError as e:
        unavailable(
            "VO server",
            f"the VO server at {conf['tap_url']} does not answer ({e}); "
            "start it with `bash scripts/vo-server/ensure.sh` (root)",
        )
    spectra = pd.read_csv(conf["spectra_csv"], keep_default_na=False)
    labels = pd.read_csv(conf["labels_csv"], keep_default_na=False)
    return DachsServer(
        base_url=conf["base_url"],
        tap_url=conf["tap_url"],
        ssap_url=conf["ssap_url"],
        datalink_service_url=conf["datalink_url"],
        soda_service_url=conf["soda_url"],
        table=conf["table"],
        obscore_collection=conf["obscore_collection"],
        authority=conf["authority"],
        pubdid_prefix=conf["pubdid_prefix"],
        n_spectra=int(conf["n_spectra"]),
        data_dir=Path(conf["data_dir"]),
        labels=labels,
        spectra=spectra,
    )


@pytest.fixture(scope="session", autouse=True)
def ivoa_vocabularies() -> None:
    """Make pyvo's DataLink vocabulary lookups work offline (see the module docstring)."""
    from astropy.utils.data import import_file_to_cache, is_url_in_cache

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CacheMissingWarning when there is no cache yet
        if is_url_in_cache(DATALINK_VOCABULARY):
            return
    import pyvo

    copy = Path(pyvo.__file__).parent / "dal" / "tests" / "data" / "datalink" / "datalink.desise"
    try:
        import_file_to_cache(DATALINK_VOCABULARY, str(copy), remove_original=False)
    except OSError as e:
        warnings.warn(
            f"could not cache {DATALINK_VOCABULARY} from {copy} ({e}): offline, bysemantics() "
            "needs include_narrower=False",
            stacklevel=1,
        )


@pytest.fixture
def preprocess() -> dict:
    """Preprocessing parameters for experiments against this server: around H-alpha, narrower
    than the served spectra (about 6250-6740 A), so that a SODA cutout (the cutout widened by
    its half width on each side: 6442.8-6682.8 A) is a real cut."""
    return {
        "continuum": {"method": "chebyshev", "degree": 3, "sigma": [3.0, 3.0], "iterations": 5},
        "cutout": {"center": 6562.8, "half_width": 60, "unit": "Angstrom"},
        "grid": {"start": 6510, "stop": 6615, "step": 0.25, "unit": "Angstrom"},
        "resample": "flux-conserving",
        "scale": "minmax-1-1",
    }

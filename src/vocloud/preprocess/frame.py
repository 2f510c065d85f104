"""Rest frame: a barycentric correction of the wavelengths, computed with astropy.

Survey pipelines correct their wavelengths already (LAMOST ``HELIO = T``: heliocentric; SDSS:
heliocentric; DESI and the ESO HARPS DRS: barycentric); most IRAF reductions and the Ondrejov
spectra do not. With ``frame: barycentric`` vocloud corrects the others from the observing time
(``TMID``/``ESO DRS TMID``/``MJD-OBS``/``MJD``/``DATE-OBS``), the target position
(``RA``/``DEC``) and the observatory (``OBSGEO-X/Y/Z``, ``LATITUDE``/``LONGITUD``/``HEIGHT``,
ESO's ``ESO TEL GEOLAT``/``GEOLON``/``GEOELEV`` or the layout's known site),
with :meth:`astropy.coordinates.SkyCoord.radial_velocity_correction`:
``lambda_bary = lambda_obs * (1 + v / c)``. What was done is recorded per spectrum.

Examples
--------
>>> v, label = barycentric_velocity({"HELIO": True}, "lamost-dr7")
>>> v, label
(0.0, 'heliocentric (file)')
"""

from __future__ import annotations

import math
from typing import Any

import astropy.units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time

__all__ = ["FRAMES", "SITES", "barycentric_velocity"]

FRAMES = ("as-read", "barycentric")

#: Observatories of layouts whose headers do not say where they were observed:
#: (longitude deg E, latitude deg N, height m).
SITES: dict[str, tuple[float, float, float]] = {
    "ondrejov-ssa": (14.783611, 49.910555, 528.0),  # Ondrejov 2-m Perek telescope
    "crires-extracted": (-70.4045, -24.6268, 2648.0),  # VLT, Paranal (CRIRES+ on UT3)
}

_CORRECTED = {
    "sdss-coadd": "heliocentric (SDSS pipeline)",
    "sdss-spspec": "heliocentric (SDSS pipeline)",
    "sdss-spplate": "heliocentric (SDSS pipeline)",
    "desi-coadd": "barycentric (DESI pipeline)",
    "desi-spectra": "barycentric (DESI pipeline)",
}


class FrameError(ValueError):
    """The correction cannot be computed; the message says what is missing."""


def _number(meta: dict[str, Any], *keys: str) -> float | None:
    for k in keys:
        v = meta.get(k)
        if isinstance(v, bool) or v is None:
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            return f
    return None


def _time(meta: dict[str, Any]):
    mjd = _number(meta, "TMID", "ESO DRS TMID", "MJD-AVG", "MJD-OBS", "MJD")
    if mjd is not None:
        return Time(mjd, format="mjd", scale="utc")
    date = meta.get("DATE-OBS")
    if isinstance(date, str) and date.strip():
        t = Time(date.strip(), format="isot" if "T" in date else "iso", scale="utc")
        exptime = _number(meta, "EXPTIME")
        return t + (exptime or 0.0) / 2 / 86400.0 if exptime else t
    raise FrameError("barycentric correction needs the observing time (TMID, MJD or DATE-OBS)")


def _position(meta: dict[str, Any]):
    ra, dec = meta.get("RA"), meta.get("DEC")
    if isinstance(ra, int | float) and isinstance(dec, int | float):
        return SkyCoord(float(ra) * u.deg, float(dec) * u.deg)
    if isinstance(ra, str) and isinstance(dec, str) and ra.strip() and dec.strip():
        return SkyCoord(ra.strip(), dec.strip(), unit=(u.hourangle, u.deg))
    raise FrameError("barycentric correction needs the target position (RA, DEC)")


def _location(meta: dict[str, Any], layout: str):
    x, y, z = (_number(meta, k) for k in ("OBSGEO-X", "OBSGEO-Y", "OBSGEO-Z"))
    if x is not None and y is not None and z is not None:
        return EarthLocation.from_geocentric(x, y, z, unit=u.m)
    # ESO TEL GEO*: every ESO telescope header
    lat = _number(meta, "LATITUDE", "SITELAT", "OBS-LAT", "ESO TEL GEOLAT")
    lon = _number(meta, "LONGITUD", "SITELONG", "OBS-LONG", "ESO TEL GEOLON")
    if lat is not None and lon is not None:
        h = _number(meta, "HEIGHT", "SITEELEV", "OBS-ELEV", "ESO TEL GEOELEV") or 0.0
        return EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, h * u.m)
    if layout in SITES:
        lon, lat, h = SITES[layout]
        return EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, h * u.m)
    raise FrameError(
        "barycentric correction needs the observatory (OBSGEO-X/Y/Z or LATITUDE/LONGITUD)"
    )


def barycentric_velocity(meta: dict[str, Any], layout: str) -> tuple[float, str]:
    """``(v, label)``: the barycentric correction (km/s) to apply, and what it is.

    ``v`` is 0 for files already corrected by their pipeline (the label says which frame).

    Raises
    ------
    FrameError
        When the time, position or observatory is missing.
    """
    if meta.get("HELIO") is True:
        return 0.0, "heliocentric (file)"
    if layout in _CORRECTED:
        return 0.0, _CORRECTED[layout]
    if "ESO DRS BERV" in meta:
        return 0.0, "barycentric (ESO DRS)"
    specsys = str(meta.get("SPECSYS", "")).strip().upper()  # FITS WCS Paper III (ESO SDP)
    if specsys in ("BARYCENT", "HELIOCEN"):
        frame = "barycentric" if specsys == "BARYCENT" else "heliocentric"
        return 0.0, f"{frame} (SPECSYS = {specsys})"
    v = _position(meta).radial_velocity_correction(
        "barycentric", obstime=_time(meta), location=_location(meta, layout)
    )
    kms = float(v.to_value(u.km / u.s))
    return kms, f"barycentric ({kms:+.3f} km/s applied)"

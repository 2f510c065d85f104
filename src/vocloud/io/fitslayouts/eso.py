"""ESO (docs/layouts.md): ``eso-sdp``, the Phase 3 1-D spectrum (``ADP.*.fits`` of UVES,
X-shooter, HARPS, FEROS...), its columns found by their IVOA Spectrum DM utypes."""

from __future__ import annotations

from typing import Any

from vocloud.io.fitslayouts.base import _first, _merge_meta
from vocloud.io.fitsparse import HDU, Column, table_columns, table_layout
from vocloud.io.spectrum import (
    Spectrum,
    SpectrumFormatError,
    header_medium,
    ivar_from_error,
    make_spectrum,
    spectral_unit,
)


def _utype_column(h: dict[str, Any], cols: list[Column], suffix: str, ns: str | None = None):
    """Key and namespace of the first column whose ``TUTYPn`` ends with ``suffix`` (case
    insensitive), in namespace ``ns`` (``spec``, ``Spectrum``, ``eso``...) when given."""
    for i, c in enumerate(cols, start=1):
        utype = str(h.get(f"TUTYP{i}", "")).strip()
        space, _, rest = utype.partition(":") if ":" in utype else utype.partition(".")
        if rest.lower().endswith(suffix.lower()) and (ns is None or space.lower() == ns.lower()):
            return c.key, space, i
    return None, None, None


def read_eso_sdp(buf: bytes | bytearray, primary: HDU, ext: HDU, source: str) -> Spectrum:
    """``eso-sdp``: ESO Phase 3 1-D spectrum (IVOA Spectrum DM, ``VOCLASS = 'SPECTRUM V2.0'``):
    one row of vector columns, found by their utypes -- the spectral axis
    (``...Data.SpectralAxis.Value``, usually ``WAVE`` in nm), the **default flux**
    (``spec:Data.FluxAxis.Value``; ``FLUX_REDUCED``, ``FLUX_TELL_CORR``... of other namespaces are
    not it), its error of the same namespace (``...Accuracy.StatError``) and quality
    (``...QualityStatus`` or a ``QUAL`` column, non-zero bad). Medium: a header keyword, else the
    spectral axis's UCD -- ``em.wl;obs.atmos`` is air, bare ``em.wl`` vacuum (the ESO convention).
    """
    cols = table_layout(ext, source)
    h = ext.header
    keys = {c.key: c for c in cols}
    wave_key, _, wave_i = _utype_column(h, cols, "Data.SpectralAxis.Value")
    flux_key, ns, _ = _utype_column(h, cols, "Data.FluxAxis.Value", "spec")
    if flux_key is None:
        flux_key, ns, _ = _utype_column(h, cols, "Data.FluxAxis.Value", "Spectrum")
    wave_key = wave_key or ("WAVE" if "WAVE" in keys else None)
    flux_key = flux_key or ("FLUX" if "FLUX" in keys else None)
    if wave_key is None or flux_key is None:
        raise SpectrumFormatError(
            source, "ESO spectrum table without a spectral axis (WAVE) or flux (FLUX) column"
        )
    err_key = _utype_column(h, cols, "Data.FluxAxis.Accuracy.StatError", ns)[0] if ns else None
    if err_key is None:
        err_key = _first(keys, ("ERR", "ERROR", "ERR_FLUX"))
    qual_key = _utype_column(h, cols, "QualityStatus", ns)[0] if ns else None
    qual_key = qual_key or ("QUAL" if "QUAL" in keys else None)
    want = [k for k in (wave_key, flux_key, err_key, qual_key) if k is not None]
    d = table_columns(buf, ext, want, source)
    wave, flux = d[wave_key][0], d[flux_key][0]
    ivar = ivar_from_error(d[err_key][0]) if err_key is not None else None
    mask = d[qual_key][0] != 0 if qual_key is not None else None
    ucd = str(h.get(f"TUCD{wave_i}", "")).strip().lower() if wave_i else ""
    convention = "air" if "obs.atmos" in ucd else "vacuum" if ucd.startswith("em.wl") else None
    return make_spectrum(
        wave,
        spectral_unit(keys[wave_key].unit, source),
        flux,
        ivar=ivar,
        mask=mask,
        meta=_merge_meta(primary, ext),
        layout="eso-sdp",
        source=source,
        medium=header_medium(h, header_medium(primary.header, convention)),
    )

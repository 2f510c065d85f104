"""Hand-offs to other tools: :mod:`~vocloud.interop.export` writes one row per spectrum (CSV,
VOTable) and :mod:`~vocloud.interop.samp` sends spectra and tables to SAMP applications (TOPCAT,
SPLAT, Aladin)."""

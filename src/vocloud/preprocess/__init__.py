"""Block preprocessing of spectra: continuum, cutout, rest frame, degradation, resampling, scaling.

Examples
--------
>>> from vocloud.preprocess import PreprocessParams
>>> PreprocessParams.from_dict({"grid": {"start": 642, "stop": 671, "step": 0.025, "unit": "nm"}}
...                            ).grid().size
1161
"""

from vocloud.preprocess.continuum import (
    ContinuumFit,
    basis,
    fit_continuum,
    normalise_continuum,
    normalised_x,
)
from vocloud.preprocess.cutout import (
    coverage_errors,
    cutout_bounds,
    extend_wavelengths,
    gather_cutout,
)
from vocloud.preprocess.params import (
    ContinuumParams,
    CutoutParams,
    GridParams,
    PreprocessParams,
    ResolutionParams,
)
from vocloud.preprocess.pipeline import BlockResult, preprocess_block
from vocloud.preprocess.resample import (
    bin_edges,
    fill_bad,
    resample,
    resample_flux_conserving,
    resample_linear,
)
from vocloud.preprocess.scale import CONSTANT_FLUX, rescale
from vocloud.preprocess.velocity import degradation_sigma, gaussian_degrade, to_rest_frame

__all__ = [
    "CONSTANT_FLUX",
    "BlockResult",
    "ContinuumFit",
    "ContinuumParams",
    "CutoutParams",
    "GridParams",
    "PreprocessParams",
    "ResolutionParams",
    "basis",
    "bin_edges",
    "coverage_errors",
    "cutout_bounds",
    "degradation_sigma",
    "extend_wavelengths",
    "fill_bad",
    "fit_continuum",
    "gather_cutout",
    "gaussian_degrade",
    "normalise_continuum",
    "normalised_x",
    "preprocess_block",
    "resample",
    "resample_flux_conserving",
    "resample_linear",
    "rescale",
    "to_rest_frame",
]

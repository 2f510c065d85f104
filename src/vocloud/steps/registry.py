"""The method registry: a new analysis method is one class with a name, defaults and ``run``.

Examples
--------
>>> import numpy as np, xarray as xr
>>> @register
... class RowMean(Method):
...     '''Mean of each spectrum's features.'''
...     name = "row-mean-example"
...     defaults = {"scale": 1.0}
...     def run(self, inputs, context, scale):
...         out = xr.Dataset({"row_mean": inputs.mean(inputs.dims[1]) * scale})
...         return StepOutput(out, metrics={"n": int(inputs.sizes["spectrum"])})
>>> get_method("row-mean-example").params({"scale": 2})
{'scale': 2.0}
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar

import xarray as xr

_REGISTRY: dict[str, type[Method]] = {}


@dataclass
class StepOutput:
    """What a method returns.

    Attributes
    ----------
    dataset : xarray.Dataset
        Per-spectrum outputs on dim ``"spectrum"`` (aligned with the feature store), plus any model
        arrays on dims of their own.
    metrics : dict
        JSON-able figures of merit (shown by ``vocloud info --json``).
    features : str or None
        The variable (dims ``spectrum`` x something) that a following step takes as its input.
    files : dict
        Extra files to keep beside the step store: name -> bytes (e.g. a fitted model).
    """

    dataset: xr.Dataset
    metrics: dict[str, Any] = field(default_factory=dict)
    features: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)


class Method:
    """Base class of analysis methods.

    Subclasses set ``name`` (used in experiment files and on the command line), ``defaults``
    (every parameter with its default value; the types of the defaults are used to convert
    values given as text) and implement :meth:`run`. The class docstring is the description
    ``vocloud methods`` prints.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    #: Bumped when the method's results change meaning, so old cached results are not reused.
    version: ClassVar[int] = 1

    @classmethod
    def describe(cls) -> str:
        """First line of the class docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def params(cls, given: dict[str, Any] | None = None) -> dict[str, Any]:
        """The full, checked parameter set: defaults overridden by ``given``.

        Raises
        ------
        ValueError
            For an unknown parameter name, naming the known ones.
        """
        given = dict(given or {})
        unknown = sorted(set(given) - set(cls.defaults))
        if unknown:
            raise ValueError(
                f"{cls.name}: unknown parameters {unknown} (known: {sorted(cls.defaults)})"
            )
        out = copy.deepcopy(cls.defaults)
        for k, v in given.items():
            default = cls.defaults[k]
            if isinstance(default, bool) or default is None:
                out[k] = v
            elif isinstance(default, float) and isinstance(v, int | float):
                out[k] = float(v)
            elif isinstance(default, tuple | list) and isinstance(v, tuple | list):
                out[k] = list(v)
            else:
                out[k] = v
        return out

    @classmethod
    def fingerprint(cls, params: dict[str, Any], context: Any) -> Any:
        """What the result depends on besides the input and ``params`` (JSON-able), or None.

        It goes into the step's cache key: e.g. the content of a labels file that is edited in
        place between runs. ``context`` gives ``experiment_dir``, ``features_store`` and
        ``resolve(path)``.
        """
        return None

    def run(self, inputs: xr.DataArray, context: Any, **params: Any) -> StepOutput:
        """Run on ``inputs`` (dims ``spectrum`` x ``feature``, dask-backed, NaN rows for failed
        spectra) and return the outputs. ``context`` gives the experiment's store and ids."""
        raise NotImplementedError


def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def get_method(name: str) -> type[Method]:
    """The method class registered under ``name``; a clear error naming the known ones."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r} (known: {sorted(_REGISTRY)})") from None


def list_methods() -> list[dict[str, Any]]:
    """Every registered method with its description and parameter defaults."""
    _load_builtin()
    return [
        {"method": n, "description": c.describe(), "params": copy.deepcopy(c.defaults)}
        for n, c in sorted(_REGISTRY.items())
    ]


def _load_builtin() -> None:
    from vocloud.steps import active, methods  # noqa: F401  (registers the built-in methods)


def brief_metrics(metrics: dict[str, Any]) -> str:
    """The headline figures of a step's metrics, one line."""
    keys = (
        "explained_variance_ratio_total",
        "quantization_error",
        "topographic_error",
        "oob_score",
        "cv_accuracy",
        "f1_per_class",
    )
    parts = []
    for k in keys:
        if k in metrics:
            v = metrics[k]
            if isinstance(v, dict):
                v = ", ".join(f"{c} {x:.2f}" for c, x in v.items())
            elif isinstance(v, float):
                v = f"{v:.3f}"
            parts.append(f"{k} {v}")
    return "; ".join(parts)

"""Analysis steps on the feature store: one method interface ("method name + parameters"), a
registry, cached per-step results, and export of the per-spectrum outputs."""

from vocloud.steps.registry import Method, StepOutput, get_method, list_methods, register
from vocloud.steps.runner import StepResult, run_step

__all__ = [
    "Method",
    "StepOutput",
    "StepResult",
    "get_method",
    "list_methods",
    "register",
    "run_step",
]

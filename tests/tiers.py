"""What the service tiers' fixtures share (tests/vo, tests/hpc, tests/browser): the state an
``ensure.sh`` left, and skipping with its reason (a failure under CI); and :func:`require`, the
import of an optional test dependency that may skip a test, except under CI."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

#: Values of ``CI`` that mean "this is CI" (case-insensitive), as scripts/lib/tier.sh reads them.
CI_VALUES = ("true", "1", "yes")


def in_ci() -> bool:
    """Whether ``CI`` is set to true, 1 or yes (any case): then a skip is a failure."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def unavailable(tier: str, reason: str) -> NoReturn:
    """Skip the test with ``reason``; under CI a skip is a failure."""
    if in_ci():
        pytest.fail(
            f"{tier} unavailable under CI={os.environ['CI']} (a skip is a failure): {reason}"
        )
    pytest.skip(reason)


def require(module: str, why: str) -> ModuleType:
    """Import the optional test dependency ``module``; when it is missing, skip the test with
    ``why`` and the import error, or fail under CI (a skip CI does not see hides a lost test)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        missing = e
    unavailable(module, f"{module} is not installed ({missing}): {why}")


def tier_state(state_dir: Path, conf_name: str, tier: str, how: str) -> dict[str, Any]:
    """The JSON ``conf_name`` that the tier's ensure.sh wrote to ``state_dir``; else skip (or
    fail) with the reason it recorded in ``skip-reason``, or with ``how`` to set it up."""
    conf = state_dir / conf_name
    if conf.is_file():
        return json.loads(conf.read_text())
    marker = state_dir / "skip-reason"
    if marker.is_file() and marker.read_text().strip():
        unavailable(tier, f"{tier} not available: {marker.read_text().strip()}")
    unavailable(tier, f"{tier} not set up ({conf} missing): {how}")

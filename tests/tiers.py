"""What the service tiers' fixtures share (tests/vo, tests/hpc, tests/browser): the state an
``ensure.sh`` left, and skipping with its reason (a failure under ``CI=true``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn

import pytest


def unavailable(tier: str, reason: str) -> NoReturn:
    """Skip the test with ``reason``; under ``CI=true`` a skip is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{tier} unavailable under CI=true (a skip is a failure): {reason}")
    pytest.skip(reason)


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

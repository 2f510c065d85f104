"""Helpers of the HPC tier tests (a module of its own: tests are not packages)."""

from __future__ import annotations

import subprocess


def squeue(name: str) -> dict[str, str]:
    """``{job id: state}`` of the queued and running jobs called ``name``."""
    out = subprocess.run(
        ["squeue", "-h", "-n", name, "-o", "%i|%T"], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split("|") for line in out.split())

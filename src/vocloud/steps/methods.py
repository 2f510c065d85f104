"""The built-in analysis methods (importing this module registers them)."""

from __future__ import annotations

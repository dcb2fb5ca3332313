"""Fixtures of the fault-injection suite (the harness is fault_harness.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fault_harness import api, clock, prometheus, services  # noqa: F401

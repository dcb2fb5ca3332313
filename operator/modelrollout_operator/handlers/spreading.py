"""Where in its interval an Experiment's passes fall after an operator start. Pure.

Passes are due one interval after the previous pass decided, so whatever phase an Experiment
starts with, it keeps. Experiments created one by one are spread by their creation times; but
after an operator (re)start every daemon starts at once, and 1,000 passes due in the same
instant every interval make the last of them seconds late. A stable per-Experiment offset
for the first pass after a start spreads them over the interval (or `window`, if shorter).
"""

from __future__ import annotations

import zlib

from ..api.v1alpha1 import parse_duration


def phase_of(namespace: str, name: str) -> float:
    """A stable fraction in [0, 1) for one Experiment (the same in every process)."""
    return zlib.crc32(f"{namespace}/{name}".encode()) / 2**32


def interval_of(spec: object, default: float = 60.0) -> float:
    """spec.analysis.interval in seconds, or `default` when absent or unreadable (the pass
    itself reports an invalid spec)."""
    try:
        text = spec["analysis"]["interval"]  # type: ignore[index]
        return parse_duration(str(text))
    except (KeyError, TypeError, ValueError):
        return default


def first_pass_delay(
    namespace: str, name: str, interval: float, *, uptime: float, window: float
) -> float:
    """Seconds to wait before the first pass of a daemon that starts `uptime` after the
    operator: spread over min(interval, window) during the first `window` seconds of the
    process (a restart); none later (a new Experiment is served at once)."""
    if uptime >= window or interval <= 0 or window <= 0:
        return 0.0
    return phase_of(namespace, name) * min(interval, window)

"""After the promotion, for the kopf driver: the undo window keeps the daemon alive, and the
previous version is retired only once it is over (rollout/holding.py decides; this schedules)."""

from __future__ import annotations

from datetime import datetime

from ..api.v1alpha1 import ExperimentPhase, ExperimentSpec, ExperimentStatus
from ..rollout.holding import retire_at, undo_open
from .services import Services


def undo_pending(status: ExperimentStatus, now: datetime) -> bool:
    """A finished Experiment that still needs passes: `undo` may still come."""
    return status.phase == ExperimentPhase.SUCCEEDED and undo_open(status, now)


def previous_waits(status: ExperimentStatus) -> bool:
    """A Succeeded status whose previous version had an undo window (retire it once over)."""
    return retire_at(status) is not None


def next_look(
    services: Services, spec: ExperimentSpec, status: ExperimentStatus, now: datetime
) -> float | None:
    """Seconds to the next pass of a finished Experiment (None: no more passes needed).

    Within the window a pass every analysis interval picks up an `undo` annotation; the
    last one lands on the window's end, when the previous version is retired.
    """
    if not undo_pending(status, now):
        return None
    hb = status.holdback
    assert hb is not None
    left = (hb.ends_at - now).total_seconds()
    floor = services.settings.min_analysis_interval
    return max(floor, min(spec.analysis.interval_seconds, left))

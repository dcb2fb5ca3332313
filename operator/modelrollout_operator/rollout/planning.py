"""When the next analysis is due, and what to measure for it."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..api.v1alpha1 import (
    TERMINAL_PHASES,
    ExperimentPhase,
    ExperimentSpec,
    ExperimentStatus,
    StrategyType,
)
from .model import ObservationPlan, World


def require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware (UTC), got naive {now.isoformat()}")


def next_analysis_at(spec: ExperimentSpec, status: ExperimentStatus) -> datetime | None:
    """One interval after the last analysis, or after the start (no samples before it)."""
    reference = status.last_analysis_at or status.started_at
    if reference is None:
        return None
    return reference + timedelta(seconds=spec.analysis.interval_seconds)


def analysis_due(spec: ExperimentSpec, status: ExperimentStatus, now: datetime) -> bool:
    """An interval has passed and this instant has not been analysed yet.

    The strict `now > lastAnalysisAt` keeps a re-run at the same instant from counting the same
    result twice, even with a zero interval.
    """
    due_at = next_analysis_at(spec, status)
    if due_at is None or now < due_at:
        return False
    return status.last_analysis_at is None or now > status.last_analysis_at


def plan_observation(
    spec: ExperimentSpec, status: ExperimentStatus, world: World, now: datetime
) -> ObservationPlan | None:
    """What to measure now, or None when no analysis is due.

    None when the experiment is finished, paused, not started (waiting for both versions to
    be Ready), either version is not Ready now, the versions' numbers are unknown, or the
    interval since the last analysis has not elapsed.
    """
    require_aware(now)
    if status.phase in TERMINAL_PHASES or status.phase in (
        ExperimentPhase.PENDING,
        ExperimentPhase.PAUSED,
    ):
        return None
    if spec.paused or status.started_at is None:
        return None
    if not (world.candidate_ready and world.baseline_ready):
        return None
    if world.candidate_problem is not None or world.baseline_problem is not None:
        return None
    if not analysis_due(spec, status, now):
        return None
    baseline = world.baseline_version or status.baseline_version
    candidate = world.candidate_version or status.candidate_version
    if baseline is None or candidate is None:
        return None
    return ObservationPlan(
        metrics=tuple(m.name for m in spec.analysis.metrics),
        baseline_version=baseline,
        candidate_version=candidate,
        since=analysis_since(status) or status.started_at,
        shadow=spec.strategy.type == StrategyType.SHADOW,
    )


def analysis_since(status: ExperimentStatus) -> datetime | None:
    """Where the proportions' confidence sequence starts: at the promotion during holdback
    (a regression after it is not diluted by the evidence before it), else at the start."""
    if status.phase == ExperimentPhase.HOLDING_BACK and status.holdback is not None:
        return status.holdback.started_at
    return status.started_at

"""The metrics-provider protocol: an observation plan in, one observation per metric out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..api.v1alpha1 import MetricCheck
from ..rollout.model import MetricObservation, ObservationPlan


@dataclass(frozen=True)
class Target:
    """Whose metrics: the model and the Experiment's namespace (for user templates)."""

    model: str
    namespace: str


class MetricsProvider(Protocol):
    async def observe(
        self,
        plan: ObservationPlan,
        checks: Sequence[MetricCheck],
        target: Target,
        now: datetime,
    ) -> list[MetricObservation]:
        """One observation per planned metric; failures become `error`, never a pass."""
        ...


def planned_checks(plan: ObservationPlan, checks: Sequence[MetricCheck]) -> list[MetricCheck]:
    """The spec's checks for the plan's metrics, in the plan's order (every provider's start)."""
    by_name = {c.name: c for c in checks}
    missing = [m for m in plan.metrics if m not in by_name]
    if missing:
        raise ValueError(f"plan names metrics the spec does not define: {missing}")
    return [by_name[m] for m in plan.metrics]

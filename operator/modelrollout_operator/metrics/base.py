"""The metrics-provider protocol: an observation plan in, one observation per metric out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..api.v1alpha1 import ExperimentSpec, MetricCheck, Runtime, TrafficProvider
from ..rollout.model import MetricObservation, ObservationPlan


@dataclass(frozen=True)
class Target:
    """Whose metrics: the model and the Experiment's namespace (for user templates).

    `triton_versions`: versions whose requests reach Triton without the gateway (the HTTPRoute
    provider): their error rate and latency come from Triton's own nv_inference_* metrics.
    """

    model: str
    namespace: str
    triton_versions: frozenset[str] = field(default_factory=frozenset)


def metric_target(
    spec: ExperimentSpec, namespace: str, versions: Sequence[Mapping[str, Any] | None]
) -> Target:
    """The Target of an Experiment, given its ModelVersion objects (None: not found)."""
    triton: set[str] = set()
    if spec.routing.provider == TrafficProvider.HTTP_ROUTE:
        for body in versions:
            version_spec = (body or {}).get("spec") or {}
            serving = version_spec.get("serving") or {}
            if serving.get("runtime") == Runtime.TRITON.value and "version" in version_spec:
                triton.add(str(version_spec["version"]))
    return Target(model=spec.model, namespace=namespace, triton_versions=frozenset(triton))


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

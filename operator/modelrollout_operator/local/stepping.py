"""The in-process driver: the operator's pass loop for one Experiment, without Kubernetes.

Each pass is what the kopf timer does: plan -> observe -> reconcile -> act, with the same
pure engine and the same providers' protocol; only the status lives in memory and the
router PUTs to the local gateway.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from ..api.v1alpha1 import (
    TERMINAL_PHASES,
    Experiment,
    ExperimentStatus,
    MetricCheck,
    MetricKind,
)
from ..metrics import MetricsProvider, Target
from ..notifying import Notifier, notifications_for
from ..rollout import (
    Decision,
    EmitEvent,
    MetricObservation,
    ObservationPlan,
    SetTraffic,
    UserIntent,
    World,
    plan_observation,
    reconcile,
)
from ..routing import ExperimentRef, Router, VersionRef
from .timeline import Tick, tick_from

log = structlog.get_logger(__name__)

#: Shown in the progress lines when the Experiment itself does not check the p99 latency.
DISPLAY_P99 = MetricCheck(
    name="display-p99", kind=MetricKind.LATENCY, quantile=0.99, max=1e9, window="10s", min_samples=1
)


def event_record(event: EmitEvent, at: datetime) -> dict[str, Any]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": event.type, "reason": event.reason, "message": event.message,
            "firstTimestamp": stamp, "lastTimestamp": stamp}  # fmt: skip


def write_snapshot(directory: Path, doc: dict[str, Any]) -> None:
    """Replace DIR/NAME.json atomically (a reader never sees half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    name = doc["metadata"]["name"]
    tmp = directory / f".{name}.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, directory / f"{name}.json")


@dataclass
class Outcome:
    status: ExperimentStatus
    ticks: list[Tick] = field(default_factory=list)
    weights_applied: list[int] = field(default_factory=list)  # candidate weights, in order
    promoted: bool = False
    timed_out: bool = False


def _needs_display_p99(experiment: Experiment) -> bool:
    return not any(
        m.kind == MetricKind.LATENCY and m.effective_quantile == 0.99
        for m in experiment.spec.analysis.metrics
    )


class Driver:
    """Runs one Experiment's passes until it reaches a terminal phase or the deadline."""

    def __init__(
        self,
        experiment: Experiment,
        baseline: VersionRef,
        candidate: VersionRef,
        provider: MetricsProvider,
        router: Router,
        *,
        clock_zero: float,
        on_tick: Callable[[Tick], None] = lambda tick: None,
        on_event: Callable[[EmitEvent], None] = lambda event: None,
        namespace: str = "default",
        snapshots: Path | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.experiment = experiment
        self.name = str(experiment.metadata.get("name", "experiment"))
        self.baseline = baseline
        self.candidate = candidate
        self.provider = provider
        self.router = router
        self.clock_zero = clock_zero
        self.on_tick = on_tick
        self.on_event = on_event
        self.target = Target(model=experiment.spec.model, namespace=namespace)
        self.world = World(
            baseline_ready=baseline.ready,
            candidate_ready=candidate.ready,
            baseline_version=baseline.version,
            candidate_version=candidate.version,
        )
        self._experiment = ExperimentRef(self.name, namespace)
        # `modelrollout get experiment NAME --local DIR` reads these (one file per Experiment).
        self.snapshots = snapshots
        self.notifier = notifier  # spec.notify's webhooks, as the operator sends them
        self.namespace = namespace
        self._events: list[dict[str, Any]] = []

    async def run(self, deadline_seconds: float) -> Outcome:
        spec = self.experiment.spec
        outcome = Outcome(status=ExperimentStatus())
        deadline = time.monotonic() + deadline_seconds
        interval = spec.analysis.interval_seconds
        while True:
            now = datetime.now(UTC)
            status = outcome.status
            plan = plan_observation(spec, status, self.world, now)
            observations: list[MetricObservation] = []
            if plan is not None:
                observations = await self.provider.observe(
                    plan, spec.analysis.metrics, self.target, now
                )
            decision = reconcile(spec, status, self.world, observations, UserIntent(), now)
            for action in decision.actions:
                if isinstance(action, SetTraffic):
                    await self.router.apply(
                        self._experiment, spec, action, self.baseline, self.candidate
                    )
                    if action.promoted:
                        outcome.promoted = True
                    else:
                        outcome.weights_applied.append(action.candidate_weight)
                else:
                    self.on_event(action)
                    self._events.append(event_record(action, now))
            if self.notifier is not None:
                self._notify(status, decision, now)
            outcome.status = decision.status
            if self.snapshots is not None:
                write_snapshot(self.snapshots, self.snapshot(decision.status))
            shown = observations
            if plan is not None and _needs_display_p99(self.experiment):
                shown = [*observations, *await self._display_p99(plan, now)]
            tick = tick_from(
                at=time.monotonic() - self.clock_zero,
                experiment=self.name,
                checks=[*spec.analysis.metrics, DISPLAY_P99],
                status=decision.status,
                observations=shown,
                baseline=self.baseline.version,
                candidate=self.candidate.version,
                analysed=plan is not None,
            )
            if plan is None and outcome.ticks:
                # no analysis this pass: the last numbers still stand
                tick = dataclasses.replace(tick, figures=outcome.ticks[-1].figures)
            outcome.ticks.append(tick)
            self.on_tick(tick)
            if decision.status.phase in TERMINAL_PHASES:
                return outcome
            if time.monotonic() >= deadline:
                outcome.timed_out = True
                log.warning("experiment.deadline", experiment=self.name)
                return outcome
            wait = decision.requeue_after if decision.requeue_after is not None else interval
            await asyncio.sleep(min(max(wait, 0.05), interval))

    def _notify(self, old: ExperimentStatus, decision: Decision, now: datetime) -> None:
        assert self.notifier is not None
        events = [a for a in decision.actions if isinstance(a, EmitEvent)]
        spec = self.experiment.spec
        for notification in notifications_for(
            name=self.name, namespace=self.namespace, spec=spec, old=old,
            new=decision.status, events=events, now=now,
        ):  # fmt: skip
            self.notifier.submit(self.namespace, spec.notify, notification)

    def snapshot(self, status: ExperimentStatus) -> dict[str, Any]:
        """The Experiment as the cluster would show it: object, status, recent events."""
        return {
            "apiVersion": self.experiment.api_version,
            "kind": "Experiment",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self.experiment.spec.to_wire(),
            "status": status.to_wire(),
            "events": self._events[-20:],
        }

    async def _display_p99(self, plan: ObservationPlan, now: datetime) -> list[MetricObservation]:
        display_plan = ObservationPlan(
            metrics=(DISPLAY_P99.name,),
            baseline_version=plan.baseline_version,
            candidate_version=plan.candidate_version,
            since=plan.since,
        )
        return await self.provider.observe(display_plan, [DISPLAY_P99], self.target, now)

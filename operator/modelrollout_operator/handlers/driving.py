"""One analysis pass of one Experiment: observe, decide (the pure engine), act.

The engine decides; this module only gathers facts and applies the decision, in an order
that makes a crash at any point safe: status first, then traffic, then events and counters.
The status is the record: a process that dies after writing it re-applies the traffic it
calls for (`desired_traffic`) on its first pass, before deciding anything, and bakes the
current step again in full; routers are idempotent. Writing traffic first would let a
restart undo a rollback's weight 0 from a stale status.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError

from ..api.v1alpha1 import (
    TERMINAL_PHASES,
    ExperimentPhase,
    ExperimentSpec,
    ExperimentStatus,
    ModelVersionPhase,
)
from ..k8s.client import EXPERIMENTS, MODELVERSIONS
from ..k8s.naming import serving_name
from ..metrics import Target
from ..rollout import desired_traffic, plan_observation, reconcile
from ..rollout.model import EmitEvent, SetTraffic, World
from ..routing import RoutingError, VersionRef
from .intents import consumed, read_intent
from .services import Services
from .statuses import status_patch
from .versioning import retire

log = structlog.get_logger(__name__)

PROBLEM_PHASES = {ModelVersionPhase.REJECTED.value, ModelVersionPhase.FAILED.value}


def version_ref(name: str, body: dict[str, Any] | None) -> VersionRef:
    if body is None:
        return VersionRef(name=name, version="", ready=False)
    st = body.get("status") or {}
    artifact = st.get("artifact") or body.get("spec", {}).get("artifact") or {}
    return VersionRef(
        name=name,
        version=str(body.get("spec", {}).get("version", "")),
        ready=st.get("phase") == ModelVersionPhase.READY.value,
        endpoint=st.get("endpoint"),
        artifact_uri=artifact.get("uri"),
        sha256=artifact.get("sha256"),
        service=serving_name(name),
    )


def world_of(baseline: VersionRef, candidate: VersionRef, bodies: tuple[Any, Any]) -> World:
    def problem(ref: VersionRef, body: dict[str, Any] | None) -> str | None:
        if body is None:
            return None  # may still be created: wait for it
        st = body.get("status") or {}
        if st.get("phase") in PROBLEM_PHASES:
            return f"ModelVersion {ref.name} is {st['phase']}: {st.get('message', '')}".rstrip(": ")
        return None

    return World(
        baseline_ready=baseline.ready,
        candidate_ready=candidate.ready,
        baseline_version=baseline.version or None,
        candidate_version=candidate.version or None,
        baseline_problem=problem(baseline, bodies[0]),
        candidate_problem=problem(candidate, bodies[1]),
    )


def known_status(raw: Any) -> ExperimentStatus:
    if not isinstance(raw, dict):
        return ExperimentStatus()
    fields = {f.alias or k for k, f in ExperimentStatus.model_fields.items()}
    return ExperimentStatus.model_validate({k: v for k, v in raw.items() if k in fields})


@dataclass
class PassState:
    """What one Experiment's daemon carries between passes."""

    resync: bool = True  # routing must be re-applied from the status (restart, failed write)
    # time.monotonic() at the pass's `now`: the engine's delays count from that instant.
    decided_at: float | None = None


async def _route(
    services: Services,
    body: dict[str, Any],
    spec: ExperimentSpec,
    traffic: SetTraffic,
    baseline: VersionRef,
    candidate: VersionRef,
) -> bool:
    """Apply `traffic`; False (and a Warning event) when the router refused or failed."""
    router = services.routers[spec.routing.provider]
    try:
        await router.apply(body, spec, traffic, baseline, candidate)
    except RoutingError as exc:
        name = body["metadata"]["name"]
        log.warning("experiment.routing_failed", name=name, error=str(exc))
        await services.kube.event(body, "Warning", "RoutingFailed", str(exc))
        return False
    return True


def _retire_reason(spec: ExperimentSpec, name: str) -> str:
    return f"replaced by {spec.candidate} (Experiment {name} promoted it)"


async def _finish(
    services: Services,
    body: dict[str, Any],
    spec: ExperimentSpec,
    status: ExperimentStatus,
    baseline: VersionRef,
    candidate: VersionRef,
) -> None:
    """Re-apply a finished Experiment's last routing and retirement (both idempotent)."""
    await _route(services, body, spec, desired_traffic(spec, status), baseline, candidate)
    if status.phase == ExperimentPhase.SUCCEEDED:
        meta = body["metadata"]
        await retire(services, meta["namespace"], spec.baseline, _retire_reason(spec, meta["name"]))


async def experiment_pass(
    services: Services, namespace: str, name: str, state: PassState | None = None
) -> float | None:
    """Run one pass; the seconds until the next, or None when the Experiment needs no more."""
    state = state if state is not None else PassState()
    kube = services.kube
    metrics = services.metrics
    with metrics.reconcile_duration.labels("experiment").time():
        body = await kube.get(EXPERIMENTS, namespace, name)
        if body is None:
            return None
        try:
            spec = ExperimentSpec.model_validate(body.get("spec") or {})
            status = known_status(body.get("status"))
        except ValidationError as exc:
            log.warning("experiment.invalid", name=name, namespace=namespace, error=str(exc))
            await kube.event(body, "Warning", "InvalidSpec", str(exc)[:1000])
            return None
        annotations = body.get("metadata", {}).get("annotations") or {}
        intent = read_intent(spec.paused, annotations)

        baseline_body, candidate_body = await asyncio.gather(
            kube.get(MODELVERSIONS, namespace, spec.baseline),
            kube.get(MODELVERSIONS, namespace, spec.candidate),
        )
        bodies = (baseline_body, candidate_body)
        baseline = version_ref(spec.baseline, bodies[0])
        candidate = version_ref(spec.candidate, bodies[1])
        world = world_of(baseline, candidate, bodies)
        if status.phase in TERMINAL_PHASES:
            if state.resync:  # a crash may have come between the status and the traffic
                await _finish(services, body, spec, status, baseline, candidate)
            return None

        now = datetime.now(UTC)
        state.decided_at = time.monotonic()
        if state.resync and status.started_at is not None:
            # First pass of this process, or after a failed write: routing may lag the status
            # (a crash between the two writes). Make it match before deciding anything, and
            # bake the current step again in full: nobody can tell how long its weight was
            # really live, and a step whose weight users never saw must not count as baked.
            traffic = desired_traffic(spec, status)
            state.resync = not await _route(services, body, spec, traffic, baseline, candidate)
            if not state.resync and status.phase == ExperimentPhase.PROGRESSING:
                rebake = status.model_copy(update={"step_started_at": now}).to_wire()
                await kube.patch(
                    EXPERIMENTS, namespace, name,
                    {"status": {"stepStartedAt": rebake["stepStartedAt"]}}, subresource="status",
                )  # fmt: skip
            return services.settings.min_analysis_interval
        plan = plan_observation(spec, status, world, now)
        observations = []
        if plan is not None:
            observations = await services.provider.observe(
                plan, spec.analysis.metrics, Target(model=spec.model, namespace=namespace), now
            )
        decision = reconcile(spec, status, world, observations, intent, now)

        new = decision.status
        patch = status_patch(body.get("status"), new.to_wire())
        if patch:
            await kube.patch(EXPERIMENTS, namespace, name, {"status": patch}, subresource="status")
        done = consumed(annotations)
        if done:
            await kube.patch(EXPERIMENTS, namespace, name, {"metadata": {"annotations": done}})

        for move in (a for a in decision.actions if isinstance(a, SetTraffic)):
            state.resync = not await _route(services, body, spec, move, baseline, candidate)

        for event in decision.actions:
            if isinstance(event, EmitEvent):
                await kube.event(body, event.type, event.reason, event.message)
        _export(services, namespace, name, spec, status, new)
        if new.phase == ExperimentPhase.SUCCEEDED and status.phase != ExperimentPhase.SUCCEEDED:
            await retire(services, namespace, spec.baseline, _retire_reason(spec, name))
        if new.phase != status.phase:
            log.info("experiment.phase", name=name, namespace=namespace,
                     phase=new.phase.value, weight=new.weight, message=new.message)  # fmt: skip
        if new.phase in TERMINAL_PHASES:
            return None
        interval = spec.analysis.interval_seconds
        delay = decision.requeue_after if decision.requeue_after is not None else interval
        return max(services.settings.min_analysis_interval, delay)


def _export(
    services: Services,
    namespace: str,
    name: str,
    spec: ExperimentSpec,
    old: ExperimentStatus,
    new: ExperimentStatus,
) -> None:
    m = services.metrics
    m.set_phase(namespace, name, spec.model, new.phase.value)
    m.set_progress(namespace, name, spec.model, new.weight, new.current_step)
    if new.last_analysis_at != old.last_analysis_at and new.analysis:
        m.count_verdicts(
            namespace, name, [(r.metric, r.verdict.value) for r in new.analysis[-1].results]
        )
    if new.phase != old.phase:
        if new.phase == ExperimentPhase.ROLLED_BACK:
            m.rollbacks.labels(namespace, name, spec.model).inc()
        elif new.phase == ExperimentPhase.SUCCEEDED:
            m.promotions.labels(namespace, name, spec.model).inc()

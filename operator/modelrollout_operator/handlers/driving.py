"""One analysis pass of one Experiment: observe, decide (the pure engine), act.

The engine decides; this module only gathers facts and applies the decision, in an order
that makes a crash at any point safe: read -> resync -> decide -> persist -> export -> act,
that is status first (then the one-shot annotations consumed, and the counters and gauges of
what status now says), then traffic, then events, then retiring the old baseline
(tests/operator/faults/test_faults_write_order.py pins it).
The status is the record: every action it calls for (routing, events, retiring the old
baseline) is kept in `PassState` until it is applied, and retried on every pass whatever
failed (an API error, a timeout, a refused route); `desired_traffic` re-derives the routing
from the status alone, so a new process re-applies it before deciding anything.

The `TrafficInSync` condition says whether the routing matches the status. It is written
False with the decision that moves traffic and True once the router applied it, so a crash
between the two writes is visible, and a step's bake counts from the moment its weight
went live: a restart after the routing was applied bakes on (the step's start comes from
status), a restart before it bakes from when the weight was finally applied.

Every status write carries the resourceVersion it was decided from: a concurrent writer
(a second operator, a person) makes it fail with 409, and the pass re-reads and decides
again, so an analysis is never counted twice.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from pydantic import ValidationError

from ..api.v1alpha1 import (
    TERMINAL_PHASES,
    Condition,
    ExperimentPhase,
    ExperimentSpec,
    ExperimentStatus,
    ModelVersionPhase,
    set_condition,
)
from ..k8s.client import EVENTS, EXPERIMENTS, MODELVERSIONS, Conflict, event_body
from ..metrics import metric_target
from ..resources.naming import serving_name
from ..rollout import desired_traffic, plan_observation, reconcile
from ..rollout.holding import retire_due
from ..rollout.model import Decision, EmitEvent, SetTraffic, UserIntent, World
from ..rollout.queueing import WAITING, blocker, entry_of
from ..routing import ExperimentRef, VersionRef
from .afterwards import next_look, previous_waits, undo_pending
from .failures import describe
from .intents import consumed, read_intent
from .notifications import notify_pass
from .services import Services
from .statuses import status_patch
from .versioning import retire

log = structlog.get_logger(__name__)

PROBLEM_PHASES = {ModelVersionPhase.REJECTED.value, ModelVersionPhase.FAILED.value}

#: Condition types the driver owns (the engine owns Ready, Progressing and Analysis).
TRAFFIC_IN_SYNC = "TrafficInSync"  # the routing matches what status says
SPEC_VALID = "SpecValid"  # False: the spec (or its ModelVersions) cannot be run as written

#: How often one pass re-reads and decides again after a 409 before leaving it to the next.
CONFLICT_RETRIES = 3
#: Back-off between passes whose actions did not all apply: doubling from the floor, capped.
RETRY_CAP_SECONDS = 30.0


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
        baseline_missing=bodies[0] is None,
        candidate_missing=bodies[1] is None,
    )


def known_status(raw: Any) -> ExperimentStatus:
    if not isinstance(raw, dict):
        return ExperimentStatus()
    fields = {f.alias or k for k, f in ExperimentStatus.model_fields.items()}
    return ExperimentStatus.model_validate({k: v for k, v in raw.items() if k in fields})


def same_version_problem(spec: ExperimentSpec, baseline: VersionRef, candidate: VersionRef) -> str:
    """Why two ModelVersions with one spec.version cannot be compared ('' when they differ)."""
    if not baseline.version or baseline.version != candidate.version:
        return ""
    return (
        f"baseline {spec.baseline} and candidate {spec.candidate} are both version "
        f"{baseline.version} of model {spec.model}: the gateway and the metrics tell versions "
        f"apart by spec.version, so nothing can be routed or measured; point spec.candidate at "
        f"a ModelVersion with another spec.version"
    )


@dataclass
class PassState:
    """What one Experiment's daemon carries between passes: the actions not yet applied."""

    resync: bool = True  # routing must be (re-)applied from the status (start, failed write)
    # time.monotonic() at the pass's `now`: the engine's delays count from that instant.
    decided_at: float | None = None
    events: list[EmitEvent] = field(default_factory=list)  # decided, not yet posted
    retire: str | None = None  # the reason, while the old baseline is still to be retired
    failures: int = 0  # consecutive passes whose actions did not all apply
    reported: str | None = None  # the spec problem already announced by an event
    # A decision whose status write failed without saying whether it landed (a timeout, a
    # lost answer): its status and actions. The next pass reads the status: if it is this
    # one, the write landed and its actions are owed; else the decision is simply redone.
    unconfirmed: tuple[dict[str, Any], list[EmitEvent], bool, str | None] | None = None


def retry_delay(services: Services, state: PassState) -> float:
    """Seconds to the next try after a pass whose actions did not all apply."""
    floor = services.settings.min_analysis_interval
    return float(min(RETRY_CAP_SECONDS, floor * 2 ** min(state.failures, 16)))


async def post_event(
    services: Services,
    involved: dict[str, Any],
    type_: Literal["Normal", "Warning"],
    reason: str,
    message: str,
) -> None:
    """A core/v1 Event on `involved`; raises when it could not be created (it is retried)."""
    body = event_body(involved, type_, reason, message)
    await services.kube.create(EVENTS, body["metadata"]["namespace"], body)


async def write_status(services: Services, body: dict[str, Any], patch: dict[str, Any]) -> None:
    """Merge-patch the status, conditional on the resourceVersion `body` was read at.

    A 409 (someone wrote in between) raises `Conflict`: the caller re-reads and decides
    again. On success `body` takes the server's answer (new resourceVersion and status), so
    the next write of the same pass is conditional on this one.
    """
    meta = body.setdefault("metadata", {})
    wrapped: dict[str, Any] = {"status": patch}
    if meta.get("resourceVersion"):
        wrapped["metadata"] = {"resourceVersion": meta["resourceVersion"]}
    answer = await services.kube.patch(
        EXPERIMENTS, meta.get("namespace"), meta["name"], wrapped, subresource="status"
    )
    _refresh(body, answer)


def _refresh(body: dict[str, Any], answer: Any) -> None:
    if not isinstance(answer, dict):
        return
    rv = (answer.get("metadata") or {}).get("resourceVersion")
    if rv:
        body.setdefault("metadata", {})["resourceVersion"] = rv
    if "status" in answer:
        body["status"] = answer["status"]


def _with_condition(
    status: ExperimentStatus,
    type_: str,
    ok: Literal["True", "False"],
    reason: str,
    message: str,
    now: datetime,
) -> ExperimentStatus:
    cond = Condition(
        type=type_, status=ok, reason=reason, message=message, last_transition_time=now
    )
    return status.model_copy(update={"conditions": set_condition(status.conditions, cond)})


def condition_of(status: ExperimentStatus, type_: str) -> Condition | None:
    return next((c for c in status.conditions if c.type == type_), None)


def _weight_words(traffic: SetTraffic) -> str:
    if traffic.promoted:
        return "candidate serves 100% as the baseline"
    shadow = f", shadow {traffic.shadow_percent}%" if traffic.shadow_percent else ""
    return f"candidate weight {traffic.candidate_weight}%{shadow}"


def _retire_reason(spec: ExperimentSpec, name: str) -> str:
    return f"replaced by {spec.candidate} (Experiment {name} promoted it)"


@dataclass
class _Facts:
    """What a pass read: the Experiment, its ModelVersions, and the moment it decides at."""

    body: dict[str, Any]
    spec: ExperimentSpec
    status: ExperimentStatus
    baseline: VersionRef
    candidate: VersionRef
    namespace: str = ""
    name: str = ""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    annotations: dict[str, Any] = field(default_factory=dict)
    intent: UserIntent = field(default_factory=UserIntent)
    world: World | None = None
    bodies: tuple[Any, Any] = (None, None)


@dataclass
class _Recorded:
    """A decision as persisted: the new status and the actions it owes."""

    old: ExperimentStatus
    new: ExperimentStatus
    owed: list[EmitEvent]
    requeue_after: float | None


async def _catch_up(services: Services, facts: _Facts, state: PassState, now: datetime) -> bool:
    """Apply what status calls for and is not applied yet; False when something failed.

    Nothing here is given up: what failed stays in `state` for the next pass.
    """
    body, spec = facts.body, facts.spec
    name = body["metadata"]["name"]
    if state.resync and facts.status.started_at is None:
        state.resync = False  # nothing was ever routed for it: nothing to re-apply
    if state.resync:
        traffic = desired_traffic(spec, facts.status)
        router = services.routers[spec.routing.provider]
        try:
            await router.apply(
                ExperimentRef.of(body), spec, traffic, facts.baseline, facts.candidate
            )
        except Exception as exc:  # whatever failed, the routing is retried
            error = describe(exc)
            log.warning("experiment.routing_failed", name=name, error=error)
            await _report_unsynced(services, facts, traffic, error, now)
            return False
        state.resync = False
        old = condition_of(facts.status, TRAFFIC_IN_SYNC)
        if old is None or old.status != "True":
            updated = _with_condition(
                facts.status, TRAFFIC_IN_SYNC, "True", "Applied",
                f"routing matches status: {_weight_words(traffic)}", now,
            )  # fmt: skip
            if (
                old is not None
                and updated.phase == ExperimentPhase.PROGRESSING
                and updated.step_started_at is not None
                and updated.step_started_at < now
            ):
                # The step's weight went live only now: its bake starts now.
                updated = updated.model_copy(update={"step_started_at": now})
            patch = status_patch(body.get("status"), updated.to_wire())
            if patch:
                await write_status(services, body, patch)
            facts.status = updated
    while state.events:
        event = state.events[0]
        try:
            await post_event(services, body, event.type, event.reason, event.message)
        except Exception as exc:
            log.warning("experiment.event_failed", name=name, reason=event.reason,
                        error=describe(exc))  # fmt: skip
            return False
        state.events.pop(0)
    if state.retire is not None:
        try:
            await retire(services, body["metadata"]["namespace"], spec.baseline, state.retire)
        except Exception as exc:
            log.warning("experiment.retire_failed", name=name, error=describe(exc))
            return False
        state.retire = None
    return True


async def _report_unsynced(
    services: Services, facts: _Facts, traffic: SetTraffic, error: str, now: datetime
) -> None:
    """TrafficInSync False with the reason; best effort (the routing retry is what matters)."""
    message = f"routing not applied ({_weight_words(traffic)} per status): {error}"[:1000]
    old = condition_of(facts.status, TRAFFIC_IN_SYNC)
    if old is not None and old.status == "False" and old.message == message:
        return
    updated = _with_condition(facts.status, TRAFFIC_IN_SYNC, "False", "RoutingFailed", message, now)
    try:
        patch = status_patch(facts.body.get("status"), updated.to_wire())
        if patch:
            await write_status(services, facts.body, patch)
        facts.status = updated
        if old is None or old.reason != "RoutingFailed":
            await post_event(services, facts.body, "Warning", "RoutingFailed", message)
    except Exception as exc:
        log.warning("experiment.status_failed", name=facts.body["metadata"]["name"],
                    error=describe(exc))  # fmt: skip


async def _hold_on_problem(
    services: Services,
    body: dict[str, Any],
    status: ExperimentStatus,
    reason: str,
    problem: str,
    state: PassState,
    now: datetime,
) -> None:
    """A spec that cannot run: SpecValid False and the message in status, one event."""
    name = body["metadata"]["name"]
    log.warning("experiment.invalid", name=name, namespace=body["metadata"].get("namespace"),
                reason=reason, error=problem)  # fmt: skip
    updated = _with_condition(status, SPEC_VALID, "False", reason, problem[:1000], now)
    updated = updated.model_copy(update={"message": problem[:1000]})
    patch = status_patch(body.get("status"), updated.to_wire())
    if patch:
        await write_status(services, body, patch)
    if state.reported != problem:
        await post_event(services, body, "Warning", reason, problem[:1000])
        state.reported = problem


async def _waits_for(services: Services, namespace: str, body: dict[str, Any]) -> str | None:
    """The Experiment on the same model in this namespace that this Pending one waits for."""
    me = entry_of(body)
    if me is None:
        return None
    others = [e for e in map(entry_of, await services.kube.list(EXPERIMENTS, namespace)) if e]
    return blocker(me, others)


async def _wait_in_line(
    services: Services,
    body: dict[str, Any],
    status: ExperimentStatus,
    model: str,
    waits_for: str,
    state: PassState,
    now: datetime,
) -> None:
    """Pending with a Waiting condition naming the Experiment ahead; one event per change."""
    message = (
        f"waiting for Experiment {waits_for}: one Experiment per model at a time, and it "
        f"rolls out model {model} in this namespace; this one starts when it ends"
    )
    updated = _with_condition(status, WAITING, "True", "ModelBusy", message, now)
    updated = updated.model_copy(update={"message": message})
    patch = status_patch(body.get("status"), updated.to_wire())
    if patch:
        await write_status(services, body, patch)
    if state.reported != message:
        await post_event(services, body, "Normal", "Waiting", message)
        state.reported = message


def _spec_problem(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        lines.append(f"spec.{where}: {str(err.get('msg', '')).removeprefix('Value error, ')}")
    more = len(exc.errors()) - len(lines)
    text = "; ".join(lines) + (f" (and {more} more)" if more > 0 else "")
    return f"invalid spec: {text}; fix the Experiment (it is picked up without a restart)"


async def experiment_pass(
    services: Services, namespace: str, name: str, state: PassState | None = None
) -> float | None:
    """Run one pass; the seconds until the next, or None when the Experiment needs no more.

    None only when the Experiment is gone, or finished with everything its status calls
    for applied: a daemon that gets None may end.
    """
    state = state if state is not None else PassState()
    with services.metrics.reconcile_duration.labels("experiment").time():
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                return await _pass(services, namespace, name, state)
            except Conflict as exc:
                # Someone wrote since we read: read again and decide again.
                log.info("experiment.conflict", name=name, namespace=namespace,
                         attempt=attempt, error=str(exc))  # fmt: skip
                if attempt == CONFLICT_RETRIES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


async def _pass(services: Services, namespace: str, name: str, state: PassState) -> float | None:
    """read -> resync -> decide -> persist -> export -> act: the crash-safe order (see the
    module docstring; tests/operator/faults/test_faults_write_order.py pins it)."""
    facts = await _read(services, namespace, name, state)
    if not isinstance(facts, _Facts):
        return facts  # gone (None), or held on a problem or in line (the next look)
    if facts.status.phase in TERMINAL_PHASES and not undo_pending(facts.status, facts.now):
        return await _settle(services, facts, state)
    # First pass of this process, or actions left over: make routing match the status
    # before deciding anything (a crash may have come between the status and the traffic).
    if not await _resync(services, facts, state):
        return _retry(services, state)
    problem = same_version_problem(facts.spec, facts.baseline, facts.candidate)
    if problem:
        await _hold_on_problem(
            services, facts.body, facts.status, "SameVersion", problem, state, facts.now
        )
        return _poll(services)
    decision = await _decide(services, facts, state)
    recorded = await _persist(services, facts, decision, state)
    _export_pass(services, facts, recorded)
    if not await _act(services, facts, state):
        return _retry(services, state)
    state.failures = 0
    new = recorded.new
    if new.phase in TERMINAL_PHASES:
        return next_look(services, facts.spec, new, facts.now)  # None, unless `undo` may come
    interval = facts.spec.analysis.interval_seconds
    delay = recorded.requeue_after if recorded.requeue_after is not None else interval
    return max(services.settings.min_analysis_interval, delay)


async def _read(
    services: Services, namespace: str, name: str, state: PassState
) -> _Facts | float | None:
    """The Experiment, its spec and status, its ModelVersions; what this process still owes.

    None when the Experiment is gone; a delay when it cannot run now (an invalid spec, or
    another Experiment on its model goes first): both are reported here.
    """
    kube = services.kube
    body = await kube.get(EXPERIMENTS, namespace, name)
    if body is None:
        return None
    now = datetime.now(UTC)
    try:
        status = known_status(body.get("status"))
    except ValidationError:
        status = ExperimentStatus()  # a status we cannot read is rewritten from scratch
    try:
        spec = ExperimentSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        await _hold_on_problem(
            services, body, status, "InvalidSpec", _spec_problem(exc), state, now
        )
        return _poll(services)
    annotations = body.get("metadata", {}).get("annotations") or {}
    intent = read_intent(spec.paused, annotations)
    if status.phase == ExperimentPhase.PENDING:
        waits_for = await _waits_for(services, namespace, body)
        if waits_for is not None:
            await _wait_in_line(services, body, status, spec.model, waits_for, state, now)
            return _poll(services)
        waiting = condition_of(status, WAITING)
        if waiting is not None and waiting.status == "True":
            status = _with_condition(status, WAITING, "False", "Started",
                                     f"no other Experiment rolls out model {spec.model} now",
                                     now)  # fmt: skip

    baseline_body, candidate_body = await asyncio.gather(
        kube.get(MODELVERSIONS, namespace, spec.baseline),
        kube.get(MODELVERSIONS, namespace, spec.candidate),
    )
    bodies = (baseline_body, candidate_body)
    baseline = version_ref(spec.baseline, bodies[0])
    candidate = version_ref(spec.candidate, bodies[1])
    facts = _Facts(
        body, spec, status, baseline, candidate,
        namespace=namespace, name=name, now=now, annotations=annotations, intent=intent,
        world=world_of(baseline, candidate, bodies), bodies=bodies,
    )  # fmt: skip
    if state.unconfirmed is not None:
        wire, owed, moved, retiring = state.unconfirmed
        state.unconfirmed = None
        if not status_patch(body.get("status"), wire):  # it landed: its actions are owed
            state.events.extend(owed)
            state.resync = state.resync or moved
            state.retire = retiring or state.retire
    in_sync = condition_of(status, TRAFFIC_IN_SYNC)
    if in_sync is not None and in_sync.status != "True":
        state.resync = True  # recorded as not applied (by this process or another): apply it
    return facts


async def _settle(services: Services, facts: _Facts, state: PassState) -> float | None:
    """A finished Experiment: nothing to decide, only what its status still owes."""
    status = facts.status
    if status.phase == ExperimentPhase.SUCCEEDED and (state.resync or previous_waits(status)):
        # a crash may have come before it, or the undo window just closed
        state.retire = _retire_reason(facts.spec, facts.name)
    if not await _catch_up(services, facts, state, facts.now):
        return _retry(services, state)
    state.failures = 0
    _export(services, facts.namespace, facts.name, facts.spec, facts.status, facts.status)
    return None


async def _resync(services: Services, facts: _Facts, state: PassState) -> bool:
    """Before deciding: the routing, events and retirement the recorded status calls for."""
    return await _catch_up(services, facts, state, facts.now)


async def _decide(services: Services, facts: _Facts, state: PassState) -> Decision:
    """Observe what the plan asks for and let the pure engine decide."""
    spec, status, now = facts.spec, facts.status, facts.now
    assert facts.world is not None
    state.decided_at = time.monotonic()
    plan = plan_observation(spec, status, facts.world, now)
    observations = []
    if plan is not None:
        observations = await services.provider.observe(
            plan, spec.analysis.metrics, metric_target(spec, facts.namespace, facts.bodies), now
        )
    return reconcile(spec, status, facts.world, observations, facts.intent, now)


async def _persist(
    services: Services, facts: _Facts, decision: Decision, state: PassState
) -> _Recorded:
    """Write the decision to status (conditional), consume the one-shot annotations, and
    keep every action it calls for in `state` until it is applied."""
    spec, status, body, now = facts.spec, facts.status, facts.body, facts.now
    new = decision.status
    moves = [a for a in decision.actions if isinstance(a, SetTraffic)]
    if moves:
        new = _with_condition(
            new, TRAFFIC_IN_SYNC, "False", "Applying",
            f"applying {_weight_words(moves[-1])}", now,
        )  # fmt: skip
    valid = condition_of(new, SPEC_VALID)
    if valid is not None and valid.status != "True":
        new = _with_condition(new, SPEC_VALID, "True", "Valid", "the spec can be run", now)
        state.reported = None
    wire = new.to_wire()
    owed = [a for a in decision.actions if isinstance(a, EmitEvent)]
    promoted = new.phase == ExperimentPhase.SUCCEEDED and status.phase != ExperimentPhase.SUCCEEDED
    retiring = _retire_reason(spec, facts.name) if promoted and retire_due(new, now) else None
    patch = status_patch(body.get("status"), wire)
    if patch:
        try:
            await write_status(services, body, patch)
        except Conflict:
            raise  # someone wrote in between: re-read and decide again
        except Exception:
            state.unconfirmed = (wire, owed, bool(moves), retiring)
            raise
    facts.status = new
    done = consumed(facts.annotations)
    if done:
        _refresh(
            body,
            await services.kube.patch(
                EXPERIMENTS, facts.namespace, facts.name, {"metadata": {"annotations": done}}
            ),
        )
    # Decided and recorded: from here on every action is kept until it is applied.
    state.resync = state.resync or bool(moves)
    state.events.extend(owed)
    state.retire = retiring or state.retire
    return _Recorded(status, new, owed, decision.requeue_after)


def _export_pass(services: Services, facts: _Facts, recorded: _Recorded) -> None:
    """The recorded decision as counters and gauges, notifications and a log line (before the
    actions: they reflect what status says even while an action is being retried)."""
    old, new = recorded.old, recorded.new
    _export(services, facts.namespace, facts.name, facts.spec, old, new)
    notify_pass(services.notifier, namespace=facts.namespace, name=facts.name, spec=facts.spec,
                old=old, new=new, events=recorded.owed, now=facts.now)  # fmt: skip
    if new.phase != old.phase:
        log.info("experiment.phase", name=facts.name, namespace=facts.namespace,
                 phase=new.phase.value, weight=new.weight, message=new.message)  # fmt: skip


async def _act(services: Services, facts: _Facts, state: PassState) -> bool:
    """After persisting: routing, then events, then retiring the old baseline."""
    return await _catch_up(services, facts, state, facts.now)


def _retry(services: Services, state: PassState) -> float:
    """Something owed did not apply: it stays in `state`; look again soon."""
    state.failures += 1
    return retry_delay(services, state)


def _poll(services: Services) -> float:
    """How soon to look again at an Experiment that cannot run as written."""
    return services.settings.version_poll_interval


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

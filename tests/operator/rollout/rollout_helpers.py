"""Builders, a pass-by-pass driver and hypothesis strategies for the rollout engine's tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from hypothesis import strategies as st

from modelrollout_operator.analysis import Tally
from modelrollout_operator.api.v1alpha1 import ExperimentSpec, ExperimentStatus
from modelrollout_operator.rollout import (
    Decision,
    EmitEvent,
    Measurement,
    MetricObservation,
    SetTraffic,
    UserIntent,
    World,
    plan_observation,
    reconcile,
)

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
READY = World(
    baseline_ready=True, candidate_ready=True, baseline_version="1", candidate_version="2"
)
NOT_READY = replace(READY, candidate_ready=False)

#: What the metrics say in one pass: pass, fail, no data, too few samples, provider error.
Quality = Literal["pass", "fail", "missing", "few", "error"]
QUALITIES: tuple[Quality, ...] = ("pass", "fail", "missing", "few", "error")


def make_spec(**overrides: Any) -> ExperimentSpec:
    """A canary 10/25/50/100 with a latency check, changed by camelCase `overrides`."""
    doc: dict[str, Any] = {
        "model": "scorer",
        "baseline": "scorer-v1",
        "candidate": "scorer-v2",
        "strategy": {
            "type": "canary",
            "canary": {"steps": [{"weight": w, "bake": "1m"} for w in (10, 25, 50, 100)]},
        },
        "analysis": {
            "interval": "30s",
            "failureLimit": 2,
            "metrics": [{"name": "latency", "kind": "latency", "max": 0.05, "minSamples": 10}],
        },
    }
    doc.update(overrides)
    return ExperimentSpec.model_validate(doc)


def observe(spec: ExperimentSpec, quality: Quality) -> list[MetricObservation]:
    """Observations for every metric of `spec` that lead to `quality`."""
    out: list[MetricObservation] = []
    for check in spec.analysis.metrics:
        if quality == "error":
            out.append(
                MetricObservation(check.name, Measurement(None), error="prometheus unreachable")
            )
            continue
        if quality == "missing":
            out.append(MetricObservation(check.name, Measurement(None), Measurement(None)))
            continue
        if check.kind == "accuracy":
            n = 2 if quality == "few" else 40_000
            rate = 0.5 if quality == "fail" else 0.9
            out.append(
                MetricObservation(
                    check.name,
                    Measurement(rate, n, round(rate * n)),
                    Measurement(0.9, n, round(0.9 * n)),
                )
            )
            continue
        samples = 1 if quality == "few" else 500
        good = 0.01 if check.lower_is_better else 0.99
        bad = 10.0 if check.lower_is_better else -10.0
        value = bad if quality == "fail" else good
        if check.is_failure_rate:
            # and the cumulative tallies the test against the baseline reads
            n = 1 if quality == "few" else 40_000
            failed = n // 2 if quality == "fail" else round(0.01 * n)
            out.append(
                MetricObservation(
                    check.name,
                    Measurement(min(value, 1.0), samples, tally=Tally(failed, n)),
                    Measurement(good, 5000, tally=Tally(400, 40_000)),
                )
            )
            continue
        out.append(
            MetricObservation(check.name, Measurement(value, samples), Measurement(good, 5000))
        )
    return out


@dataclass(frozen=True)
class Tick:
    """One reconcile pass: time since the previous one, the world, the user, the metrics."""

    dt: float
    world: World = READY
    intent: UserIntent = field(default_factory=UserIntent)
    quality: Quality | None = "pass"  # None: the driver measured nothing this pass


@dataclass
class Trace:
    statuses: list[ExperimentStatus]
    decisions: list[Decision]
    ticks: list[Tick]
    times: list[datetime]
    observed: list[bool]  # whether the pass carried observations


def run(
    spec: ExperimentSpec,
    ticks: Sequence[Tick],
    status: ExperimentStatus | None = None,
    start: datetime = T0,
    restart: bool = False,
) -> Trace:
    """Drive the engine as an operator would; `restart` re-reads status from its wire form."""
    st = status or ExperimentStatus()
    now = start
    trace = Trace([st], [], [], [], [])
    for tick in ticks:
        now = now + timedelta(seconds=tick.dt)
        plan = plan_observation(spec, st, tick.world, now)
        obs = observe(spec, tick.quality) if plan is not None and tick.quality else None
        decision = reconcile(spec, st, tick.world, obs, tick.intent, now)
        st = decision.status
        if restart:
            st = ExperimentStatus.model_validate(st.to_wire())
        trace.statuses.append(st)
        trace.decisions.append(decision)
        trace.ticks.append(tick)
        trace.times.append(now)
        trace.observed.append(obs is not None)
    return trace


def traffic(decision: Decision) -> list[SetTraffic]:
    return [a for a in decision.actions if isinstance(a, SetTraffic)]


def events(decision: Decision) -> list[EmitEvent]:
    return [a for a in decision.actions if isinstance(a, EmitEvent)]


def passes(spec: ExperimentSpec, n: int, dt: float = 30.0) -> list[Tick]:
    return [Tick(dt=dt) for _ in range(n)]


# -- hypothesis strategies -------------------------------------------------------------------

_DURATIONS = ("0s", "10s", "30s", "1m", "90s", "2m")


@st.composite
def canary_docs(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        weights = sorted(draw(st.sets(st.integers(1, 100), min_size=1, max_size=5)))
        steps: list[dict[str, Any]] = []
        for w in weights:
            if draw(st.integers(0, 4)) == 0:
                steps.append({"weight": w, "gate": "manual"})
            elif draw(st.booleans()):
                steps.append({"weight": w, "bake": draw(st.sampled_from(_DURATIONS))})
            else:
                steps.append({"weight": w})
        return {"type": "canary", "canary": {"steps": steps}}
    max_weight = draw(st.integers(1, 100))
    step_weight = draw(st.integers(max(1, max_weight // 5), max_weight))
    return {
        "type": "canary",
        "canary": {
            "stepWeight": step_weight,
            "maxWeight": max_weight,
            "stepBake": draw(st.sampled_from(_DURATIONS)),
        },
    }


@st.composite
def specs(draw: st.DrawFn) -> ExperimentSpec:
    """Random valid Experiments: every strategy, gates, limits, no-data policies, promotion."""
    kind = draw(st.sampled_from(["canary", "canary", "abTest", "shadow"]))
    if kind == "canary":
        strategy = draw(canary_docs())
    elif kind == "abTest":
        strategy = {
            "type": "abTest",
            "abTest": {
                "weight": draw(st.integers(1, 99)),
                "minDuration": draw(st.sampled_from(("0s", "30s", "1m"))),
                "maxDuration": draw(st.sampled_from(("1m", "5m", "10m"))),
            },
        }
    else:
        strategy = {
            "type": "shadow",
            "shadow": {
                "percent": draw(st.integers(1, 100)),
                "duration": draw(st.sampled_from(("0s", "1m", "3m"))),
            },
        }
    metrics: list[dict[str, Any]] = [
        {"name": "latency", "kind": "latency", "max": 0.05, "minSamples": 10}
    ]
    if draw(st.booleans()):
        metrics.append(
            {"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.05, "minSamples": 50}
        )
    if draw(st.booleans()):
        metrics.append(
            {
                "name": "errors",
                "kind": "errorRate",
                "maxDegradation": 0.5,
                "degradation": "relative",
                "minSamples": 10,
            }
        )
    return make_spec(
        strategy=strategy,
        analysis={
            "interval": draw(st.sampled_from(("10s", "30s", "1m"))),
            "failureLimit": draw(st.integers(1, 3)),
            "alpha": draw(st.sampled_from((0.01, 0.05))),
            "noData": {
                "policy": draw(st.sampled_from(("hold", "rollback"))),
                "after": draw(st.sampled_from(("30s", "2m"))),
            },
            "metrics": metrics,
        },
        promotion={"mode": draw(st.sampled_from(("automatic", "manual")))},
        paused=draw(st.integers(0, 9)) == 0,
    )


@st.composite
def ticks(draw: st.DrawFn) -> Tick:
    """One pass: mostly ready and passing, with rare user actions and outages."""
    dt = draw(st.sampled_from((0.0, 5.0, 10.0, 30.0, 30.0, 45.0, 60.0, 120.0)))
    world = READY
    roll = draw(st.integers(0, 59))
    if roll == 0:
        world = NOT_READY
    elif roll == 1:
        world = replace(READY, baseline_ready=False)
    elif roll == 2 and draw(st.integers(0, 3)) == 0:
        world = replace(NOT_READY, candidate_problem="training rejected: accuracy 0.71 < 0.85")
    approval = draw(st.integers(0, 3))
    intent = UserIntent(
        paused=draw(st.integers(0, 15)) == 0,
        approve=approval == 0,  # bare: one-shot, for the gate current when the pass began
        approve_step=draw(st.integers(1, 5)) if approval == 1 else None,
        promote=draw(st.integers(0, 100)) == 0,
        abort=draw(st.integers(0, 200)) == 0,
    )
    quality = draw(
        st.sampled_from(("pass", "pass", "pass", "pass", "fail", "missing", "few", "error", None))
    )
    return Tick(dt=dt, world=world, intent=intent, quality=quality)


tick_streams = st.lists(ticks(), min_size=1, max_size=40)

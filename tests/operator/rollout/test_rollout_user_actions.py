"""What people do by hand: pause, resume, approve a gate, promote, abort."""

from __future__ import annotations

from dataclasses import replace

from rollout_helpers import READY, T0, Tick, events, make_spec, run, traffic

from modelrollout_operator.api.v1alpha1 import ExperimentPhase, ExperimentStatus
from modelrollout_operator.rollout import SetTraffic, UserIntent, reconcile

PAUSE = UserIntent(paused=True)


def gated_spec(promotion: str = "automatic") -> object:
    return make_spec(
        strategy={
            "type": "canary",
            "canary": {
                "steps": [
                    {"weight": 10, "bake": "30s"},
                    {"weight": 50, "gate": "manual"},
                    {"weight": 80, "bake": "30s"},
                ]
            },
        },
        promotion={"mode": promotion},
    )


def test_pause_holds_the_weight_and_counts_no_analysis() -> None:
    spec = make_spec()
    trace = run(
        spec,
        [Tick(dt=0.0), Tick(dt=30.0)] + [Tick(dt=30.0, intent=PAUSE, quality="fail")] * 4,
    )
    paused = trace.statuses[-1]
    assert paused.phase == ExperimentPhase.PAUSED and paused.weight == 10
    assert paused.failed_checks == 0 and len(paused.analysis) == 1
    assert [e.reason for d in trace.decisions for e in events(d)] == ["Started", "Paused"]
    assert all(traffic(d) == [] for d in trace.decisions[2:])


def test_spec_paused_pauses_too_and_resume_continues_the_step_clock() -> None:
    spec = make_spec()
    trace = run(spec, [Tick(dt=0.0), Tick(dt=30.0)])  # 30s into a 1m bake, analysis passed
    paused = run(
        replace_paused(spec, True),
        [Tick(dt=0.0), Tick(dt=300.0)],
        trace.statuses[-1],
        trace.times[-1],
    )
    assert paused.statuses[-1].phase == ExperimentPhase.PAUSED
    assert paused.statuses[-1].current_step == 1  # 5 minutes paused: the 1m bake did not end
    resumed = run(spec, [Tick(dt=0.0, quality=None)], paused.statuses[-1], paused.times[-1])
    status = resumed.statuses[-1]
    assert status.phase == ExperimentPhase.PROGRESSING and status.current_step == 1
    assert status.step_started_at is not None
    baked = (resumed.times[-1] - status.step_started_at).total_seconds()
    assert baked == 30.0  # the paused 5 minutes do not count as baking
    (event,) = events(resumed.decisions[-1])
    assert event.reason == "Resumed"
    # Another interval completes the 1m bake with a passing analysis: the step moves on.
    more = run(spec, [Tick(dt=30.0)], status, resumed.times[-1])
    assert more.statuses[-1].current_step == 2


def replace_paused(spec: object, paused: bool) -> object:
    return spec.model_copy(update={"paused": paused})  # type: ignore[attr-defined]


def test_manual_gate_waits_for_approval_and_approval_is_idempotent() -> None:
    spec = gated_spec()
    trace = run(spec, [Tick(dt=30.0) for _ in range(8)])
    waiting = trace.statuses[-1]
    assert waiting.current_step == 2 and waiting.weight == 50
    assert [e.reason for d in trace.decisions for e in events(d)].count("AwaitingApproval") == 1
    approve = UserIntent(approve=True)
    first = reconcile(spec, waiting, READY, None, approve, trace.times[-1] + _s(30))
    assert first.status.approved_step == 2 and first.status.current_step == 3
    assert traffic(first) == [SetTraffic(80)]
    again = reconcile(spec, first.status, READY, None, approve, trace.times[-1] + _s(30))
    assert again.actions == () and again.status == first.status


def test_approve_step_opens_only_the_named_gate() -> None:
    spec = gated_spec()
    trace = run(spec, [Tick(dt=30.0, intent=UserIntent(approve_step=3)) for _ in range(8)])
    assert trace.statuses[-1].current_step == 2 and trace.statuses[-1].approved_step is None
    trace = run(spec, [Tick(dt=30.0, intent=UserIntent(approve_step=2)) for _ in range(8)])
    assert trace.statuses[-1].phase == ExperimentPhase.SUCCEEDED


def test_manual_promotion_waits_after_the_last_step_then_promotes() -> None:
    spec = make_spec(promotion={"mode": "manual"})
    trace = run(spec, [Tick(dt=30.0) for _ in range(14)])
    waiting = trace.statuses[-1]
    assert waiting.phase == ExperimentPhase.PROGRESSING and waiting.weight == 100
    assert "modelrollout promote" in waiting.message
    reasons = [e.reason for d in trace.decisions for e in events(d)]
    assert reasons.count("AwaitingPromotion") == 1 and "Promoted" not in reasons
    d = reconcile(spec, waiting, READY, None, UserIntent(promote=True), trace.times[-1] + _s(1))
    assert d.status.phase == ExperimentPhase.SUCCEEDED
    assert traffic(d) == [SetTraffic(100, promoted=True)]
    assert [e.reason for e in events(d)] == ["Promoted"]


def test_promote_skips_the_remaining_steps() -> None:
    spec = make_spec()
    trace = run(spec, [Tick(dt=0.0), Tick(dt=30.0, intent=UserIntent(promote=True))])
    assert trace.statuses[-1].phase == ExperimentPhase.SUCCEEDED
    assert traffic(trace.decisions[-1]) == [SetTraffic(100, promoted=True)]


def test_promote_waits_for_a_ready_candidate() -> None:
    spec = make_spec()
    world = replace(READY, candidate_ready=False)
    d = reconcile(spec, ExperimentStatus(), world, None, UserIntent(promote=True), T0)
    assert d.status.phase == ExperimentPhase.PENDING and traffic(d) == []
    assert "promotion requested" in d.status.message


def test_abort_rolls_back_in_one_action() -> None:
    spec = make_spec()
    trace = run(
        spec, [Tick(dt=30.0) for _ in range(4)] + [Tick(dt=1.0, intent=UserIntent(abort=True))]
    )
    d = trace.decisions[-1]
    assert traffic(d) == [SetTraffic(0)]
    (event,) = events(d)
    assert event.reason == "Aborted" and event.type == "Warning"
    assert "aborted by user" in event.message and "step 2/4 (weight 25%)" in event.message
    assert trace.statuses[-1].phase == ExperimentPhase.ROLLED_BACK


def _s(seconds: float) -> object:
    from datetime import timedelta

    return timedelta(seconds=seconds)

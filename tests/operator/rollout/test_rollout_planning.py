"""What to measure and when; the traffic a status calls for; restarts from stored status."""

from __future__ import annotations

from datetime import timedelta

from rollout_helpers import NOT_READY, READY, T0, Tick, make_spec, run

from modelrollout_operator.api.v1alpha1 import ExperimentPhase, ExperimentStatus
from modelrollout_operator.rollout import (
    SetTraffic,
    UserIntent,
    desired_traffic,
    plan_observation,
    reconcile,
)


def test_plan_is_none_until_an_interval_after_the_start() -> None:
    spec = make_spec()
    assert plan_observation(spec, ExperimentStatus(), READY, T0) is None  # Pending
    started = reconcile(spec, ExperimentStatus(), READY, None, UserIntent(), T0).status
    assert plan_observation(spec, started, READY, T0 + timedelta(seconds=29)) is None
    plan = plan_observation(spec, started, READY, T0 + timedelta(seconds=30))
    assert plan is not None
    assert plan.metrics == ("latency",)
    assert (plan.baseline_version, plan.candidate_version) == ("1", "2")
    assert plan.since == T0


def test_plan_is_none_when_paused_not_ready_finished_or_already_analysed() -> None:
    spec = make_spec()
    trace = run(spec, [Tick(dt=0.0), Tick(dt=30.0)])
    status, now = trace.statuses[-1], trace.times[-1]
    assert plan_observation(spec, status, READY, now) is None  # analysed at `now`
    later = now + timedelta(seconds=30)
    assert plan_observation(spec, status, READY, later) is not None
    assert plan_observation(spec, status, NOT_READY, later) is None
    assert plan_observation(spec.model_copy(update={"paused": True}), status, READY, later) is None
    done = status.model_copy(update={"phase": ExperimentPhase.SUCCEEDED})
    assert plan_observation(spec, done, READY, later) is None


def test_an_analysis_at_the_same_instant_is_counted_once() -> None:
    spec = make_spec()
    trace = run(spec, [Tick(dt=0.0), Tick(dt=30.0, quality="fail")])
    status, now = trace.statuses[-1], trace.times[-1]
    from rollout_helpers import observe

    again = reconcile(spec, status, READY, observe(spec, "fail"), UserIntent(), now)
    assert again.status.failed_checks == 1 and len(again.status.analysis) == 1


def test_requeue_points_at_the_next_useful_moment() -> None:
    spec = make_spec()
    start = reconcile(spec, ExperimentStatus(), READY, None, UserIntent(), T0)
    assert start.requeue_after == 30.0  # first analysis one interval after the start
    pending = reconcile(spec, ExperimentStatus(), NOT_READY, None, UserIntent(), T0)
    assert pending.requeue_after == 30.0
    trace = run(spec, [Tick(dt=0.0), Tick(dt=45.0)])
    assert trace.decisions[-1].requeue_after == 15.0  # the 1m bake ends before the next analysis


def test_desired_traffic_resyncs_from_status() -> None:
    spec = make_spec()
    trace = run(spec, [Tick(dt=30.0) for _ in range(4)])
    status = trace.statuses[-1]
    assert desired_traffic(spec, status) == SetTraffic(status.weight)
    assert desired_traffic(spec, ExperimentStatus()) == SetTraffic(0)
    promoted = status.model_copy(update={"phase": ExperimentPhase.SUCCEEDED, "weight": 100})
    assert desired_traffic(spec, promoted) == SetTraffic(100, promoted=True)
    shadow = make_spec(strategy={"type": "shadow", "shadow": {"percent": 5}})
    started = reconcile(shadow, ExperimentStatus(), READY, None, UserIntent(), T0).status
    assert desired_traffic(shadow, started) == SetTraffic(0, shadow_percent=5)


def test_restart_mid_rollout_emits_no_traffic_and_continues() -> None:
    spec = make_spec()
    trace = run(spec, [Tick(dt=30.0) for _ in range(4)])
    stored = ExperimentStatus.model_validate(trace.statuses[-1].to_wire())
    assert stored == trace.statuses[-1]
    resumed = reconcile(spec, stored, READY, None, UserIntent(), trace.times[-1])
    assert resumed.actions == ()
    later = run(spec, [Tick(dt=30.0) for _ in range(8)], stored, trace.times[-1], restart=True)
    steps = [s.current_step for s in later.statuses]
    assert steps == sorted(steps) and set(steps) >= {2, 3, 4}

"""After the promotion: the holdback window, the scale-down delay, and `undo`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rollout_helpers import QUALITIES, READY, Tick, events, make_spec, run, traffic

from modelrollout_operator.api.v1alpha1 import ExperimentPhase, ExperimentStatus, Verdict
from modelrollout_operator.rollout import desired_traffic, plan_observation, reconcile
from modelrollout_operator.rollout.holding import retire_due, undo_open
from modelrollout_operator.rollout.model import UserIntent

PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HOLDBACK = {"mode": "automatic", "holdback": {"percent": 5, "duration": "10m"}}
ACCURACY = {
    "interval": "30s",
    "failureLimit": 2,
    "metrics": [
        {"name": "latency", "kind": "latency", "max": 0.05, "minSamples": 10},
        {"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.05, "minSamples": 50},
    ],
}


def _holding(**promotion: object) -> tuple[object, ExperimentStatus]:
    """A spec with holdback, and the status right after its promotion."""
    spec = make_spec(promotion={**HOLDBACK, **promotion}, analysis=ACCURACY)
    trace = run(spec, [Tick(dt=30.0) for _ in range(12)])
    held = next(s for s in trace.statuses if s.phase == ExperimentPhase.HOLDING_BACK)
    return spec, held


def test_a_promotion_with_holdback_keeps_the_previous_version_serving_its_share() -> None:
    spec = make_spec(promotion=HOLDBACK, analysis=ACCURACY)
    trace = run(spec, [Tick(dt=30.0) for _ in range(12)])
    i = next(i for i, s in enumerate(trace.statuses) if s.phase == ExperimentPhase.HOLDING_BACK)
    held = trace.statuses[i]
    assert held.weight == 95 and held.holdback is not None and held.holdback.percent == 5
    assert held.holdback.previous == "scorer-v1"
    assert held.holdback.ends_at == held.holdback.started_at + timedelta(minutes=10)
    assert desired_traffic(spec, held).candidate_weight == 95
    assert not desired_traffic(spec, held).promoted
    decision = trace.decisions[i - 1]
    assert [t.candidate_weight for t in traffic(decision)] == [95]
    assert [e.reason for e in events(decision)] == ["Promoted"]
    assert "keeps 5%" in held.message
    assert not retire_due(held, trace.times[i - 1])


def test_the_holdback_analysis_measures_from_the_promotion_with_the_same_sides() -> None:
    spec, held = _holding()
    assert held.holdback is not None
    plan = plan_observation(spec, held, READY, held.holdback.started_at + timedelta(seconds=31))
    assert plan is not None
    assert plan.since == held.holdback.started_at  # a fresh confidence sequence
    assert (plan.baseline_version, plan.candidate_version) == ("1", "2")  # previous vs promoted


def test_a_regression_after_the_promotion_rolls_back_to_the_previous_version() -> None:
    spec, held = _holding()
    assert held.holdback is not None
    start = held.holdback.started_at
    trace = run(spec, [Tick(dt=30.0, quality="fail") for _ in range(3)], status=held, start=start)
    final = trace.statuses[-1]
    assert final.phase == ExperimentPhase.ROLLED_BACK
    assert final.weight == 0 and desired_traffic(spec, final).candidate_weight == 0
    back = next(d for d in trace.decisions if d.status.phase == ExperimentPhase.ROLLED_BACK)
    assert [t.candidate_weight for t in traffic(back)] == [0]
    assert any(e.type == "Warning" for e in events(back))
    assert "rolled back after the promotion (scorer-v1 at 5%)" in final.message
    assert not retire_due(final, trace.times[-1])


def test_a_clean_window_ends_succeeded_and_the_previous_version_is_retired() -> None:
    spec, held = _holding()
    assert held.holdback is not None
    start = held.holdback.started_at
    trace = run(spec, [Tick(dt=60.0) for _ in range(12)], status=held, start=start)
    final = trace.statuses[-1]
    assert final.phase == ExperimentPhase.SUCCEEDED and final.weight == 100
    assert desired_traffic(spec, final).promoted
    ended = trace.times[[s.phase for s in trace.statuses].index(ExperimentPhase.SUCCEEDED) - 1]
    assert ended >= held.holdback.ends_at
    assert retire_due(final, ended) and not undo_open(final, ended)
    assert any(e.reason == "HoldbackEnded" for d in trace.decisions for e in events(d))


def test_undo_in_the_window_restores_the_previous_version_at_once() -> None:
    spec, held = _holding()
    assert held.holdback is not None
    now = held.holdback.started_at + timedelta(seconds=5)
    decision = reconcile(spec, held, READY, None, UserIntent(undo=True), now)
    assert decision.status.phase == ExperimentPhase.ROLLED_BACK
    assert [t.candidate_weight for t in traffic(decision)] == [0]
    assert [e.reason for e in events(decision)] == ["Undone"]


def test_without_holdback_the_previous_version_waits_the_scale_down_delay() -> None:
    spec = make_spec(promotion={"scaleDownDelay": "30s"})
    trace = run(spec, [Tick(dt=60.0) for _ in range(10)])
    done = trace.statuses[-1]
    assert done.phase == ExperimentPhase.SUCCEEDED and done.holdback is not None
    promoted_at = done.finished_at
    assert promoted_at is not None and done.holdback.ends_at == promoted_at + timedelta(seconds=30)
    assert not retire_due(done, promoted_at + timedelta(seconds=10))
    assert retire_due(done, promoted_at + timedelta(seconds=30))
    undone = reconcile(
        spec, done, READY, None, UserIntent(undo=True), promoted_at + timedelta(seconds=10)
    )
    assert undone.status.phase == ExperimentPhase.ROLLED_BACK
    assert [t.candidate_weight for t in traffic(undone)] == [0]
    late = reconcile(
        spec, done, READY, None, UserIntent(undo=True), promoted_at + timedelta(seconds=31)
    )
    assert late.status == done and late.actions == ()


def test_a_paused_holdback_window_stands_still_and_resumes_with_the_time_it_had_left() -> None:
    spec, held = _holding()
    assert held.holdback is not None
    start, ends = held.holdback.started_at, held.holdback.ends_at
    paused = Tick(dt=60.0, intent=UserIntent(paused=True))
    # 3 min running (the third pass pauses), 30 min paused (the window would have run out),
    # then running on.
    stream = [Tick(dt=60.0)] * 2 + [paused] * 30 + [Tick(dt=60.0)] * 12
    trace = run(spec, stream, status=held, start=start, restart=True)
    phases = [s.phase for s in trace.statuses]
    first_paused = trace.statuses[3]
    assert first_paused.holdback is not None and first_paused.holdback.paused_at == trace.times[2]
    assert "7m left" in first_paused.message and "stands still" in first_paused.message
    assert all(p == ExperimentPhase.HOLDING_BACK for p in phases[: 2 + 30 + 1])
    resumed = trace.statuses[2 + 30 + 1]
    assert resumed.holdback is not None and resumed.holdback.paused_at is None
    assert resumed.holdback.ends_at == ends + timedelta(minutes=30)
    ended = phases.index(ExperimentPhase.SUCCEEDED)
    assert trace.times[ended - 1] == ends + timedelta(minutes=30)  # 10 min of running time
    assert [e.reason for e in events(trace.decisions[ended - 1])] == ["HoldbackEnded"]


@st.composite
def holdback_ticks(draw: st.DrawFn) -> Tick:
    world = READY
    roll = draw(st.integers(0, 29))
    if roll == 0:
        world = replace(READY, baseline_ready=False)
    elif roll == 1:
        world = replace(READY, candidate_ready=False)
    intent = UserIntent(
        undo=draw(st.integers(0, 30)) == 0,
        promote=draw(st.integers(0, 30)) == 0,
        paused=draw(st.integers(0, 15)) == 0,
        abort=draw(st.integers(0, 60)) == 0,
    )
    return Tick(
        dt=draw(st.sampled_from((0.0, 10.0, 30.0, 60.0, 120.0))),
        world=world,
        intent=intent,
        quality=draw(st.sampled_from((*QUALITIES, "pass", "fail", None))),
    )


@PROPERTY
@given(stream=st.lists(holdback_ticks(), min_size=1, max_size=30), limit=st.integers(1, 3))
def test_a_failed_verdict_in_holdback_always_ends_with_the_previous_version_at_100(
    stream: list[Tick], limit: int
) -> None:
    spec, held = _holding()
    spec = spec.model_copy(  # type: ignore[attr-defined]
        update={"analysis": spec.analysis.model_copy(update={"failure_limit": limit})}  # type: ignore[attr-defined]
    )
    assert held.holdback is not None
    trace = run(spec, stream, status=held, start=held.holdback.started_at, restart=True)
    for i, decision in enumerate(trace.decisions):
        before, after = trace.statuses[i], trace.statuses[i + 1]
        if before.phase != ExperimentPhase.HOLDING_BACK:
            continue
        counted = after.last_analysis_at != before.last_analysis_at and after.analysis
        if counted and after.analysis[-1].verdict == Verdict.FAIL and after.failed_checks >= limit:
            assert after.phase == ExperimentPhase.ROLLED_BACK
        if after.phase == ExperimentPhase.ROLLED_BACK:
            # previous at 100%: said by status, and applied in the same pass
            assert after.weight == 0 and desired_traffic(spec, after).candidate_weight == 0
            assert [t.candidate_weight for t in traffic(decision)] == [0]
        if after.phase == ExperimentPhase.SUCCEEDED:
            # never promoted for good over a failing verdict, unless a person said so
            now = trace.times[i]
            tick = trace.ticks[i]
            assert (
                tick.intent.promote
                or not tick.world.baseline_ready
                or (
                    now >= held.holdback.ends_at
                    and not any(r.verdict == Verdict.FAIL for r in after.analysis[-2:])
                )
            )
        if after.phase == ExperimentPhase.HOLDING_BACK:
            assert desired_traffic(spec, after).candidate_weight == 95


@PROPERTY
@given(stream=st.lists(holdback_ticks(), min_size=1, max_size=40))
def test_a_holdback_window_ends_cleanly_only_after_its_duration_of_unpaused_time(
    stream: list[Tick],
) -> None:
    spec, held = _holding()
    assert held.holdback is not None
    trace = run(spec, stream, status=held, start=held.holdback.started_at, restart=True)
    running = 0.0  # seconds in the window since the promotion, not counting paused spans
    for i in range(len(trace.decisions)):
        before, after = trace.statuses[i], trace.statuses[i + 1]
        if before.phase != ExperimentPhase.HOLDING_BACK:
            break
        previous_paused = i > 0 and trace.ticks[i - 1].intent.paused
        running += 0.0 if previous_paused else trace.ticks[i].dt
        tick = trace.ticks[i]
        ended_by_clock = not (tick.intent.promote or not tick.world.baseline_ready)
        if after.phase == ExperimentPhase.SUCCEEDED and ended_by_clock:
            assert running >= 600.0, (running, after.message)
        if tick.intent.paused and after.phase == ExperimentPhase.HOLDING_BACK:
            assert after.holdback is not None and after.holdback.paused_at is not None


@PROPERTY
@given(
    holdback=st.booleans(),
    offset=st.integers(0, 3600),
    delay=st.sampled_from(("0s", "30s", "10m")),
)
def test_undo_acts_only_within_the_window(holdback: bool, offset: int, delay: str) -> None:
    promotion: dict[str, object] = {"scaleDownDelay": delay}
    if holdback:
        promotion["holdback"] = {"percent": 10, "duration": "20m"}
    spec = make_spec(promotion=promotion)
    trace = run(spec, [Tick(dt=60.0) for _ in range(6 if not holdback else 30)])
    final = trace.statuses[-1]
    assert final.phase == ExperimentPhase.SUCCEEDED and final.holdback is not None
    now = final.holdback.started_at + timedelta(seconds=offset)
    if now <= trace.times[-1]:
        now = trace.times[-1] + timedelta(microseconds=1)
    decision = reconcile(spec, final, READY, None, UserIntent(undo=True), now)
    if now < final.holdback.ends_at:
        assert decision.status.phase == ExperimentPhase.ROLLED_BACK
        assert desired_traffic(spec, decision.status).candidate_weight == 0
    else:
        assert decision.status == final and decision.actions == ()
        assert retire_due(final, now)

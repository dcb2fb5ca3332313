"""Invariants of the rollout engine over random specs, histories and observation streams."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rollout_helpers import Trace, events, observe, run, specs, tick_streams, traffic

from modelrollout_operator.api.v1alpha1 import (
    TERMINAL_PHASES,
    ExperimentPhase,
    ExperimentSpec,
    ExperimentStatus,
    Verdict,
)
from modelrollout_operator.rollout import desired_traffic, reconcile, steps_of
from modelrollout_operator.rollout.model import UserIntent, World

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _effective_weight(spec: ExperimentSpec, status: ExperimentStatus) -> int:
    return desired_traffic(spec, status).candidate_weight


def _new_run_verdict(before: ExperimentStatus, after: ExperimentStatus) -> Verdict | None:
    if after.last_analysis_at is not None and after.last_analysis_at != before.last_analysis_at:
        return after.analysis[-1].verdict
    return None


@PROPERTY
@given(spec=specs(), stream=tick_streams)
def test_weight_never_exceeds_the_current_steps_target(spec: ExperimentSpec, stream: list) -> None:
    trace = run(spec, stream)
    steps = steps_of(spec)
    for status in trace.statuses:
        if status.phase in TERMINAL_PHASES:
            continue
        target = steps[status.current_step - 1].weight if status.current_step else 0
        assert status.weight <= target
        assert _effective_weight(spec, status) <= target


@PROPERTY
@given(spec=specs(), stream=tick_streams)
def test_weight_never_rises_after_a_failing_verdict(spec: ExperimentSpec, stream: list) -> None:
    trace = run(spec, stream)
    failed_before = False  # a failure in the previous pass
    for i, decision in enumerate(trace.decisions):
        before, after = trace.statuses[i], trace.statuses[i + 1]
        failed_now = _new_run_verdict(before, after) == Verdict.FAIL
        if failed_now or failed_before:
            assert _effective_weight(spec, after) <= _effective_weight(spec, before)
            for action in traffic(decision):
                assert action.candidate_weight <= _effective_weight(spec, before)
        failed_before = failed_now


@PROPERTY
@given(spec=specs(), stream=tick_streams)
def test_rollback_sets_the_candidate_to_zero_in_one_action(
    spec: ExperimentSpec, stream: list
) -> None:
    trace = run(spec, stream)
    for i, decision in enumerate(trace.decisions):
        assert len(traffic(decision)) <= 1
        before, after = trace.statuses[i], trace.statuses[i + 1]
        if after.phase in (ExperimentPhase.ROLLED_BACK, ExperimentPhase.FAILED) and (
            before.phase not in TERMINAL_PHASES
        ):
            (action,) = traffic(decision)
            assert action.candidate_weight == 0
            assert action.shadow_percent == 0
            assert not action.promoted
            assert after.weight == 0
            assert any(e.type == "Warning" for e in events(decision))


@PROPERTY
@given(spec=specs(), stream=tick_streams)
def test_same_inputs_twice_is_idempotent(spec: ExperimentSpec, stream: list) -> None:
    trace = run(spec, stream)
    for i, decision in enumerate(trace.decisions):
        tick, now = trace.ticks[i], trace.times[i]
        if tick.intent.approve:
            continue  # a bare approve is one-shot by contract; approve_step is the level form
        # Replay the very same pass on the status it produced, observations included.
        obs = observe(spec, tick.quality) if trace.observed[i] and tick.quality else None
        again = reconcile(spec, decision.status, tick.world, obs, tick.intent, now)
        assert again.actions == ()
        assert again.status == decision.status


@PROPERTY
@given(spec=specs(), stream=tick_streams)
def test_restart_from_persisted_status_neither_repeats_nor_skips(
    spec: ExperimentSpec, stream: list
) -> None:
    in_memory = run(spec, stream)
    restarted = run(spec, stream, restart=True)
    assert [d.actions for d in restarted.decisions] == [d.actions for d in in_memory.decisions]
    assert restarted.statuses[-1].to_wire() == in_memory.statuses[-1].to_wire()
    _steps_walk_one_by_one(restarted)


def _steps_walk_one_by_one(trace: Trace) -> None:
    seen: list[int] = []
    for i, decision in enumerate(trace.decisions):
        before, after = trace.statuses[i], trace.statuses[i + 1]
        assert after.current_step in (before.current_step, before.current_step + 1) or (
            after.phase in TERMINAL_PHASES and after.current_step == before.current_step
        )
        advanced = [e for e in events(decision) if e.reason == "StepAdvanced"]
        assert len(advanced) == after.current_step - before.current_step - (
            1 if before.current_step == 0 and after.current_step == 1 else 0
        )
        if after.current_step != before.current_step:
            seen.append(after.current_step)
    assert seen == list(range(1, len(seen) + 1))


@PROPERTY
@given(spec=specs(), stream=tick_streams)
def test_missing_data_is_never_a_pass(spec: ExperimentSpec, stream: list) -> None:
    trace = run(spec, stream)
    for i, tick in enumerate(trace.ticks):
        verdict = _new_run_verdict(trace.statuses[i], trace.statuses[i + 1])
        if verdict is not None and tick.quality in ("missing", "few", "error"):
            assert verdict == Verdict.INCONCLUSIVE


@PROPERTY
@given(spec=specs(), stream=tick_streams)
def test_a_candidate_that_is_not_ready_never_gets_traffic(
    spec: ExperimentSpec, stream: list
) -> None:
    trace = run(spec, stream)
    for i, decision in enumerate(trace.decisions):
        world = trace.ticks[i].world
        if world.candidate_ready and world.candidate_problem is None:
            continue
        if trace.statuses[i].phase in TERMINAL_PHASES:
            continue  # a promoted candidate is the new baseline: no longer this engine's call
        after = trace.statuses[i + 1]
        desired = desired_traffic(spec, after)
        assert desired.candidate_weight == 0 and desired.shadow_percent == 0
        for action in traffic(decision):
            assert action.candidate_weight == 0 and action.shadow_percent == 0


@PROPERTY
@given(spec=specs(), stream=tick_streams, intent=st.builds(UserIntent))
def test_terminal_phases_are_absorbing(
    spec: ExperimentSpec, stream: list, intent: UserIntent
) -> None:
    trace = run(spec, stream)
    last = trace.statuses[-1]
    for i, status in enumerate(trace.statuses[:-1]):
        if status.phase in TERMINAL_PHASES:
            assert trace.decisions[i].actions == ()
            assert trace.statuses[i + 1] == status
    if last.phase in TERMINAL_PHASES:
        world = World(baseline_ready=True, candidate_ready=True)
        later = reconcile(spec, last, world, None, intent, trace.times[-1])
        assert later.actions == () and later.status == last and later.requeue_after is None


@PROPERTY
@given(spec=specs(), stream=tick_streams)
def test_every_phase_change_is_an_event_and_nothing_else_repeats(
    spec: ExperimentSpec, stream: list
) -> None:
    trace = run(spec, stream)
    for i, decision in enumerate(trace.decisions):
        before, after = trace.statuses[i], trace.statuses[i + 1]
        found = events(decision)
        if after.phase != before.phase:
            assert found, f"{before.phase} -> {after.phase} without an event"
        assert len({(e.reason, e.message) for e in found}) == len(found)
        for e in found:
            assert e.message
        assert len(after.analysis) <= 10
        if decision.requeue_after is not None:
            assert decision.requeue_after > 0

"""Canary steps with bake times: the happy path, holding, and the numbers in events."""

from __future__ import annotations

from rollout_helpers import READY, T0, Tick, events, make_spec, run, traffic

from modelrollout_operator.api.v1alpha1 import ExperimentPhase, ExperimentStatus
from modelrollout_operator.rollout import SetTraffic, UserIntent, reconcile


def test_waits_in_pending_until_both_versions_are_ready() -> None:
    spec = make_spec()
    world = READY.__class__(baseline_ready=True, candidate_ready=False)
    d = reconcile(spec, ExperimentStatus(), world, None, UserIntent(), T0)
    assert d.status.phase == ExperimentPhase.PENDING
    assert traffic(d) == [] and events(d) == []
    assert "candidate scorer-v2" in d.status.message
    ready = {c.type: c for c in d.status.conditions}["Ready"]
    assert ready.status == "False" and ready.reason == "CandidateNotReady"


def test_walks_every_step_after_its_bake_and_promotes() -> None:
    spec = make_spec()
    trace = run(spec, [Tick(dt=30.0) for _ in range(12)])
    applied = [a for d in trace.decisions for a in traffic(d)]
    assert applied == [
        SetTraffic(10),
        SetTraffic(25),
        SetTraffic(50),
        SetTraffic(100),
        SetTraffic(100, promoted=True),
    ]
    final = trace.statuses[-1]
    assert final.phase == ExperimentPhase.SUCCEEDED
    assert final.weight == 100 and final.finished_at is not None
    # Started by the first pass (30s); each 1m bake then holds for two 30s analyses.
    moves = [trace.times[i] - T0 for i, d in enumerate(trace.decisions) if traffic(d)]
    assert [m.total_seconds() for m in moves] == [30, 90, 150, 210, 270]


def test_step_events_carry_the_numbers() -> None:
    spec = make_spec()
    trace = run(spec, [Tick(dt=30.0) for _ in range(4)])
    advanced = [e for d in trace.decisions for e in events(d) if e.reason == "StepAdvanced"]
    assert advanced, "expected a step advance"
    message = advanced[0].message
    assert message.startswith("step 2/4: weight 25%")
    assert "latency p99 10ms <= max 50ms (n=500)" in message


def test_does_not_advance_before_the_bake_even_when_analysis_passes() -> None:
    spec = make_spec()
    trace = run(spec, [Tick(dt=0.0), Tick(dt=30.0), Tick(dt=29.0)])
    assert trace.statuses[-1].current_step == 1
    assert trace.statuses[-1].analysis[-1].verdict == "pass"
    d = trace.decisions[-1]
    assert d.requeue_after is not None and 0 < d.requeue_after <= 30.0


def test_holds_while_analysis_is_inconclusive() -> None:
    spec = make_spec()
    trace = run(spec, [Tick(dt=0.0)] + [Tick(dt=30.0, quality="few") for _ in range(6)])
    final = trace.statuses[-1]
    assert final.phase == ExperimentPhase.PROGRESSING
    assert final.current_step == 1 and final.weight == 10
    assert {c.type: c for c in final.conditions}["Analysis"].status == "Unknown"


def test_step_weight_form_walks_to_max_weight() -> None:
    spec = make_spec(
        strategy={
            "type": "canary",
            "canary": {"stepWeight": 20, "maxWeight": 50, "stepBake": "30s"},
        }
    )
    trace = run(spec, [Tick(dt=30.0) for _ in range(8)])
    weights = [a.candidate_weight for d in trace.decisions for a in traffic(d)]
    assert weights == [20, 40, 50, 100]
    assert trace.statuses[-1].total_steps == 3


def test_analysis_history_keeps_the_ten_most_recent_runs() -> None:
    spec = make_spec(
        strategy={"type": "canary", "canary": {"steps": [{"weight": 10, "bake": "1h"}]}}
    )
    trace = run(spec, [Tick(dt=30.0) for _ in range(25)])
    runs = trace.statuses[-1].analysis
    assert len(runs) == 10
    assert runs[-1].time == trace.times[-1]
    assert [r.time for r in runs] == sorted(r.time for r in runs)


def test_rejects_a_naive_clock() -> None:
    import pytest

    with pytest.raises(ValueError, match="timezone-aware"):
        reconcile(
            make_spec(), ExperimentStatus(), READY, None, UserIntent(), T0.replace(tzinfo=None)
        )

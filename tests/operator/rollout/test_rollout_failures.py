"""Failed analyses, missing data, and versions that break: rollback and failure paths."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rollout_helpers import NOT_READY, READY, Tick, events, make_spec, run, traffic

from modelrollout_operator.api.v1alpha1 import ExperimentPhase
from modelrollout_operator.rollout import SetTraffic


def _analysis(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "interval": "30s",
        "failureLimit": 2,
        "metrics": [{"name": "latency", "kind": "latency", "max": 0.05, "minSamples": 10}],
    }
    doc.update(overrides)
    return doc


def test_failed_checks_count_up_to_the_limit_then_roll_back_once() -> None:
    spec = make_spec(analysis=_analysis(failureLimit=2))
    trace = run(spec, [Tick(dt=0.0), Tick(dt=30.0, quality="fail"), Tick(dt=30.0, quality="fail")])
    first, second = trace.decisions[1], trace.decisions[2]
    assert trace.statuses[2].failed_checks == 1 and trace.statuses[2].weight == 10
    assert traffic(first) == [] and "analysis failed (1/2)" in trace.statuses[2].message
    assert traffic(second) == [SetTraffic(0)]
    (event,) = events(second)
    assert event.type == "Warning" and event.reason == "AnalysisFailed"
    assert "latency p99 10000ms > max 50ms" in event.message or "10s > max" in event.message
    final = trace.statuses[-1]
    assert final.phase == ExperimentPhase.ROLLED_BACK and final.weight == 0
    assert final.finished_at == trace.times[-1]
    rolled = {c.type: c for c in final.conditions}["Progressing"]
    assert rolled.status == "False" and rolled.reason == "AnalysisFailed"


def test_a_pass_right_after_a_failure_does_not_raise_the_weight() -> None:
    spec = make_spec(analysis=_analysis(failureLimit=3))
    trace = run(
        spec,
        [Tick(dt=0.0), Tick(dt=30.0), Tick(dt=30.0, quality="fail"), Tick(dt=30.0), Tick(dt=30.0)],
    )
    weights = [s.weight for s in trace.statuses]
    # The 1m bake ends at the 4th pass, but the 3rd failed: only the 5th may move.
    assert weights == [0, 10, 10, 10, 10, 25]


def test_no_data_holds_with_a_condition_after_no_data_after() -> None:
    spec = make_spec(analysis=_analysis(noData={"policy": "hold", "after": "1m"}))
    trace = run(spec, [Tick(dt=0.0)] + [Tick(dt=30.0, quality="missing") for _ in range(5)])
    final = trace.statuses[-1]
    assert final.phase == ExperimentPhase.PROGRESSING and final.weight == 10
    assert final.no_data_since == trace.times[1]
    analysis = {c.type: c for c in final.conditions}["Analysis"]
    assert analysis.status == "Unknown" and analysis.reason == "NoData"
    assert "no data for latency" in final.message
    no_data_events = [e for d in trace.decisions for e in events(d) if e.reason == "NoData"]
    assert len(no_data_events) == 1 and no_data_events[0].type == "Warning"
    assert all(r.verdict == "inconclusive" for r in final.analysis)


def test_no_data_rolls_back_under_the_rollback_policy() -> None:
    spec = make_spec(analysis=_analysis(noData={"policy": "rollback", "after": "1m"}))
    trace = run(spec, [Tick(dt=0.0)] + [Tick(dt=30.0, quality="error") for _ in range(3)])
    assert trace.statuses[-1].phase == ExperimentPhase.ROLLED_BACK
    assert traffic(trace.decisions[-1]) == [SetTraffic(0)]
    assert "noData.after 1m" in trace.statuses[-1].message


def test_data_coming_back_clears_no_data_since() -> None:
    spec = make_spec(analysis=_analysis(noData={"policy": "rollback", "after": "1m"}))
    trace = run(
        spec,
        [
            Tick(dt=0.0),
            Tick(dt=30.0, quality="missing"),
            Tick(dt=30.0),
            Tick(dt=30.0, quality="missing"),
        ],
    )
    assert trace.statuses[2].no_data_since is not None
    assert trace.statuses[3].no_data_since is None
    assert trace.statuses[-1].phase == ExperimentPhase.PROGRESSING


def test_candidate_problem_fails_the_experiment_with_its_reason() -> None:
    spec = make_spec()
    broken = replace(NOT_READY, candidate_problem="training rejected: accuracy 0.71 < 0.85")
    trace = run(spec, [Tick(dt=30.0), Tick(dt=30.0, world=broken)])
    final = trace.statuses[-1]
    assert final.phase == ExperimentPhase.FAILED and final.weight == 0
    assert "accuracy 0.71 < 0.85" in final.message
    assert traffic(trace.decisions[-1]) == [SetTraffic(0)]
    (event,) = events(trace.decisions[-1])
    assert event.reason == "CandidateFailed" and event.type == "Warning"


def test_candidate_that_stops_being_ready_loses_its_traffic_at_once() -> None:
    spec = make_spec()
    trace = run(spec, [Tick(dt=30.0), Tick(dt=30.0, world=NOT_READY)])
    assert traffic(trace.decisions[-1]) == [SetTraffic(0)]
    assert trace.statuses[-1].phase == ExperimentPhase.ROLLED_BACK


def test_baseline_not_ready_holds_without_analysis() -> None:
    spec = make_spec()
    no_baseline = replace(READY, baseline_ready=False)
    trace = run(spec, [Tick(dt=0.0)] + [Tick(dt=30.0, world=no_baseline) for _ in range(4)])
    final = trace.statuses[-1]
    assert final.phase == ExperimentPhase.PROGRESSING and final.weight == 10
    assert final.analysis == [] and "baseline scorer-v1 is not Ready" in final.message


def test_an_interrupted_rollback_completes() -> None:
    spec = make_spec()
    trace = run(spec, [Tick(dt=30.0)])
    status = trace.statuses[-1].model_copy(update={"phase": ExperimentPhase.ROLLING_BACK})
    again = run(spec, [Tick(dt=1.0)], status, trace.times[-1])
    assert again.statuses[-1].phase == ExperimentPhase.ROLLED_BACK
    assert traffic(again.decisions[-1]) == [SetTraffic(0)]

"""A/B tests and shadows: verdicts, minimum durations, deadlines."""

from __future__ import annotations

from rollout_helpers import Tick, events, make_spec, run, traffic

from modelrollout_operator.api.v1alpha1 import ExperimentPhase
from modelrollout_operator.rollout import SetTraffic


def test_ab_test_holds_its_split_until_min_duration_then_promotes_on_pass() -> None:
    spec = make_spec(strategy={"type": "abTest", "abTest": {"weight": 30, "minDuration": "2m"}})
    trace = run(spec, [Tick(dt=30.0) for _ in range(6)])
    applied = [(trace.times[i], a) for i, d in enumerate(trace.decisions) for a in traffic(d)]
    assert [a for _, a in applied] == [SetTraffic(30), SetTraffic(100, promoted=True)]
    promoted_after = (applied[1][0] - applied[0][0]).total_seconds()
    assert promoted_after == 120
    assert trace.statuses[-1].phase == ExperimentPhase.SUCCEEDED


def test_ab_test_rolls_back_at_the_deadline_and_says_so() -> None:
    spec = make_spec(strategy={"type": "abTest", "abTest": {"weight": 50, "maxDuration": "2m"}})
    trace = run(spec, [Tick(dt=0.0)] + [Tick(dt=30.0, quality="few") for _ in range(5)])
    final = trace.statuses[-1]
    assert final.phase == ExperimentPhase.ROLLED_BACK and final.weight == 0
    (event,) = [e for d in trace.decisions for e in events(d) if e.reason == "Deadline"]
    assert "maxDuration 2m" in event.message and event.type == "Warning"


def test_ab_test_failures_roll_back_even_before_min_duration() -> None:
    spec = make_spec(
        strategy={"type": "abTest", "abTest": {"weight": 50, "minDuration": "1h"}},
        analysis={
            "interval": "30s",
            "failureLimit": 1,
            "metrics": [{"name": "latency", "kind": "latency", "max": 0.05, "minSamples": 10}],
        },
    )
    trace = run(spec, [Tick(dt=0.0), Tick(dt=30.0, quality="fail")])
    assert trace.statuses[-1].phase == ExperimentPhase.ROLLED_BACK
    assert traffic(trace.decisions[-1]) == [SetTraffic(0)]


def test_shadow_mirrors_without_user_traffic_and_ends_succeeded() -> None:
    spec = make_spec(strategy={"type": "shadow", "shadow": {"percent": 20, "duration": "1m"}})
    trace = run(spec, [Tick(dt=30.0) for _ in range(4)])
    applied = [a for d in trace.decisions for a in traffic(d)]
    assert applied == [SetTraffic(0, shadow_percent=20), SetTraffic(0)]
    final = trace.statuses[-1]
    assert final.phase == ExperimentPhase.SUCCEEDED and final.weight == 0
    assert "passed in shadow" in final.message and "canaried" in final.message
    assert all(s.weight == 0 for s in trace.statuses)


def test_shadow_failure_stops_mirroring_in_one_action() -> None:
    spec = make_spec(
        strategy={"type": "shadow", "shadow": {"percent": 50, "duration": "10m"}},
        analysis={
            "interval": "30s",
            "failureLimit": 1,
            "metrics": [{"name": "latency", "kind": "latency", "max": 0.05, "minSamples": 10}],
        },
    )
    trace = run(spec, [Tick(dt=0.0), Tick(dt=30.0, quality="fail")])
    assert traffic(trace.decisions[-1]) == [SetTraffic(0, shadow_percent=0)]
    assert trace.statuses[-1].phase == ExperimentPhase.ROLLED_BACK

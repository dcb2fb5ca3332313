"""The engine and the accuracy decision together, on cumulative label counts."""

from __future__ import annotations

from datetime import timedelta

from rollout_helpers import READY, T0, events, make_spec, traffic

from modelrollout_operator.api.v1alpha1 import ExperimentPhase, ExperimentStatus
from modelrollout_operator.rollout import (
    Decision,
    Measurement,
    MetricObservation,
    UserIntent,
    plan_observation,
    reconcile,
)

SPEC = make_spec(
    strategy={"type": "canary", "canary": {"steps": [{"weight": w} for w in (10, 50)]}},
    analysis={
        "interval": "30s",
        "failureLimit": 1,
        "alpha": 0.01,
        "metrics": [
            {"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.02, "minSamples": 100}
        ],
    },
)


def rollout(candidate_accuracy: float, labels_per_interval: int, passes: int) -> list[Decision]:
    """Labels arrive at the candidate's weight; the counts are cumulative since the start."""
    status, now = ExperimentStatus(), T0
    totals = {"c": [0, 0], "b": [0, 0]}
    decisions = []
    for _ in range(passes):
        plan = plan_observation(SPEC, status, READY, now)
        obs = None
        if plan is not None:
            c = labels_per_interval * status.weight // 100
            b = labels_per_interval - c
            totals["c"][0] += round(c * candidate_accuracy)
            totals["c"][1] += c
            totals["b"][0] += round(b * 0.9)
            totals["b"][1] += b
            (cs, cn), (bs, bn) = totals["c"], totals["b"]
            obs = [
                MetricObservation(
                    "accuracy",
                    Measurement(cs / cn if cn else None, cn, cs),
                    Measurement(bs / bn if bn else None, bn, bs),
                )
            ]
        d = reconcile(SPEC, status, READY, obs, UserIntent(), now)
        decisions.append(d)
        status = d.status
        now += timedelta(seconds=30)
    return decisions


def test_a_ten_point_drop_is_rolled_back_with_the_interval_in_the_event() -> None:
    decisions = rollout(0.80, labels_per_interval=2000, passes=20)
    final = decisions[-1].status
    assert final.phase == ExperimentPhase.ROLLED_BACK and final.current_step == 1
    at = next(i for i, d in enumerate(decisions) if d.status.phase == "RolledBack")
    assert at <= 4  # 200 candidate labels an interval: decisive within a few looks
    (event,) = events(decisions[at])
    assert "accuracy 0.800 vs baseline 0.900" in event.message and "below -0.020" in event.message
    run = final.analysis[-1]
    assert run.verdict == "fail" and run.results[0].upper is not None
    assert run.results[0].upper < -0.02


def test_an_equally_good_candidate_is_promoted_once_non_inferiority_is_shown() -> None:
    decisions = rollout(0.90, labels_per_interval=20_000, passes=20)
    final = decisions[-1].status
    assert final.phase == ExperimentPhase.SUCCEEDED
    applied = [a.candidate_weight for d in decisions for a in traffic(d)]
    assert applied == [10, 50, 100]
    assert all(r.verdict != "fail" for r in final.analysis)


def test_too_little_evidence_holds_rather_than_promotes() -> None:
    decisions = rollout(0.90, labels_per_interval=200, passes=10)
    final = decisions[-1].status
    assert final.phase == ExperimentPhase.PROGRESSING and final.current_step == 1
    assert final.analysis[-1].verdict == "inconclusive"

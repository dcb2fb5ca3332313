"""A shadow run is decided on accuracy against the served version, and its verdict says how
the shadow model compares: worse is rolled back, better or no worse ends Succeeded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rollout_helpers import READY, T0, events, make_spec, traffic

from modelrollout_operator.analysis import Measurement, MetricObservation, Tally, evaluate
from modelrollout_operator.api.v1alpha1 import (
    AnalysisRun,
    ExperimentPhase,
    ExperimentSpec,
    ExperimentStatus,
    MetricCheck,
    Verdict,
)
from modelrollout_operator.rollout import SetTraffic, UserIntent, plan_observation, reconcile
from modelrollout_operator.rollout.comparing import Standing, judged, standing

ACCURACY = {"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.02, "minSamples": 100}


def shadow_spec(**analysis: Any) -> ExperimentSpec:
    return make_spec(
        strategy={"type": "shadow", "shadow": {"percent": 50, "duration": "1m"}},
        analysis={"interval": "30s", "failureLimit": 2, "metrics": [ACCURACY], **analysis},
    )


def labelled(shadow: tuple[int, int], served: tuple[int, int]) -> list[MetricObservation]:
    """Labels joined to the shadow version's mirrored answers and to the served ones."""
    return [
        MetricObservation(
            "accuracy",
            Measurement(shadow[0] / shadow[1], shadow[1], shadow[0]),
            Measurement(served[0] / served[1], served[1], served[0]),
        )
    ]


def drive(spec: ExperimentSpec, shadow: tuple[int, int], served: tuple[int, int]) -> Any:
    """Passes every 30 s until the experiment ends (at most 10)."""
    status, now, plans, decisions = ExperimentStatus(), T0, [], []
    for _ in range(10):
        plan = plan_observation(spec, status, READY, now)
        plans.append(plan)
        obs = labelled(shadow, served) if plan is not None else None
        decision = reconcile(spec, status, READY, obs, UserIntent(), now)
        decisions.append(decision)
        status = decision.status
        if status.phase in (ExperimentPhase.SUCCEEDED, ExperimentPhase.ROLLED_BACK):
            break
        now += timedelta(seconds=30)
    return status, [p for p in plans if p is not None], decisions


def test_a_shadow_run_measures_the_candidates_mirrored_predictions() -> None:
    _, plans, _ = drive(shadow_spec(), (9000, 10000), (8600, 10000))
    assert plans and all(p.shadow for p in plans)
    canary = make_spec(analysis={"interval": "30s", "metrics": [ACCURACY]})
    started = reconcile(canary, ExperimentStatus(), READY, None, UserIntent(), T0).status
    plan = plan_observation(canary, started, READY, T0 + timedelta(seconds=30))
    assert plan is not None and not plan.shadow


def test_a_worse_shadow_model_is_judged_worse_on_accuracy_and_rolled_back() -> None:
    status, _, decisions = drive(shadow_spec(), (7000, 10000), (17200, 20000))
    assert status.phase == ExperimentPhase.ROLLED_BACK and status.weight == 0
    assert "judged worse than the baseline on accuracy (0.700 vs 0.860" in status.message
    assert traffic(decisions[-1]) == [SetTraffic(0, shadow_percent=0)]  # mirroring stops
    rolled = [e for d in decisions for e in events(d) if e.reason == "AnalysisFailed"]
    assert rolled and rolled[0].type == "Warning"


def test_a_better_shadow_model_is_judged_better_and_succeeds_without_moving_users() -> None:
    status, _, decisions = drive(shadow_spec(), (9300, 10000), (17200, 20000))
    assert status.phase == ExperimentPhase.SUCCEEDED and status.weight == 0
    assert "judged better than the baseline on accuracy (0.930 vs 0.860" in status.message
    (event,) = [e for d in decisions for e in events(d) if e.reason == "ShadowPassed"]
    assert "judged better" in event.message
    assert all(a.candidate_weight == 0 for d in decisions for a in traffic(d))


def test_an_equally_good_shadow_model_is_no_worse_within_the_evidence() -> None:
    status, _, _ = drive(shadow_spec(), (43000, 50000), (86000, 100000))
    assert status.phase == ExperimentPhase.SUCCEEDED
    assert "no different from the baseline within the evidence on accuracy" in status.message


def test_failure_rates_stand_the_other_way_round() -> None:
    c = MetricCheck.model_validate(
        {"name": "errors", "kind": "errorRate", "maxDegradation": 0.01, "minSamples": 10}
    )
    fewer = evaluate(
        c,
        MetricObservation(
            "errors",
            Measurement(0.0, 10, tally=Tally(10, 10000)),
            Measurement(0.1, 10, tally=Tally(1000, 10000)),
        ),
        0.05,
    )
    assert standing(c, fewer) == Standing.BETTER
    run = AnalysisRun(time=T0, step=1, weight=0, verdict=fewer.verdict, results=[fewer])
    assert judged([c], run).startswith("judged better than the baseline on errors (0.001 vs 0.100")


counts = st.integers(100, 50_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@settings(max_examples=200, deadline=None)
@given(c=counts, b=counts, margin=st.sampled_from([0.0, 0.02, 0.1]))
def test_the_words_never_contradict_the_verdict(
    c: tuple[int, int], b: tuple[int, int], margin: float
) -> None:
    check = MetricCheck.model_validate(
        {"name": "accuracy", "kind": "accuracy", "maxDegradation": margin, "minSamples": 100}
    )
    result = evaluate(
        check,
        MetricObservation(
            "accuracy", Measurement(c[0] / c[1], c[1], c[0]), Measurement(b[0] / b[1], b[1], b[0])
        ),
        0.05,
    )
    where = standing(check, result)
    assert where is not None
    if result.verdict == Verdict.FAIL:
        assert where == Standing.WORSE  # beyond the margin is beyond 0
    if where == Standing.BETTER:
        assert result.verdict == Verdict.PASS  # above 0 is above -margin

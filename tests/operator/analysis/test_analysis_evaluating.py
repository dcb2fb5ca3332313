"""Per-metric verdicts: accuracy by confidence sequence, rate-like metrics by bounds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrollout_operator.analysis import (
    Measurement,
    MetricObservation,
    combine,
    evaluate,
    is_missing,
)
from modelrollout_operator.api.v1alpha1 import MetricCheck, MetricResult, Verdict


def check(**doc: Any) -> MetricCheck:
    return MetricCheck.model_validate({"name": "m", "minSamples": 100, **doc})


def accuracy(c: tuple[int, int], b: tuple[int, int] | None = None) -> MetricObservation:
    cand = Measurement(c[0] / c[1] if c[1] else None, c[1], c[0])
    base = Measurement(b[0] / b[1] if b[1] else None, b[1], b[0]) if b else None
    return MetricObservation("m", cand, base)


ACC = {"kind": "accuracy", "maxDegradation": 0.02}


def test_accuracy_far_below_the_baseline_fails_with_its_interval() -> None:
    r = evaluate(check(**ACC), accuracy((800, 1000), (9000, 10000)), 0.01)
    assert r.verdict == Verdict.FAIL
    assert r.upper is not None and r.upper < -0.02
    assert r.candidate == 0.8 and r.baseline == 0.9
    assert (r.candidate_samples, r.baseline_samples) == (1000, 10000)
    assert "0.800 vs baseline 0.900 (n=1000/10000)" in r.message and "below -0.020" in r.message


def test_accuracy_as_good_as_the_baseline_passes_once_the_evidence_is_in() -> None:
    small = evaluate(check(**ACC), accuracy((270, 300), (2700, 3000)), 0.01)
    assert small.verdict == Verdict.INCONCLUSIVE  # equal rates, but too few to rule out -2pt
    large = evaluate(check(**ACC), accuracy((36_000, 40_000), (90_000, 100_000)), 0.01)
    assert large.verdict == Verdict.PASS
    assert large.lower is not None and large.lower > -0.02


def test_accuracy_below_min_samples_is_inconclusive() -> None:
    r = evaluate(check(**ACC), accuracy((10, 50), (9000, 10000)), 0.01)
    assert r.verdict == Verdict.INCONCLUSIVE and "n=50 < minSamples 100" in r.message


def test_accuracy_without_a_baseline_is_inconclusive() -> None:
    r = evaluate(check(**ACC), accuracy((900, 1000)), 0.01)
    assert r.verdict == Verdict.INCONCLUSIVE and "baseline" in r.message


def test_accuracy_absolute_min_uses_the_one_sample_sequence() -> None:
    c = check(kind="accuracy", min=0.85)
    assert evaluate(c, accuracy((700, 1000)), 0.01).verdict == Verdict.FAIL
    assert evaluate(c, accuracy((9500, 10000)), 0.01).verdict == Verdict.PASS
    assert evaluate(c, accuracy((860, 1000)), 0.01).verdict == Verdict.INCONCLUSIVE


def test_relative_degradation_scales_the_margin_by_the_baseline() -> None:
    c = check(kind="accuracy", maxDegradation=0.1, degradation="relative")
    r = evaluate(c, accuracy((7000, 10000), (9000, 10000)), 0.01)
    assert r.verdict == Verdict.FAIL and "below -0.090" in r.message


def test_a_bare_rate_is_turned_back_into_counts() -> None:
    obs = MetricObservation("m", Measurement(0.8, 1000), Measurement(0.9, 10000))
    assert evaluate(check(**ACC), obs, 0.01).verdict == Verdict.FAIL


def test_impossible_counts_are_named() -> None:
    obs = MetricObservation("m", Measurement(None, 10, 11), Measurement(0.9, 100, 90))
    with pytest.raises(ValueError, match="successes"):
        evaluate(check(**ACC), obs, 0.01)


def rate(value: float | None, n: int = 500, base: float | None = None) -> MetricObservation:
    return MetricObservation(
        "m", Measurement(value, n), Measurement(base, 5000) if base is not None else None
    )


def test_latency_max_in_milliseconds() -> None:
    c = check(kind="latency", max=0.05)
    ok = evaluate(c, rate(0.012), 0.05)
    assert ok.verdict == Verdict.PASS and ok.message == "m p99 12ms <= max 50ms (n=500)"
    bad = evaluate(c, rate(0.08), 0.05)
    assert bad.verdict == Verdict.FAIL and "80ms > max 50ms" in bad.message


def test_latency_relative_to_the_baseline() -> None:
    c = check(kind="latency", quantile=0.95, maxDegradation=0.2, degradation="relative")
    assert evaluate(c, rate(0.011, base=0.010), 0.05).verdict == Verdict.PASS
    r = evaluate(c, rate(0.013, base=0.010), 0.05)
    assert r.verdict == Verdict.FAIL and "m p95" in r.message and "limit 12ms" in r.message


def test_error_rate_bounds_on_the_windowed_rate() -> None:
    # Against the baseline, error rates are proportions (test_analysis_failure_rates.py).
    c = check(kind="errorRate", max=0.02)
    assert evaluate(c, rate(0.015), 0.05).verdict == Verdict.PASS
    assert evaluate(c, rate(0.03), 0.05).verdict == Verdict.FAIL


def test_custom_higher_is_better_min() -> None:
    c = check(kind="custom", query="sum(x)", higherIsBetter=True, min=5.0)
    assert evaluate(c, rate(6.0), 0.05).verdict == Verdict.PASS
    assert evaluate(c, rate(4.0), 0.05).verdict == Verdict.FAIL
    rel = check(kind="custom", query="sum(x)", higherIsBetter=True, maxDegradation=1.0)
    assert evaluate(rel, rate(4.0, base=6.0), 0.05).verdict == Verdict.FAIL


def test_rate_checks_need_min_samples_and_a_baseline_when_relative() -> None:
    c = check(kind="latency", max=0.05, maxDegradation=0.01)
    few = evaluate(c, rate(0.01, n=10, base=0.01), 0.05)
    assert few.verdict == Verdict.INCONCLUSIVE and "n=10 < minSamples 100" in few.message
    no_base = evaluate(c, rate(0.01), 0.05)
    assert no_base.verdict == Verdict.INCONCLUSIVE and "no data for the baseline" in no_base.message


def test_an_observation_of_another_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="'other'"):
        evaluate(check(kind="latency", max=1.0), MetricObservation("other", Measurement(1)), 0.05)


def test_alpha_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="alpha"):
        evaluate(check(kind="latency", max=1.0), rate(0.1), 1.5)


# -- properties -------------------------------------------------------------------------------

checks = st.sampled_from(
    [
        check(**ACC),
        check(kind="accuracy", min=0.5),
        check(kind="latency", max=0.05),
        check(kind="latency", maxDegradation=0.1, degradation="relative"),
        check(kind="errorRate", max=0.1, maxDegradation=0.01),
        check(kind="custom", query="q", min=0.0, max=10.0),
    ]
)


@st.composite
def missing_observations(draw: st.DrawFn, c: MetricCheck) -> MetricObservation | None:
    n = draw(st.integers(0, 10**6))
    kind = draw(st.sampled_from(["none", "error", "no-candidate", "no-baseline"]))
    if kind == "none":
        return None
    if kind == "error":
        return MetricObservation(c.name, Measurement(0.5, n, n // 2), error="timeout")
    if kind == "no-candidate":
        return MetricObservation(c.name, Measurement(None), Measurement(0.5, n, n // 2))
    present = Measurement(0.5, n, n // 2)
    return MetricObservation(c.name, present, draw(st.sampled_from([None, Measurement(None)])))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), c=checks, alpha=st.floats(0.001, 0.4))
def test_missing_data_is_never_a_pass(data: st.DataObject, c: MetricCheck, alpha: float) -> None:
    obs = data.draw(missing_observations(c))
    candidate_seen = obs is not None and obs.error is None and obs.candidate.value is not None
    if candidate_seen and c.max_degradation is None:
        return  # this check needs no baseline: its absence is not missing data
    assert is_missing(c, obs)
    # Never a pass; an absolute bound the candidate breaks may still fail it.
    assert evaluate(c, obs, alpha).verdict != Verdict.PASS


@settings(max_examples=200, deadline=None)
@given(
    c=checks,
    n=st.integers(0, 99),
    value=st.floats(0, 1),
    alpha=st.floats(0.001, 0.4),
)
def test_fewer_than_min_samples_is_never_decisive(
    c: MetricCheck, n: int, value: float, alpha: float
) -> None:
    obs = MetricObservation(
        c.name, Measurement(value, n, round(value * n)), Measurement(value, 10**5, 10**5 // 2)
    )
    assert evaluate(c, obs, alpha).verdict == Verdict.INCONCLUSIVE


verdicts = st.sampled_from(list(Verdict))


@given(st.lists(verdicts, max_size=8))
def test_combine_is_worst_wins(found: list[Verdict]) -> None:
    results = [MetricResult(metric=f"m{i}", verdict=v) for i, v in enumerate(found)]
    got = combine(results)
    if Verdict.FAIL in found:
        assert got == Verdict.FAIL
    elif Verdict.INCONCLUSIVE in found or not found:
        assert got == Verdict.INCONCLUSIVE
    else:
        assert got == Verdict.PASS

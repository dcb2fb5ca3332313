"""Error and fallback rates are proportions: judged against the baseline with the same
always-valid confidence sequence as accuracy, with absolute bounds on the windowed rate."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modelrollout_operator.analysis import Measurement, MetricObservation, Tally, evaluate
from modelrollout_operator.api.v1alpha1 import MetricCheck, Verdict

SEVERITY = {Verdict.PASS: 0, Verdict.INCONCLUSIVE: 1, Verdict.FAIL: 2}


def check(**doc: Any) -> MetricCheck:
    return MetricCheck.model_validate({"name": "errors", "minSamples": 100, **doc})


def failures(
    c: tuple[int, int], b: tuple[int, int] | None = None, *, window: float | None = None
) -> MetricObservation:
    """Cumulative (failed, requests) per version; `window`: the candidate's windowed rate."""
    cand = Measurement(
        window if window is not None else (c[0] / c[1] if c[1] else None),
        c[1],
        tally=Tally(*c),
    )
    base = Measurement(b[0] / b[1] if b[1] else None, b[1], tally=Tally(*b)) if b else None
    return MetricObservation("errors", cand, base)


RELATIVE = {"kind": "errorRate", "maxDegradation": 0.01}


def test_a_candidate_failing_half_its_requests_fails_against_the_baseline() -> None:
    r = evaluate(check(**RELATIVE), failures((500, 1000), (10, 9000)), 0.05)
    assert r.verdict == Verdict.FAIL
    # numbers in the metric's own direction: the whole CS of rate_c - rate_b lies above +m
    assert r.lower is not None and r.lower > 0.01
    assert r.candidate == 0.5 and r.baseline is not None and abs(r.baseline - 10 / 9000) < 1e-12
    assert (r.candidate_samples, r.baseline_samples) == (1000, 9000)
    assert "0.500 vs baseline 0.001 (n=1000/9000)" in r.message and "above +0.010" in r.message


def test_an_error_rate_as_low_as_the_baseline_passes_once_the_evidence_is_in() -> None:
    few = evaluate(check(**RELATIVE), failures((2, 150), (20, 1500)), 0.05)
    assert few.verdict == Verdict.INCONCLUSIVE
    many = evaluate(check(**RELATIVE), failures((40, 4000), (400, 40000)), 0.05)
    assert many.verdict == Verdict.PASS
    assert many.upper is not None and many.upper < 0.01 and "below +0.010" in many.message


def test_a_fallback_rate_is_judged_the_same_way() -> None:
    c = check(kind="fallbackRate", maxDegradation=0.02)
    assert evaluate(c, failures((300, 1000), (0, 9000)), 0.05).verdict == Verdict.FAIL
    assert evaluate(c, failures((0, 3000), (0, 9000)), 0.05).verdict == Verdict.PASS


def test_relative_degradation_is_a_share_of_the_baselines_rate() -> None:
    c = check(kind="errorRate", maxDegradation=1.0, degradation="relative")  # up to 2x
    r = evaluate(c, failures((600, 10000), (200, 10000)), 0.05)  # 3x the baseline's 2%
    assert r.verdict == Verdict.FAIL and "above +0.020" in r.message


def test_the_absolute_bound_reads_the_windowed_rate_and_the_worst_verdict_wins() -> None:
    c = check(kind="errorRate", max=0.05, maxDegradation=0.01)
    # cumulatively as good as the baseline, but the last window broke the absolute bound
    burst = evaluate(c, failures((40, 4000), (400, 40000), window=0.2), 0.05)
    assert burst.verdict == Verdict.FAIL and "> max 0.050" in burst.message
    calm = evaluate(c, failures((40, 4000), (400, 40000), window=0.0), 0.05)
    assert calm.verdict == Verdict.PASS
    assert "<= max 0.050" in calm.message and "below +0.010" in calm.message


def test_an_absolute_bound_alone_keeps_its_point_semantics() -> None:
    c = check(kind="errorRate", max=0.01)
    obs = MetricObservation("errors", Measurement(0.02, 500))  # no tally needed
    r = evaluate(c, obs, 0.05)
    assert r.verdict == Verdict.FAIL and r.candidate == 0.02 and r.candidate_samples == 500


def test_without_a_tally_a_relative_failure_rate_is_never_decided() -> None:
    c = check(**RELATIVE)
    point_only = MetricObservation("errors", Measurement(0.5, 1000), Measurement(0.0, 9000))
    r = evaluate(c, point_only, 0.05)
    assert r.verdict == Verdict.INCONCLUSIVE and "no requests for the candidate" in r.message


def test_fewer_requests_than_min_samples_on_either_side_is_inconclusive() -> None:
    c = check(**RELATIVE)
    r = evaluate(c, failures((50, 99), (0, 9000)), 0.05)
    assert r.verdict == Verdict.INCONCLUSIVE and "candidate n=99 < minSamples 100" in r.message
    r = evaluate(c, failures((500, 1000), (0, 60)), 0.05)
    assert r.verdict == Verdict.INCONCLUSIVE and "baseline n=60 < minSamples 100" in r.message


# -- properties -------------------------------------------------------------------------------

counts = st.integers(100, 20_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@settings(max_examples=150, deadline=None)
@given(c=counts, b=counts, margin=st.sampled_from([0.0, 0.01, 0.05]), alpha=st.floats(0.01, 0.2))
def test_a_failure_rate_is_accuracy_mirrored(
    c: tuple[int, int], b: tuple[int, int], margin: float, alpha: float
) -> None:
    """The same sequence as accuracy on the successes: same verdict, bounds negated."""
    rate = evaluate(check(kind="errorRate", maxDegradation=margin), failures(c, b), alpha)
    ok_c, ok_b = (c[1] - c[0], c[1]), (b[1] - b[0], b[1])
    acc = evaluate(
        check(kind="accuracy", maxDegradation=margin),
        MetricObservation(
            "errors",
            Measurement(ok_c[0] / ok_c[1], ok_c[1], ok_c[0]),
            Measurement(ok_b[0] / ok_b[1], ok_b[1], ok_b[0]),
        ),
        alpha,
    )
    assert rate.verdict == acc.verdict
    assert rate.lower is not None and rate.upper is not None
    assert acc.lower is not None and acc.upper is not None
    assert abs(rate.lower + acc.upper) < 1e-12 and abs(rate.upper + acc.lower) < 1e-12


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(100, 5000),
    b=counts,
    fewer=st.floats(0, 1),
    more=st.floats(0, 1),
    kind=st.sampled_from(["errorRate", "fallbackRate"]),
)
def test_more_candidate_failures_never_improve_the_verdict(
    n: int, b: tuple[int, int], fewer: float, more: float, kind: str
) -> None:
    low, high = sorted((round(fewer * n), round(more * n)))
    c = check(kind=kind, maxDegradation=0.01)
    better = evaluate(c, failures((low, n), b), 0.05).verdict
    worse = evaluate(c, failures((high, n), b), 0.05).verdict
    assert SEVERITY[worse] >= SEVERITY[better]


@settings(max_examples=150, deadline=None)
@given(c=counts, b=counts, kind=st.sampled_from(["errorRate", "fallbackRate"]))
def test_a_candidate_that_fails_no_more_often_than_the_baseline_never_fails(
    c: tuple[int, int], b: tuple[int, int], kind: str
) -> None:
    # candidate's rate <= baseline's: the estimate sits inside the CS, below any margin >= 0
    if c[0] * b[1] > b[0] * c[1]:
        c = (min(c[1], b[0] * c[1] // b[1]), c[1])
    r = evaluate(check(kind=kind, maxDegradation=0.0), failures(c, b), 0.05)
    assert r.verdict != Verdict.FAIL

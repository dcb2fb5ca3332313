"""The gateway's /metrics text as plain data: parsing, differences, quantiles."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from modelrollout_inference.metrics import GatewayMetrics
from modelrollout_operator.local.exposition import (
    ExpositionError,
    VersionCounters,
    histogram_quantile,
    parse_snapshot,
)

BOUNDS = (0.001, 0.01, 0.1, 1.0)


def _exposition() -> str:
    registry = CollectorRegistry()
    requests = Counter(
        "modelrollout_requests", "", ["model", "version", "route", "code"], registry=registry
    )
    feedback = Counter("modelrollout_feedback", "", ["model", "version"], registry=registry)
    correct = Counter("modelrollout_feedback_correct", "", ["model", "version"], registry=registry)
    duration = Histogram(
        "modelrollout_request_duration_seconds",
        "",
        ["model", "version", "route"],
        buckets=BOUNDS,
        registry=registry,
    )
    requests.labels("scorer", "1", "stable", "200").inc(90)
    requests.labels("scorer", "1", "stable", "503").inc(10)
    requests.labels("scorer", "2", "candidate", "200").inc(5)
    requests.labels("other", "1", "stable", "200").inc(1000)
    feedback.labels("scorer", "1").inc(80)
    correct.labels("scorer", "1").inc(60)
    for seconds in (0.0005, 0.005, 0.05, 0.5):
        duration.labels("scorer", "1", "stable").observe(seconds)
    duration.labels("scorer", "1", "candidate").observe(0.005)  # routes of a version add up
    return generate_latest(registry).decode()


def test_parse_keeps_one_model_and_sums_routes() -> None:
    snapshot = parse_snapshot(_exposition(), "scorer")
    v1 = snapshot.of("1")
    assert (v1.requests, v1.errors, v1.feedback, v1.correct) == (100, 10, 80, 60)
    assert v1.buckets[0.01] == 3  # 0.0005, 0.005 (stable) and 0.005 (candidate)
    assert v1.buckets[math.inf] == 5
    assert snapshot.of("2").requests == 5
    assert snapshot.of("9") == VersionCounters()  # an unseen version reads as zeros


def test_parse_reads_fallbacks_and_shadow_feedback_from_the_gateways_own_registry() -> None:
    gateway = GatewayMetrics()  # the real names, as the gateway exports them
    gateway.declare_version("scorer", "2")
    gateway.observe_answer("scorer", "2", "candidate", 200, 0.001)
    gateway.fallbacks.labels("scorer", "2", "error").inc(3)
    gateway.fallbacks.labels("scorer", "2", "timeout").inc(1)
    gateway.shadow_feedback.labels("scorer", "2").inc(50)
    gateway.shadow_feedback_correct.labels("scorer", "2").inc(40)
    v2 = parse_snapshot(gateway.exposition().decode(), "scorer").of("2")
    assert (v2.requests, v2.fallbacks) == (1, 4)
    assert (v2.shadow_feedback, v2.shadow_correct, v2.feedback) == (50, 40, 0)


def test_garbage_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ExpositionError, match="not Prometheus exposition"):
        parse_snapshot("modelrollout_requests_total{model=", "scorer")


def test_minus_is_the_increase_and_survives_a_reset() -> None:
    later = VersionCounters(requests=150, feedback=40, correct=30, buckets={math.inf: 7.0})
    earlier = VersionCounters(requests=100, feedback=50, correct=10, buckets={math.inf: 2.0})
    delta = later.minus(earlier)
    assert delta.requests == 50
    assert delta.feedback == 40  # went down: the gateway restarted, count from zero
    assert delta.correct == 20
    assert delta.buckets[math.inf] == 5


def test_quantile_interpolates_inside_the_bucket() -> None:
    buckets = {0.1: 50.0, 0.2: 100.0, math.inf: 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.99, {0.1: 0.0, math.inf: 0.0}) is None


def test_quantile_in_the_inf_bucket_answers_the_highest_bound() -> None:
    assert histogram_quantile(0.99, {0.1: 1.0, 1.0: 2.0, math.inf: 10.0}) == 1.0


@pytest.mark.parametrize("q", [0.0, 1.0, -0.5, 2.0])
def test_quantile_outside_0_1_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        histogram_quantile(q, {math.inf: 1.0})


def test_histogram_without_inf_bucket_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\+Inf"):
        histogram_quantile(0.5, {0.1: 1.0})


counts = st.lists(
    st.integers(min_value=0, max_value=1000), min_size=len(BOUNDS) + 1, max_size=len(BOUNDS) + 1
)


def _cumulative(per_bucket: list[int]) -> dict[float, float]:
    out: dict[float, float] = {}
    total = 0
    for bound, count in zip((*BOUNDS, math.inf), per_bucket, strict=True):
        total += count
        out[bound] = float(total)
    return out


@given(counts, st.floats(0.01, 0.99), st.floats(0.01, 0.99))
def test_quantile_is_monotone_and_within_the_bounds(
    per_bucket: list[int], q1: float, q2: float
) -> None:
    buckets = _cumulative(per_bucket)
    a, b = histogram_quantile(min(q1, q2), buckets), histogram_quantile(max(q1, q2), buckets)
    if sum(per_bucket) == 0:
        assert a is None and b is None
        return
    assert a is not None and b is not None
    assert 0.0 <= a <= b <= BOUNDS[-1]

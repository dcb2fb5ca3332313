"""The gateway-counters provider's arithmetic: what Prometheus' increase() would say."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.api.v1alpha1 import MetricCheck, MetricKind
from modelrollout_operator.local.counters import SnapshotHistory, measure
from modelrollout_operator.local.exposition import Snapshot, VersionCounters

ACCURACY = MetricCheck(name="accuracy", kind=MetricKind.ACCURACY, max_degradation=0.02)
ERRORS = MetricCheck(name="errors", kind=MetricKind.ERROR_RATE, max=0.01)
P99 = MetricCheck(name="p99", kind=MetricKind.LATENCY, quantile=0.99, max=0.25)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _snap(**counters: float) -> Snapshot:
    return Snapshot({"3": VersionCounters(**counters)})  # type: ignore[arg-type]


@given(
    st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000)
)
def test_accuracy_is_correct_over_labelled_since_the_start(
    n0: int, extra_n: int, k0: int, extra_k: int
) -> None:
    k0, extra_k = min(k0, n0), min(extra_k, extra_n)
    earlier = _snap(feedback=n0, correct=k0)
    later = _snap(feedback=n0 + extra_n, correct=k0 + extra_k)
    m = measure(ACCURACY, later, earlier, "3")
    assert (m.samples, m.successes) == (extra_n, extra_k)
    if extra_n == 0:
        assert m.value is None  # no labels is no data, never a pass
    else:
        assert m.value == pytest.approx(extra_k / extra_n)


def test_error_rate_counts_5xx_over_requests_in_the_window() -> None:
    # (no fallbacks here: see the test below for those)
    m = measure(ERRORS, _snap(requests=300, errors=12), _snap(requests=100, errors=2), "3")
    assert m.samples == 200
    assert m.value == pytest.approx(10 / 200)
    assert measure(ERRORS, _snap(requests=5), _snap(requests=5), "3").value is None


@given(
    answered=st.integers(0, 5000),
    five=st.integers(0, 5000),
    fell=st.integers(0, 5000),
    kind=st.sampled_from([MetricKind.ERROR_RATE, MetricKind.FALLBACK_RATE]),
)
def test_a_fallback_is_a_failure_and_a_request_of_the_version_that_failed(
    answered: int, five: int, fell: int, kind: MetricKind
) -> None:
    five = min(five, answered)
    check = MetricCheck(name="r", kind=kind, max_degradation=0.01)
    start = _snap()
    later = _snap(requests=answered, errors=five, fallbacks=fell)
    m = measure(check, later, start, "3", start=start)
    failed = fell if kind == MetricKind.FALLBACK_RATE else five + fell
    assert m.samples == answered + fell
    assert m.tally is not None and (m.tally.events, m.tally.trials) == (failed, answered + fell)
    if answered + fell == 0:
        assert m.value is None
    else:
        assert m.value == pytest.approx(failed / (answered + fell))


def test_the_tally_counts_since_the_start_and_the_value_over_the_window() -> None:
    check = MetricCheck(name="e", kind=MetricKind.ERROR_RATE, max=0.1, max_degradation=0.01)
    start = _snap(requests=100)
    window_start = _snap(requests=1000, errors=10, fallbacks=10)
    later = _snap(requests=1100, errors=10, fallbacks=110)
    m = measure(check, later, window_start, "3", start=start)
    assert m.value == pytest.approx(100 / 200)  # the last window: every failure a fallback
    assert m.tally is not None and (m.tally.events, m.tally.trials) == (120, 1110)


def test_a_shadow_candidates_accuracy_is_its_shadow_feedback() -> None:
    earlier = _snap(feedback=10, correct=5, shadow_feedback=0, shadow_correct=0)
    later = _snap(feedback=10, correct=5, shadow_feedback=200, shadow_correct=170)
    shadow = measure(ACCURACY, later, earlier, "3", shadow=True)
    assert (shadow.samples, shadow.successes) == (200, 170)
    routed = measure(ACCURACY, later, earlier, "3")
    assert routed.samples == 0 and routed.value is None


def test_latency_is_the_quantile_of_the_new_observations_only() -> None:
    earlier = _snap(buckets={0.01: 1000.0, 0.1: 1000.0, math.inf: 1000.0})
    later = _snap(buckets={0.01: 1000.0, 0.1: 1100.0, math.inf: 1100.0})
    m = measure(P99, later, earlier, "3")
    assert m.samples == 100
    assert m.value is not None and 0.01 < m.value <= 0.1  # the old fast requests do not count


def test_custom_metrics_need_prometheus() -> None:
    custom = MetricCheck(name="c", kind=MetricKind.CUSTOM, query="up", max=1)
    with pytest.raises(ValueError, match="need Prometheus"):
        measure(custom, _snap(), _snap(), "3")


def test_history_picks_the_latest_snapshot_not_after_the_time() -> None:
    history = SnapshotHistory()
    assert history.at_or_before(T0) is None
    snaps = [_snap(requests=i) for i in range(5)]
    for i, snap in enumerate(snaps):
        history.add(T0 + timedelta(seconds=10 * i), snap)
    assert history.at_or_before(T0 + timedelta(seconds=25)) is snaps[2]
    assert history.at_or_before(T0 + timedelta(seconds=20)) is snaps[2]
    assert history.at_or_before(T0 - timedelta(seconds=5)) is snaps[0]  # the earliest stands in
    late = _snap(requests=99)
    history.add(T0, late)  # a clock stepped back: stored as of the last time, order kept
    assert history.at_or_before(T0 + timedelta(seconds=40)) is late
    assert history.at_or_before(T0 + timedelta(seconds=35)) is snaps[3]


def test_history_keeps_a_bounded_number_of_snapshots() -> None:
    history = SnapshotHistory(keep=3)
    for i in range(10):
        history.add(T0 + timedelta(seconds=i), _snap(requests=i))
    assert len(history) == 3
    oldest = history.at_or_before(T0)
    assert oldest is not None and oldest.of("3").requests == 7

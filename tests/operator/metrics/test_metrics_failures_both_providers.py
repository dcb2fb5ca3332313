"""Both metrics providers count a fallback as a failure of the version that failed, and read a
shadow candidate's accuracy from its shadow feedback: a real Prometheus scraping the gateway's
real metrics registry, and the local counters provider scraping the same page, agree."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import start_http_server

from modelrollout_inference.metrics import GatewayMetrics
from modelrollout_operator.api.v1alpha1 import MetricCheck, MetricKind
from modelrollout_operator.local.counters import GatewayCountersProvider
from modelrollout_operator.metrics import PrometheusProvider, Target
from modelrollout_operator.rollout import ObservationPlan
from tests.support.prometheus import PrometheusServer, free_port, running_prometheus

pytestmark = pytest.mark.prometheus

MODEL = "scorer"
CHECKS = [
    MetricCheck(name="errors", kind=MetricKind.ERROR_RATE, max=0.5, max_degradation=0.01,
                window="5m", min_samples=1),
    MetricCheck(name="fallbacks", kind=MetricKind.FALLBACK_RATE, max_degradation=0.01,
                window="5m", min_samples=1),
    MetricCheck(name="accuracy", kind=MetricKind.ACCURACY, max_degradation=0.02, min_samples=1),
]  # fmt: skip


def _answer(m: GatewayMetrics, version: str, route: str, code: int, times: int) -> None:
    for _ in range(times):
        m.observe_answer(MODEL, version, route, code, 0.001)


def _declare(m: GatewayMetrics) -> None:
    """Every series at 0 before the first scrape, as the gateway declares them."""
    for version, route in (("1", "stable"), ("2", "candidate"), ("3", "candidate")):
        m.requests.labels(MODEL, version, route, "200")
        m.declare_version(MODEL, version)
    m.requests.labels(MODEL, "1", "stable", "503")
    m.requests.labels(MODEL, "2", "candidate", "500")
    m.fallbacks.labels(MODEL, "2", "error")
    m.fallbacks.labels(MODEL, "3", "timeout")


def _traffic(m: GatewayMetrics) -> None:
    _answer(m, "1", "stable", 200, 900)
    _answer(m, "1", "stable", 503, 10)
    _answer(m, "2", "candidate", 200, 300)
    _answer(m, "2", "candidate", 500, 20)
    m.fallbacks.labels(MODEL, "2", "error").inc(100)  # answered 200 by "1", failed by "2"
    m.fallbacks.labels(MODEL, "3", "timeout").inc(50)  # "3" never answered anything
    m.feedback.labels(MODEL, "1").inc(1000)
    m.feedback_correct.labels(MODEL, "1").inc(900)
    m.shadow_feedback.labels(MODEL, "2").inc(200)  # labels joined to "2"'s mirrored answers
    m.shadow_feedback_correct.labels(MODEL, "2").inc(150)


@pytest.fixture()
def exporter() -> Iterator[tuple[GatewayMetrics, int]]:
    metrics = GatewayMetrics()
    _declare(metrics)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    yield metrics, port
    server.shutdown()
    thread.join(timeout=2)


def _wait_for_samples(prom: PrometheusServer, query: str, value: float, count: int) -> None:
    """Until Prometheus holds `count` scrapes with the final value (rates are then settled)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = prom.series(f"count_over_time(({query} == {value})[1m:1s])")
        if result and float(result[0]["value"][1]) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"prometheus never saw {query} == {value} {count} times")


async def _observe(provider: Any, plan: ObservationPlan) -> dict[str, Any]:
    observed = await provider.observe(plan, CHECKS, Target(MODEL, "default"), datetime.now(UTC))
    return {o.metric: o for o in observed}


def test_fallbacks_fail_the_version_that_failed_and_shadow_accuracy_is_read_in_both_providers(
    exporter: tuple[GatewayMetrics, int],
) -> None:
    metrics, port = exporter
    with running_prometheus([f"127.0.0.1:{port}"]) as prom:
        prom.wait_for_series('modelrollout_fallbacks_total{version="3"}', timeout=20)
        since = datetime.now(UTC) - timedelta(seconds=1)
        counters = GatewayCountersProvider(f"http://127.0.0.1:{port}", MODEL)
        asyncio.run(counters.sample(since))
        time.sleep(2)  # a few scrapes at zero: increase() starts from them
        _traffic(metrics)
        _wait_for_samples(prom, 'modelrollout_fallbacks_total{version="3"}', 50, 3)

        async def both(plan: ObservationPlan) -> tuple[dict[str, Any], dict[str, Any]]:
            prometheus = PrometheusProvider(prom.url)
            try:
                return await _observe(prometheus, plan), await _observe(counters, plan)
            finally:
                await prometheus.close()

        shadow = ObservationPlan(tuple(c.name for c in CHECKS), "1", "2", since, shadow=True)
        canary = ObservationPlan(tuple(c.name for c in CHECKS), "1", "2", since)
        never = ObservationPlan(("errors", "fallbacks"), "1", "3", since)
        (p_shadow, c_shadow), (p_canary, c_canary), (p_never, c_never) = (
            asyncio.run(both(plan)) for plan in (shadow, canary, never)
        )
        asyncio.run(counters.close())

    for source, seen in (("prometheus", p_shadow), ("counters", c_shadow)):
        errors, fallbacks = seen["errors"], seen["fallbacks"]
        assert errors.error is None and fallbacks.error is None, source
        # 20 answered 5xx + 100 fallbacks, among 320 answered + 100 fallbacks
        assert errors.candidate.value == pytest.approx(120 / 420), source
        assert fallbacks.candidate.value == pytest.approx(100 / 420), source
        assert errors.baseline.value == pytest.approx(10 / 910), source
        assert fallbacks.baseline.value == pytest.approx(0.0, abs=1e-12), source
        tally = errors.candidate.tally
        assert tally is not None and tally.events / tally.trials == pytest.approx(120 / 420, 0.02)
        accuracy = seen["accuracy"]
        # counts are rounded after increase()'s extrapolation: a ratio to within 2%
        cand, base = accuracy.candidate, accuracy.baseline
        assert cand.successes / cand.samples == pytest.approx(0.75, rel=0.02), source
        assert base.successes / base.samples == pytest.approx(0.9, rel=0.02), source

    # the counters provider counts exactly; increase() extrapolates by a few percent at most
    assert c_shadow["errors"].candidate.tally.trials == 420
    assert c_shadow["errors"].candidate.tally.events == 120
    assert c_shadow["accuracy"].candidate.samples == 200
    assert p_shadow["errors"].candidate.tally.trials == pytest.approx(420, rel=0.25)

    for source, seen in (("prometheus", p_canary), ("counters", c_canary)):
        # outside a shadow run, the candidate's accuracy is its routed feedback: none here
        assert seen["accuracy"].candidate.samples == 0, source

    for source, seen in (("prometheus", p_never), ("counters", c_never)):
        # a version that failed every request it was given has an error rate of 1, not no data
        assert seen["errors"].candidate.value == pytest.approx(1.0), source
        assert seen["fallbacks"].candidate.value == pytest.approx(1.0), source
        tally = seen["errors"].candidate.tally
        assert tally is not None and tally.events == tally.trials > 0, source

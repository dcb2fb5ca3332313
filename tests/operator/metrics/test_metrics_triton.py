"""With the HTTPRoute provider the gateway is not in the path: error rate and latency of a
version served by Triton come from Triton's own nv_inference_* metrics (a real Prometheus
scraping pages in Triton's exposition format, one per pod)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.api.v1alpha1 import ExperimentSpec, MetricCheck, MetricKind
from modelrollout_operator.metrics import PrometheusProvider, Target, metric_target
from modelrollout_operator.metrics.promql import queries_for
from modelrollout_operator.rollout import ObservationPlan
from tests.support.prometheus import PrometheusServer, running_prometheus
from tests.support.triton_metrics import TritonMetricsPage

MODEL = "scorer"
ERRORS = MetricCheck(name="errors", kind=MetricKind.ERROR_RATE, max=0.5, max_degradation=0.01,
                     window="5m", min_samples=1)  # fmt: skip
P99 = MetricCheck(name="p99", kind=MetricKind.LATENCY, quantile=0.99, max=0.5, window="5m",
                  min_samples=1)  # fmt: skip
P75 = MetricCheck(name="p75", kind=MetricKind.LATENCY, quantile=0.75, max=0.5, window="5m",
                  min_samples=1)  # fmt: skip
ACCURACY = MetricCheck(name="accuracy", kind=MetricKind.ACCURACY, max_degradation=0.02,
                       min_samples=1)  # fmt: skip
CHECKS = [ERRORS, P99, P75, ACCURACY]


def experiment(provider: str) -> ExperimentSpec:
    routing: dict[str, Any] = {"provider": provider}
    if provider == "httpRoute":
        routing["httpRoute"] = {"name": "scorer"}
    return ExperimentSpec.model_validate({
        "model": MODEL, "baseline": "scorer-v1", "candidate": "scorer-v2", "routing": routing,
        "strategy": {"canary": {"steps": [{"weight": 10}]}},
    })  # fmt: skip


def version_body(version: int, runtime: str | None) -> dict[str, Any]:
    serving = {} if runtime is None else {"runtime": runtime}
    return {"spec": {"model": MODEL, "version": version, "serving": serving}}


_runtime = st.sampled_from([None, "triton", "onnxruntime"])


@given(provider=st.sampled_from(["gateway", "httpRoute"]), base=_runtime, cand=_runtime,
       found=st.tuples(st.booleans(), st.booleans()))  # fmt: skip
def test_only_versions_triton_answers_without_the_gateway_are_read_from_triton(
    provider: str, base: str | None, cand: str | None, found: tuple[bool, bool]
) -> None:
    bodies = [
        version_body(1, base) if found[0] else None,
        version_body(2, cand) if found[1] else None,
    ]
    target = metric_target(experiment(provider), "ml", bodies)
    assert (target.model, target.namespace) == (MODEL, "ml")
    expected = set()
    if provider == "httpRoute":
        expected = {str(v) for v, rt, ok in ((1, base, found[0]), (2, cand, found[1]))
                    if ok and rt == "triton"}  # fmt: skip
    assert target.triton_versions == expected


def test_triton_queries_read_nv_inference_metrics_and_keep_the_rest() -> None:
    def q(check: MetricCheck, triton: bool) -> Any:
        return queries_for(check, model=MODEL, version="2", namespace="ml", since_seconds=60,
                           triton=triton)  # fmt: skip

    errors = q(ERRORS, True)
    assert errors.value is not None and "nv_inference_request_failure" in errors.value
    assert "nv_inference_request_success" in errors.value and "modelrollout_" not in errors.value
    assert errors.trials is not None and "[60s]" in errors.trials  # the tally since the start
    p99 = q(P99, True)
    assert p99.value == (
        'max(nv_inference_request_summary_us{namespace="ml",model="scorer",version="2",'
        'quantile="0.99"}) / 1e6'
    )
    # Model `scorer` served by Triton in another namespace is other series.
    for query in (errors.value, errors.trials, p99.samples):
        assert query is not None and query.count("{") == query.count('{namespace="ml",'), query
    # Triton has no labels to judge accuracy by: that stays the gateway's feedback.
    assert q(ACCURACY, True) == q(ACCURACY, False)
    assert "modelrollout_requests_total" in (q(ERRORS, False).value or "")


def _settled(prom: PrometheusServer, query: str, value: float, scrapes: int = 3) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = prom.series(f"count_over_time(({query} == {value})[1m:1s])")
        if result and float(result[0]["value"][1]) >= scrapes:
            return
        time.sleep(0.5)
    raise AssertionError(f"prometheus never saw {query} == {value} {scrapes} times")


@pytest.fixture()
def pods() -> Iterator[list[tuple[TritonMetricsPage, int]]]:
    """Four Triton pods: in namespace ml one serving version 1 and two serving version 2; the
    fourth serves the same model and version in another team's namespace."""
    pages = []
    for version in ("1", "2", "2", "2"):
        page = TritonMetricsPage()
        page.declare(MODEL, version)
        pages.append((page, page.start()))
    yield pages
    for page, _ in pages:
        page.stop()


async def _observe(url: str, target: Target, plan: ObservationPlan) -> dict[str, Any]:
    provider = PrometheusProvider(url)
    try:
        observed = await provider.observe(plan, CHECKS, target, datetime.now(UTC))
    finally:
        await provider.close()
    return {o.metric: o for o in observed}


@pytest.mark.prometheus
def test_httproute_rollout_judges_error_rate_and_latency_from_tritons_own_metrics(
    pods: list[tuple[TritonMetricsPage, int]],
) -> None:
    (v1, _), (v2a, _), (v2b, _), (elsewhere, _) = pods
    targets = [f"127.0.0.1:{port}" for _, port in pods]
    # The namespace label is the scrape's, as the chart's PodMonitor (or kubernetes-pods
    # relabelling) adds it: Triton's own series carry none.
    namespaces = dict(zip(targets, ("ml", "ml", "ml", "other-team"), strict=True))
    with running_prometheus(
        targets, {t: {"namespace": ns} for t, ns in namespaces.items()}
    ) as prom:
        prom.wait_for_series("nv_inference_request_success", timeout=20)
        since = datetime.now(UTC) - timedelta(seconds=1)
        time.sleep(2)  # a few scrapes at zero: increase() starts from them
        v1.serve(MODEL, "1", succeeded=1000, quantiles_us={"0.5": 800, "0.99": 2000})
        v2a.serve(MODEL, "2", succeeded=450, failed=50, reason="BACKEND",
                  quantiles_us={"0.5": 900, "0.99": 5000})  # fmt: skip
        v2b.serve(MODEL, "2", succeeded=450, failed=50, reason="OTHER",
                  quantiles_us={"0.5": 950, "0.99": 9000})  # fmt: skip
        # Another team's `scorer` v2, failing most requests and slow: none of it counts here.
        elsewhere.serve(MODEL, "2", succeeded=100, failed=900, reason="BACKEND",
                        quantiles_us={"0.5": 90000, "0.99": 900000})  # fmt: skip
        _settled(prom, 'sum(nv_inference_request_failure{version="2"})', 1000)
        _settled(prom, 'sum(nv_inference_request_success{version="1"})', 1000)
        plan = ObservationPlan(tuple(c.name for c in CHECKS), "1", "2", since)
        triton = asyncio.run(_observe(prom.url, Target(MODEL, "ml", frozenset({"1", "2"})), plan))
        gateway = asyncio.run(_observe(prom.url, Target(MODEL, "ml"), plan))

    errors = triton["errors"]
    assert errors.error is None
    # 100 failed of 1000 requests across both pods, whatever the failure reason
    assert errors.candidate.value == pytest.approx(0.1, abs=1e-9)
    assert errors.baseline.value == pytest.approx(0.0, abs=1e-12)
    assert errors.candidate.samples == pytest.approx(1000, rel=0.25)
    tally = errors.candidate.tally
    assert tally is not None and tally.events / tally.trials == pytest.approx(0.1, rel=0.05)
    # the slowest pod's p99 stands for the version, in seconds
    assert triton["p99"].candidate.value == pytest.approx(0.009)
    assert triton["p99"].baseline.value == pytest.approx(0.002)
    assert triton["p99"].candidate.samples > 0
    # a quantile Triton does not export is no data, never a pass
    assert triton["p75"].candidate.value is None
    # the same Prometheus read as if the gateway were in the path: nothing to judge by
    assert gateway["errors"].candidate.value is None
    assert gateway["p99"].candidate.value is None

"""Metric answers that are not numbers: no data with the reason, and the no-data policy applies."""

from __future__ import annotations

import math
from typing import Any

import pytest
from aiohttp import web
from fault_harness import (
    NS,
    Clock,
    answer_by_version,
    drive,
    experiment,
    routed_weight,
    seed,
    status_of,
)
from faulty_api import FakePrometheus, FaultyApi
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrollout_operator.handlers.services import Services

ROLL_BACK_ON_NO_DATA = experiment(no_data={"policy": "rollback", "after": "1s"})


def _vector(value: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": [value]}}


GARBAGE: dict[str, Any] = {
    "value-not-a-number": _vector({"metric": {}, "value": [0, "abc"]}),
    "value-missing": _vector({"metric": {}}),
    "value-short": _vector({"metric": {}, "value": [0]}),
    "value-null": _vector({"metric": {}, "value": None}),
    "value-an-object": _vector({"metric": {}, "value": [0, {"x": 1}]}),
    "sample-not-an-object": _vector("0.5"),
    "data-a-list": {"status": "success", "data": [1, 2]},
    "result-a-string": {"status": "success", "data": {"result": "0.5"}},
    "body-a-list": [1, 2, 3],
    "not-json": web.Response(text="<html>proxy error</html>"),
    "huge-exponent": _vector({"metric": {}, "value": [0, "1e999999"]}),
}


@pytest.mark.parametrize("garbage", list(GARBAGE))
async def test_garbage_from_prometheus_is_no_data_and_the_no_data_policy_rolls_back(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock, garbage: str
) -> None:
    seed(api, ROLL_BACK_ON_NO_DATA)
    state, _ = await drive(services, clock, passes=1)
    assert routed_weight(api) == 10
    body = GARBAGE[garbage]
    prometheus.answer = lambda q: body
    _, results = await drive(services, clock, state=state, passes=4)
    st_ = status_of(api)
    assert st_["phase"] == "RolledBack", st_.get("message")
    assert routed_weight(api) == 0
    assert all(not isinstance(r, BaseException) for r in results), results
    reasons = [r["message"] for run in st_["analysis"] for r in run["results"]]
    # The reason is in the record: what came back, or (an infinity: PromQL's x/0) no data.
    expected = "no data" if garbage == "huge-exponent" else "prometheus answered"
    assert any(expected in m for m in reasons), reasons


async def test_a_stalled_prometheus_is_no_data_with_the_reason_and_the_policy_applies(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    seed(api, ROLL_BACK_ON_NO_DATA)
    state, _ = await drive(services, clock, passes=1)
    prometheus.stall = 1.0  # the provider's timeout is 0.5 s
    await drive(services, clock, state=state, passes=3)
    st_ = status_of(api)
    assert st_["phase"] == "RolledBack", st_.get("message")
    reasons = [r["message"] for run in st_["analysis"] for r in run["results"]]
    assert any("unreachable" in m for m in reasons), reasons


async def test_garbage_for_a_while_then_numbers_resumes_the_rollout_under_a_hold_policy(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    seed(api)
    state, _ = await drive(services, clock, passes=1)
    prometheus.answer = lambda q: GARBAGE["value-not-a-number"]
    await drive(services, clock, state=state, passes=3)
    assert status_of(api)["currentStep"] == 1, "no data is never a pass"
    prometheus.answer = answer_by_version("0.001")
    await drive(services, clock, state=state, passes=8)
    assert status_of(api)["phase"] == "Succeeded"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
answers = st.fixed_dictionaries(
    {
        "status": st.just("success"),
        "data": json_values | st.fixed_dictionaries({"result": json_values}),
    }
)


@settings(max_examples=300, deadline=None)
@given(answers)
def test_any_prometheus_answer_is_a_finite_number_no_data_or_a_reason(body: dict) -> None:
    from modelrollout_operator.metrics.prometheus import QueryError, sample_value

    try:
        value = sample_value(body, "q")
    except QueryError as exc:
        assert "q" in str(exc)
        return
    assert value is None or math.isfinite(value)


async def test_local_counters_that_are_not_numbers_are_no_data_with_the_reason() -> None:
    from datetime import UTC, datetime

    from modelrollout_operator.api.v1alpha1 import MetricCheck
    from modelrollout_operator.local.counters import GatewayCountersProvider
    from modelrollout_operator.metrics import Target
    from modelrollout_operator.rollout.model import ObservationPlan

    page = (
        "# TYPE modelrollout_requests_total counter\n"
        'modelrollout_requests_total{model="churn",version="1",code="200"} NaN\n'
        'modelrollout_requests_total{model="churn",version="2",code="200"} NaN\n'
    )

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=page)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    provider = GatewayCountersProvider(f"http://127.0.0.1:{port}", "churn")
    try:
        now = datetime.now(UTC)
        check = MetricCheck(name="errors", kind="errorRate", max=0.05)
        plan = ObservationPlan(
            metrics=("errors",), baseline_version="1", candidate_version="2", since=now
        )
        await provider.sample(now)
        [obs] = await provider.observe(plan, [check], Target(model="churn", namespace=NS), now)
    finally:
        await provider.close()
        await runner.cleanup()
    assert obs.error is not None and "nan" in obs.error.lower(), obs

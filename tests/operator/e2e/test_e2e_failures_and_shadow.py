"""The operator process (kopf) on the path a cluster takes: fallbacks fail the version that
failed, and a shadow run is judged on the shadow version's accuracy. A real Prometheus scrapes
the gateway's own metrics registry, driven like the gateway drives it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import start_http_server

from modelrollout_inference.metrics import GatewayMetrics
from modelrollout_operator.k8s.client import EXPERIMENTS, KubeClient
from tests.operator.e2e.conftest import operator_with_ready_versions, wait_until
from tests.operator.e2e.scenarios import NS, every_half_second, server_fields, status_of
from tests.support.prometheus import PROMETHEUS, SKIP_REASON, PrometheusServer, free_port

MODEL = "scorer"


class Gateway:
    """The gateway's real registry on 127.0.0.1, with every series declared as it declares
    them; the test plays the traffic."""

    def __init__(self) -> None:
        self.metrics = GatewayMetrics()
        self.port = free_port()
        for version, route in (("1", "stable"), ("2", "candidate")):
            self.metrics.requests.labels(MODEL, version, route, "200")
            self.metrics.declare_version(MODEL, version)
        self._server: Any = None

    def start(self) -> None:
        self._server = start_http_server(
            self.port, addr="127.0.0.1", registry=self.metrics.registry
        )

    def stop(self) -> None:
        server, thread = self._server
        server.shutdown()
        thread.join(timeout=2)

    def answer(self, version: str, route: str, n: int, correct: int) -> None:
        m = self.metrics
        for _ in range(n):
            m.observe_answer(MODEL, version, route, 200, 0.01)
        m.feedback.labels(MODEL, version).inc(n)
        m.feedback_correct.labels(MODEL, version).inc(correct)


@pytest.fixture()
def gateway() -> Iterator[Gateway]:
    g = Gateway()
    g.start()
    yield g
    g.stop()


@pytest.fixture()
def prometheus(gateway: Gateway) -> Iterator[PrometheusServer]:  # overrides the conftest's
    if PROMETHEUS is None:
        pytest.skip(SKIP_REASON)
    server = PrometheusServer([f"127.0.0.1:{gateway.port}"])
    server.start()
    yield server
    server.close()


def _experiment(name: str, strategy: dict[str, Any], metrics: list[dict[str, Any]]) -> dict:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": server_fields(name),
        "spec": {
            "model": MODEL, "baseline": "scorer-v1", "candidate": "scorer-v2",
            "strategy": strategy,
            "analysis": {"interval": "1s", "failureLimit": 2, "alpha": 0.05,
                         "noData": {"policy": "hold", "after": "20s"}, "metrics": metrics},
        },
    }  # fmt: skip


async def _ended(kube: KubeClient, name: str, op: Any, timeout: float = 60) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        st = await status_of(kube, name)
        return st if st.get("phase") in ("RolledBack", "Succeeded", "Failed") else None

    result: dict[str, Any] = await wait_until(done, timeout, f"{name} to end", op)
    return result


async def test_a_candidate_rescued_by_fallback_half_the_time_is_rolled_back_on_error_rate(
    cluster: Any, kube: KubeClient, kubelet: Any, gateway: Gateway, prometheus: Any,
    start_operator: Any,
) -> None:  # fmt: skip
    op = await operator_with_ready_versions(
        start_operator, kube, prometheus, 'modelrollout_requests_total{version="2"}'
    )

    def tick() -> None:
        # v2 fails every second request it gets; v1 answers those with 200 (no 5xx anywhere)
        gateway.answer("1", "stable", 90, 81)
        gateway.answer("2", "candidate", 10, 9)
        gateway.answer("1", "stable", 10, 9)
        gateway.metrics.fallbacks.labels(MODEL, "2", "error").inc(10)

    strategy = {"type": "canary", "canary": {"steps": [{"weight": w, "bake": "2s"}
                                                       for w in (20, 50, 100)]}}  # fmt: skip
    metrics = [{"name": "errors", "kind": "errorRate", "max": 0.05, "maxDegradation": 0.02,
                "window": "5s", "minSamples": 20}]  # fmt: skip
    async with every_half_second(tick):
        await kube.create(EXPERIMENTS, NS, _experiment("fallback", strategy, metrics))
        st = await _ended(kube, "fallback", op)
    assert st["phase"] == "RolledBack", st.get("message")
    assert st["weight"] == 0
    last = [r for r in st["analysis"] if r["verdict"] == "fail"][-1]
    (errors,) = [m for m in last["results"] if m["metric"] == "errors"]
    assert errors["verdict"] == "fail" and 0.4 < errors["candidate"] < 0.6, errors


async def test_a_shadow_model_more_accurate_than_the_served_one_is_judged_better(
    cluster: Any, kube: KubeClient, kubelet: Any, gateway: Gateway, prometheus: Any,
    start_operator: Any,
) -> None:  # fmt: skip
    op = await operator_with_ready_versions(
        start_operator, kube, prometheus, 'modelrollout_shadow_feedback_total{version="2"}'
    )

    def tick() -> None:
        gateway.answer("1", "stable", 100, 80)  # every user served by v1, right 80% of the time
        m = gateway.metrics
        for _ in range(100):  # and every request mirrored to v2, right 95% of the time
            m.observe_answer(MODEL, "2", "shadow", 200, 0.01)
        m.shadow_feedback.labels(MODEL, "2").inc(100)
        m.shadow_feedback_correct.labels(MODEL, "2").inc(95)

    strategy = {"type": "shadow", "shadow": {"percent": 100, "duration": "3s"}}
    metrics = [{"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.02,
                "minSamples": 100}]  # fmt: skip
    async with every_half_second(tick):
        await kube.create(EXPERIMENTS, NS, _experiment("shadow", strategy, metrics))
        st = await _ended(kube, "shadow", op)
    assert st["phase"] == "Succeeded", st.get("message")
    assert st["weight"] == 0
    assert "judged better than the baseline on accuracy" in st["message"], st["message"]
    (accuracy,) = [m for m in st["analysis"][-1]["results"] if m["metric"] == "accuracy"]
    assert accuracy["candidate"] > 0.9 > 0.85 > accuracy["baseline"]
    assert accuracy["lower"] > 0

"""Real parts: the operator process (kopf) against kmock's emulator, a real Prometheus server
scraping a metric source the test drives, and a kubelet stand-in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from modelrollout_operator.k8s.client import MODELVERSIONS, Connection, KubeClient
from tests.operator.e2e.scenarios import create_versions, status_of
from tests.support.kubernetes import (
    FakeKubelet,
    OperatorProcess,
    events_for,
    register_resources,
)
from tests.support.prometheus import PROMETHEUS, SKIP_REASON, GatewayMetrics, PrometheusServer


@pytest.fixture()
def gateway_metrics() -> Iterator[GatewayMetrics]:
    source = GatewayMetrics("scorer")
    for version, route in (("1", "stable"), ("2", "candidate")):
        source.touch(version, route)
    source.start()
    yield source
    source.stop()


@pytest.fixture()
def prometheus(gateway_metrics: GatewayMetrics) -> Iterator[PrometheusServer]:
    if PROMETHEUS is None:
        pytest.skip(SKIP_REASON)
    server = PrometheusServer([f"127.0.0.1:{gateway_metrics.port}"])
    server.start()
    yield server
    server.close()


@pytest.fixture()
async def cluster(kmock: Any) -> AsyncIterator[Any]:
    register_resources(kmock)
    yield kmock


@pytest.fixture()
async def kubelet(cluster: Any) -> AsyncIterator[FakeKubelet]:
    k = FakeKubelet(cluster)
    k.start()
    yield k
    await k.stop()


@pytest.fixture()
async def kube(cluster: Any) -> AsyncIterator[KubeClient]:
    client = KubeClient(Connection(server=str(cluster.url).rstrip("/"), insecure=True))
    yield client
    await client.close()


def _watching(cluster: Any, plural: str) -> bool:
    return any(
        r.params.get("watch") in ("true", "1") and r.url.path.endswith(f"/{plural}")
        for r in list(cluster)
    )


async def wait_until(
    check: Callable[[], Any], timeout: float, what: str, operator: OperatorProcess | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.2)
    logs = operator.logs() if operator is not None else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")


async def events_eventually(
    cluster: Any,
    name: str,
    want: Callable[[list[dict[str, Any]]], bool],
    what: str,
    operator: OperatorProcess | None = None,
    timeout: float = 30,
) -> list[dict[str, Any]]:
    """The events of one object once `want` holds of them.

    A pass writes status, then routing, then events (the crash-safe order), so a test that saw
    a phase in status must wait a moment for the events of the same pass."""

    def check() -> list[dict[str, Any]] | None:
        events = events_for(cluster, name)
        return events if want(events) else None

    result: list[dict[str, Any]] = await wait_until(check, timeout, what, operator)
    return result


async def metrics_eventually(
    operator: OperatorProcess, lines: list[str], timeout: float = 30
) -> str:
    """The operator's /metrics text once it holds every one of `lines`: a test reads them over
    HTTP from another process, while the pass that counts may still be running."""

    def check() -> str | None:
        text = httpx.get(f"http://127.0.0.1:{operator.http_port}/metrics").text
        return text if all(line in text for line in lines) else None

    result: str = await wait_until(check, timeout, f"metrics {lines}", operator)
    return result


async def operator_with_ready_versions(
    start_operator: Callable[[], Any],
    kube: KubeClient,
    prometheus: PrometheusServer,
    series: str = 'modelrollout_feedback_total{version="2"}',
) -> OperatorProcess:
    """The operator started, scorer-v1 and scorer-v2 created and Ready, and the gateway's
    `series` of the candidate scraped by Prometheus: where every rollout scenario begins."""
    op: OperatorProcess = await start_operator()
    await create_versions(kube)

    async def both_ready() -> bool:
        a = await status_of(kube, "scorer-v1", MODELVERSIONS)
        b = await status_of(kube, "scorer-v2", MODELVERSIONS)
        return a.get("phase") == b.get("phase") == "Ready"

    await wait_until(both_ready, 60, "both versions Ready", op)
    # In a thread: this loop also serves kmock, and the operator must not stall meanwhile.
    await asyncio.to_thread(prometheus.wait_for_series, series)
    return op


@pytest.fixture()
async def start_operator(
    cluster: Any, prometheus: PrometheusServer
) -> AsyncIterator[Callable[[], Any]]:
    started: list[OperatorProcess] = []

    async def start() -> OperatorProcess:
        before = len(list(cluster))
        op = OperatorProcess(str(cluster.url).rstrip("/"), prometheus.url)
        op.start()
        started.append(op)

        def watching() -> bool:
            fresh = list(cluster)[before:]
            return any(
                r.params.get("watch") in ("true", "1") and r.url.path.endswith("/experiments")
                for r in fresh
            ) and any(
                r.params.get("watch") in ("true", "1") and r.url.path.endswith("/modelversions")
                for r in fresh
            )

        await wait_until(watching, 30, "the operator's watches", op)
        async with httpx.AsyncClient() as http:
            resp = await http.get(f"http://127.0.0.1:{op.http_port}/readyz")
            assert resp.status_code == 200
        return op

    yield start
    for op in started:
        op.stop()

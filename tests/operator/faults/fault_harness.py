"""Harness: the operator's pass functions against a failing API server and a lying Prometheus.

In-process and fast: each test runs the real `experiment_pass` / `version_pass` with the real
`KubeClient`, `GatewayRouter` and `PrometheusProvider` over HTTP, with a clock the test moves
(the pass reads `datetime.now`). A "restart" is a fresh `PassState` (what a new process has);
a "crash between two writes" is the API refusing every write from the n-th on.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelrollout_operator.api.v1alpha1 import TrafficProvider
from modelrollout_operator.handlers import driving
from modelrollout_operator.handlers.driving import PassState, experiment_pass
from modelrollout_operator.handlers.services import Services
from modelrollout_operator.k8s.client import CONFIGMAPS, Connection, KubeClient
from modelrollout_operator.metrics import PrometheusProvider
from modelrollout_operator.observability import OperatorMetrics
from modelrollout_operator.routing import GatewayRouter
from modelrollout_operator.settings import OperatorSettings

sys.path.insert(0, str(Path(__file__).parent))

from faulty_api import FakePrometheus, FaultyApi

NS = "ml"
START = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
GOOD, BAD = "0.001", "0.5"  # the custom error metric: max 0.05


class Clock:
    """The time the passes see; tests move it."""

    def __init__(self) -> None:
        self.now = START

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()

    class FakeDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return c.now if tz is not None else c.now.replace(tzinfo=None)

    monkeypatch.setattr(driving, "datetime", FakeDatetime)
    return c


@pytest.fixture
async def api() -> AsyncIterator[FaultyApi]:
    server = FaultyApi()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def prometheus() -> AsyncIterator[FakePrometheus]:
    server = FakePrometheus(answer=lambda q: GOOD)
    await server.start()
    yield server
    await server.stop()


def make_services(api: FaultyApi, prometheus: FakePrometheus, **settings: Any) -> Services:
    ours = OperatorSettings(
        kube_server=api.url,
        prometheus_url=prometheus.url,
        min_analysis_interval=0.01,
        version_poll_interval=0.01,
        **settings,
    )
    kube = KubeClient(Connection(server=api.url, insecure=True), timeout=0.5)
    return Services(
        settings=ours,
        kube=kube,
        provider=PrometheusProvider(prometheus.url, timeout=0.5),
        routers={TrafficProvider.GATEWAY: GatewayRouter(kube, CONFIGMAPS, namespace=NS)},
        metrics=OperatorMetrics(),
    )


@pytest.fixture
async def services(api: FaultyApi, prometheus: FakePrometheus) -> AsyncIterator[Services]:
    made = make_services(api, prometheus)
    yield made
    await made.close()


def modelversion(name: str, version: int, *, ready: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": "churn",
            "version": version,
            "artifact": {"uri": f"s3://models/churn/{version}/model.onnx", "sha256": "a" * 64},
        },
        "status": {
            "phase": "Ready" if ready else "Deploying",
            "artifact": {"uri": f"s3://models/churn/{version}/model.onnx", "sha256": "a" * 64},
        },
    }


def experiment(
    name: str = "exp",
    *,
    steps: tuple[int, ...] = (10, 50),
    bake: str = "20s",
    interval: str = "10s",
    no_data: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "churn",
        "baseline": "churn-v1",
        "candidate": "churn-v2",
        "strategy": {
            "type": "canary",
            "canary": {"steps": [{"weight": w, "bake": bake} for w in steps]},
        },
        "analysis": {
            "interval": interval,
            "failureLimit": 1,
            "noData": no_data or {"policy": "hold", "after": "1h"},
            "metrics": [
                {
                    "name": "errors",
                    "kind": "custom",
                    "query": 'errors{model="{{model}}",version="{{version}}"}',
                    "max": 0.05,
                    "minSamples": 1,
                }
            ],
        },
    }
    body.update(spec)
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": NS},
        "spec": body,
    }


def seed(api: FaultyApi, exp: dict[str, Any] | None = None) -> dict[str, Any]:
    api.put("modelversions", NS, modelversion("churn-v1", 1))
    api.put("modelversions", NS, modelversion("churn-v2", 2))
    return api.put("experiments", NS, exp or experiment())


def answer_by_version(candidate: str, baseline: str = GOOD) -> Any:
    """The custom metric's value: `candidate` for version 2, `baseline` for version 1."""
    return lambda q: candidate if 'version="2"' in q else baseline


def status_of(api: FaultyApi, name: str = "exp") -> dict[str, Any]:
    return (api.get("experiments", NS, name) or {}).get("status") or {}


def routed_weight(api: FaultyApi, name: str = "exp") -> int | None:
    """The candidate's weight in the gateway's routing table (None: no table yet)."""
    # By content, not name: the table's name changed over time (`<exp>-routing`,
    # `<ns>.<exp>.routing`).
    tables = [c for c in api.of("configmaps") if name in c["metadata"]["name"]]
    if not tables:
        return None
    cm = tables[0]
    table = json.loads(cm["data"]["routing.json"])
    for v in table["versions"]:
        if v["version"] == "2":
            return int(v["weight"])
    return 0


def condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def events(api: FaultyApi, reason: str | None = None) -> list[dict[str, Any]]:
    out = [e for e in api.of("events") if reason is None or e.get("reason") == reason]
    return sorted(out, key=lambda e: e["metadata"]["resourceVersion"])


async def drive(
    services: Services,
    clock: object,
    *,
    state: PassState | None = None,
    passes: int = 10,
    step: float = 10.0,
    name: str = "exp",
) -> tuple[PassState, list[float | BaseException | None]]:
    """Up to `passes` passes, `step` seconds apart; stops when a pass returns None (the daemon
    ends). Returns the state and what each pass gave (a delay, None, or the exception)."""
    state = state if state is not None else PassState()
    results: list[float | BaseException | None] = []
    for _ in range(passes):
        try:
            delay = await experiment_pass(services, NS, name, state)
        except Exception as exc:  # the daemon logs it and tries again
            results.append(exc)
        else:
            results.append(delay)
            if delay is None:
                break
        clock.advance(step)  # type: ignore[attr-defined]
    return state, results

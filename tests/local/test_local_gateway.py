"""The local driver's I/O against a real gateway subprocess: routing over the admin endpoint,
labelled traffic with delayed feedback, and the gateway-counters metrics provider."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from modelrollout_operator.api.v1alpha1 import ExperimentSpec, MetricCheck, MetricKind
from modelrollout_operator.local.counters import GatewayCountersProvider
from modelrollout_operator.local.loading import LoadGenerator, LoadProfile, TrafficSample
from modelrollout_operator.local.servers import start_gateway
from modelrollout_operator.local.supervising import Supervisor, free_port
from modelrollout_operator.local.traffic import AdminRouter
from modelrollout_operator.metrics import Target
from modelrollout_operator.rollout import ObservationPlan, SetTraffic
from modelrollout_operator.routing import ExperimentRef, RoutingError, VersionRef
from tests.support.onnx_models import write_linear_model

FEATURES = 39
SPEC = ExperimentSpec(model="scorer", baseline="scorer-v1", candidate="scorer-v2")
V1 = VersionRef(name="scorer-v1", version="1", ready=True)
V2 = VersionRef(name="scorer-v2", version="2", ready=True)
CHECKS = [
    MetricCheck(name="accuracy", kind=MetricKind.ACCURACY, max_degradation=0.02),
    MetricCheck(name="errors", kind=MetricKind.ERROR_RATE, max=0.01, window="30s"),
    MetricCheck(name="p99", kind=MetricKind.LATENCY, quantile=0.99, max=1.0, window="30s"),
]


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_linear_model(root / "scorer" / "1" / "model.onnx", {}, 6.0)  # always class 1
    write_linear_model(root / "scorer" / "2" / "model.onnx", {}, -6.0)  # always class 0
    return root


async def test_routing_traffic_feedback_and_counters_end_to_end(
    tmp_path: Path, repository: Path
) -> None:
    rng = np.random.default_rng(0)
    # every label is 1: version 1 is always right, version 2 always wrong
    sample = TrafficSample(
        rng.normal(size=(200, FEATURES)).astype(np.float32), np.ones(200, dtype=np.int64)
    )
    with Supervisor(tmp_path / "logs") as supervisor:
        gateway = start_gateway(supervisor, repository)
        router = AdminRouter(gateway.url, admin_token=gateway.admin_token)
        provider = GatewayCountersProvider(gateway.url, "scorer")
        try:
            exp = ExperimentRef("e", "default")
            await router.apply(exp, SPEC, SetTraffic(candidate_weight=50), V1, V2)
            assert await router.weights("scorer", ["1", "2"]) == {"1": 50, "2": 50}
            start = datetime.now(UTC)
            await provider.sample(start)
            load = LoadGenerator(
                gateway.url, "scorer", sample, LoadProfile(rate=150, feedback_delay=0.2)
            )
            await load.start()
            await asyncio.sleep(1.5)
            stats = await load.stop()
            plan = ObservationPlan(
                metrics=("accuracy", "errors", "p99"),
                baseline_version="1",
                candidate_version="2",
                since=start,
            )
            observed = {
                o.metric: o
                for o in await provider.observe(
                    plan, CHECKS, Target("scorer", "default"), datetime.now(UTC)
                )
            }
            await router.apply(exp, SPEC, SetTraffic(candidate_weight=50, promoted=True), V1, V2)
            promoted = await router.weights("scorer", ["1", "2"])
        finally:
            await router.close()
            await provider.close()
        pid = gateway.child.pid
    assert stats.failed == 0 and stats.feedback_failed == 0
    assert set(stats.answered) == {"1", "2"}  # sticky users split over both versions
    accuracy = observed["accuracy"]
    assert accuracy.error is None and accuracy.baseline is not None
    assert accuracy.baseline.value == 1.0 and accuracy.candidate.value == 0.0
    # every label posted was joined to its prediction and counted for the version that answered
    assert accuracy.baseline.samples == stats.answered["1"]
    assert accuracy.candidate.samples == stats.answered["2"]
    assert accuracy.baseline.samples + accuracy.candidate.samples == stats.feedback_sent
    errors = observed["errors"]
    assert errors.candidate.value == 0.0 and errors.candidate.samples == stats.answered["2"]
    p99 = observed["p99"]
    assert p99.candidate.value is not None and 0 < p99.candidate.value < 1.0
    assert promoted == {"1": 0, "2": 100}  # the promoted candidate is the new baseline
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the supervisor stopped the gateway


async def test_a_router_never_sends_traffic_to_a_candidate_that_is_not_ready() -> None:
    router = AdminRouter(f"http://127.0.0.1:{free_port()}")  # nothing listens: never reached
    unready = VersionRef(name="scorer-v2", version="2", ready=False)
    try:
        with pytest.raises(RoutingError, match="not Ready"):
            await router.apply(
                ExperimentRef("e", "default"), SPEC, SetTraffic(candidate_weight=10), V1, unready
            )
        with pytest.raises(RoutingError, match="unreachable"):
            await router.apply(
                ExperimentRef("e", "default"), SPEC, SetTraffic(candidate_weight=10), V1, V2
            )
    finally:
        await router.close()
    assert router.applied == []


async def test_an_unreadable_gateway_is_an_error_never_a_pass() -> None:
    provider = GatewayCountersProvider(f"http://127.0.0.1:{free_port()}", "scorer")
    plan = ObservationPlan(("accuracy",), "1", "2", datetime.now(UTC))
    try:
        (observation,) = await provider.observe(
            plan, CHECKS[:1], Target("scorer", "default"), datetime.now(UTC)
        )
    finally:
        await provider.close()
    assert observation.error is not None and "unreadable" in observation.error
    assert observation.candidate.value is None

"""A candidate that fails half its requests behind fallback is rolled back on error rate
(issue 11, done when): the real gateway serves the candidate as a remote KServe v2 backend, a
flaky front answers 500 to every second inference request, fallback hides every failure from
the clients, and the operator's engine still rolls back on the candidate's error rate, read
from a real Prometheus scraping the gateway."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from modelrollout_operator.api.v1alpha1 import Experiment, ExperimentPhase
from modelrollout_operator.local.loading import LoadGenerator, LoadProfile, TrafficSample
from modelrollout_operator.local.servers import find_prometheus, start_gateway, start_prometheus
from modelrollout_operator.local.stepping import Driver
from modelrollout_operator.local.supervising import Supervisor, free_port
from modelrollout_operator.local.traffic import AdminRouter
from modelrollout_operator.metrics import PrometheusProvider
from modelrollout_operator.rollout import SetTraffic
from modelrollout_operator.routing import ExperimentRef, VersionRef
from tests.support.onnx_models import write_linear_model

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]

FEATURES = 39
HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class FlakyFront:
    """A KServe v2 front on 127.0.0.1 for a real version server: health and metadata pass
    through, every second inference request is answered 500 (as a crashing model server
    would), the others are forwarded and answered by the server."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.infers = 0
        self.failed = 0
        self._turn = itertools.cycle((False, True))
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST" and request.path.endswith("/infer"):
            self.infers += 1
            if next(self._turn):
                self.failed += 1
                return web.json_response({"error": "injected failure"}, status=500)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers,
            data=await request.read(),
        ) as answer:  # fmt: skip
            body = await answer.read()
            back = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=answer.status, body=body, headers=back)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


@pytest.fixture
async def flaky(tmp_path: Path) -> AsyncIterator[tuple[Supervisor, Path, FlakyFront, str]]:
    binary = find_prometheus()
    if binary is None:
        pytest.skip("the prometheus binary is not installed (apt-get install prometheus)")
    repository = tmp_path / "models"
    write_linear_model(repository / "scorer" / "1" / "model.onnx", {}, 3.0)
    write_linear_model(repository / "scorer" / "2" / "model.onnx", {}, 3.0)
    with Supervisor(tmp_path / "logs") as supervisor:
        server = start_gateway(supervisor, repository)  # the candidate's own version server
        front = FlakyFront(server.url)
        await front.start()
        try:
            yield supervisor, repository, front, binary
        finally:
            await front.stop()


def _experiment() -> Experiment:
    return Experiment.model_validate(
        {
            "metadata": {"name": "flaky-v2"},
            "spec": {
                "model": "scorer", "baseline": "scorer-v1", "candidate": "scorer-v2",
                "strategy": {"type": "canary", "canary": {"steps": [
                    {"weight": 50, "bake": "5s"}, {"weight": 100, "bake": "5s"}]}},
                "routing": {"stickyBy": "x-user-id"},
                "analysis": {
                    "interval": "1s", "failureLimit": 2, "alpha": 0.05,
                    "noData": {"policy": "hold", "after": "30s"},
                    "metrics": [
                        # against the baseline (confidence sequence) and an absolute bound
                        {"name": "errors", "kind": "errorRate", "max": 0.05,
                         "maxDegradation": 0.02, "window": "10s", "minSamples": 30},
                        {"name": "fallbacks", "kind": "fallbackRate", "max": 0.05,
                         "window": "10s", "minSamples": 30},
                    ],
                },
            },
        }
    )  # fmt: skip


async def test_a_candidate_failing_half_its_requests_behind_fallback_is_rolled_back_on_error_rate(
    tmp_path: Path, flaky: tuple[Supervisor, Path, FlakyFront, str]
) -> None:
    supervisor, repository, front, binary = flaky
    gateway = start_gateway(supervisor, repository)
    prometheus = start_prometheus(supervisor, binary, gateway.url, tmp_path)
    provider = PrometheusProvider(prometheus.url)
    router = AdminRouter(gateway.url, admin_token=gateway.admin_token)
    rng = np.random.default_rng(1)
    sample = TrafficSample(
        rng.normal(size=(300, FEATURES)).astype(np.float32), np.ones(300, dtype=np.int64)
    )
    load = LoadGenerator(gateway.url, "scorer", sample, LoadProfile(rate=80, feedback_delay=0.2))
    experiment = _experiment()
    baseline = VersionRef(name="scorer-v1", version="1", ready=True)
    candidate = VersionRef(name="scorer-v2", version="2", ready=True, endpoint=front.url)
    driver = Driver(experiment, baseline, candidate, provider, router, clock_zero=time.monotonic())
    # today's routing first: every user on the baseline
    await router.apply(
        ExperimentRef("e", "default"),
        experiment.spec,
        SetTraffic(candidate_weight=0),
        baseline,
        candidate,
    )
    started = datetime.now(UTC)
    await load.start()
    try:
        outcome = await asyncio.wait_for(driver.run(deadline_seconds=90), timeout=120)
    finally:
        stats = await load.stop()
        await provider.close()
        await router.close()
    status = outcome.status
    took = (datetime.now(UTC) - started).total_seconds()

    # the clients never saw a failure: the baseline answered every failed request
    assert stats.failed == 0, stats
    assert front.failed > 0 and front.failed == front.infers // 2  # every second one
    # yet the candidate was rolled back, on its error rate, never past the first step
    assert status.phase == ExperimentPhase.ROLLED_BACK, status.message
    assert status.weight == 0 and outcome.weights_applied[-1] == 0
    assert max(outcome.weights_applied) == 50 and not outcome.promoted
    failed = [r for r in status.analysis if r.verdict == "fail"]
    errors = [m for m in failed[-1].results if m.metric == "errors"]
    assert errors and errors[0].verdict == "fail", failed[-1]
    assert errors[0].candidate is not None and 0.35 < errors[0].candidate < 0.65
    # the confidence sequence of the difference with the baseline lies above the margin
    assert errors[0].lower is not None and errors[0].lower > 0.02
    fallbacks = [m for m in failed[-1].results if m.metric == "fallbacks"]
    assert fallbacks and fallbacks[0].verdict == "fail"
    assert "errors" in status.message and "rolled back" in status.message
    print(
        f"candidate failing {front.failed}/{front.infers} requests: rolled back in {took:.1f} s, "
        f"error rate {errors[0].candidate:.3f}, clients saw {stats.failed} failures"
    )

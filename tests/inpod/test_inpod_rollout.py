"""End to end on the path users take: everything the operator creates runs as real processes.

A ModelVersion is trained by its Job (the real trainer on a synthetic dataset in S3), becomes
Ready and serves; an Experiment walks its canary steps in the gateway and promotes; another, with
a bad candidate, rolls back, and a client cannot take the model's traffic over in between. The
kubelet stand-in runs the Job and the serving Deployments; the gateway answers and counts real
labelled traffic, scraped by a real Prometheus that the operator's analysis queries.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import kmock
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from tests.support.inpod.pods import can_launch
from tests.support.inpod.scenario import (
    MODELS_BUCKET,
    NS,
    InpodCluster,
    experiment,
    inverted_model,
)
from tests.support.prometheus import PROMETHEUS, SKIP_REASON

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the in-pod harness needs root (namespaces)"),
    pytest.mark.skipif(PROMETHEUS is None, reason=SKIP_REASON),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InpodCluster]:
    reason = can_launch()
    if reason is not None:
        pytest.skip(reason)
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator):
        c = InpodCluster(emulator, tmp_path_factory.mktemp("inpod"))
        try:
            await c.start()
            yield c
        finally:
            await c.stop()


async def eventually(
    check: Callable[[], Any], timeout: float, what: str, cluster: InpodCluster
) -> Any:
    deadline = time.monotonic() + timeout
    error = ""
    while time.monotonic() < deadline:
        try:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
        except httpx.HTTPError as exc:  # a server busy or restarting: ask again
            error, value = repr(exc), None
        if value:
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(
        f"timed out after {timeout} s waiting for {what} (last error: {error})\n"
        f"{cluster.describe()}"
    )


async def gateway_weights(cluster: InpodCluster) -> dict[str, float]:
    """The weights the gateway applies now, per version, from its own /metrics."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{cluster.gateway_url}/metrics")).text
    weights: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "modelrollout_traffic_weight":
            continue
        for sample in family.samples:
            if sample.labels.get("model") == "scorer":
                weights[sample.labels["version"]] = sample.value
    return weights


async def test_a_version_trained_by_its_job_becomes_ready_and_its_pod_answers(
    cluster: InpodCluster,
) -> None:
    await cluster.create_trained_version("scorer-v1", 1)

    status = await eventually(
        lambda: cluster.ready("scorer-v1"), 150, "scorer-v1 trained and Ready", cluster
    )
    trainer = next(p for p in cluster.pods() if p.owner == ("Job", "scorer-v1-train"))
    assert trainer.exit_code == 0, trainer.logs()
    assert status["artifact"]["uri"] == f"s3://{MODELS_BUCKET}/repo/scorer/1/model.onnx"
    assert status["metrics"]["test"]["accuracy"] >= 0.7
    body = cluster.s3.get_object(Bucket=MODELS_BUCKET, Key="repo/scorer/1/model.onnx")["Body"]
    assert hashlib.sha256(body.read()).hexdigest() == status["artifact"]["sha256"]

    server = next(p for p in cluster.pods() if p.owner == ("Deployment", "scorer-v1-server"))
    assert server.ready and server.running
    answer = await cluster.infer(f"http://{server.ip}:8000", version="1")
    assert answer["model_version"] == "1" and len(answer["outputs"][0]["data"]) == 1
    assert not cluster.refusals(), (
        f"the chart's service accounts were refused:\n{cluster.refusals()}"
    )


async def test_an_experiment_walks_its_steps_in_the_gateway_and_promotes(
    cluster: InpodCluster,
) -> None:
    await cluster.ready("scorer-v1") or pytest.skip("needs scorer-v1 from the training test")
    model = await cluster.artifact_bytes("scorer", 1)
    await cluster.create_prebuilt_version("scorer-v2", 2, model, runtime="triton")
    await eventually(lambda: cluster.ready("scorer-v2"), 60, "scorer-v2 Ready", cluster)
    stand_in = next(p for p in cluster.pods() if p.owner == ("Deployment", "scorer-v2-server"))
    assert stand_in.stand_in == "triton"

    seen: list[dict[str, float]] = []
    async with cluster.traffic(rate=40):
        await cluster.create(experiment("promote", baseline="scorer-v1", candidate="scorer-v2"))

        async def promoted() -> bool:
            weights = await gateway_weights(cluster)
            if not seen or seen[-1] != weights:
                seen.append(weights)
            phase = (await cluster.status("experiments", "promote")).get("phase")
            return phase == "Succeeded" and weights.get("2") == 100

        await eventually(promoted, 90, "the Experiment to promote in the gateway", cluster)
    candidate_weights = [w.get("2") for w in seen if "2" in w]
    # The gateway applied each step the operator wrote, in order, before the promotion.
    assert [w for w in (25.0, 50.0, 100.0) if w in candidate_weights] == [25.0, 50.0, 100.0], seen
    assert cluster.load_stats["1"] > 0 and cluster.load_stats["2"] > 0
    assert not cluster.refusals(), (
        f"the chart's service accounts were refused:\n{cluster.refusals()}"
    )


async def test_a_bad_candidate_rolls_back_and_a_client_cannot_take_the_traffic(
    cluster: InpodCluster,
) -> None:
    await cluster.ready("scorer-v2") or pytest.skip("needs scorer-v2 from the promotion test")
    model = inverted_model(await cluster.artifact_bytes("scorer", 1))
    await cluster.create_prebuilt_version("scorer-v3", 3, model)
    await eventually(lambda: cluster.ready("scorer-v3"), 60, "scorer-v3 Ready", cluster)

    async with cluster.traffic(rate=40):
        await cluster.create(experiment("rollback", baseline="scorer-v2", candidate="scorer-v3"))
        await eventually(
            lambda: _weight_of(cluster, "3", lambda w: w > 0), 60, "v3 in the gateway", cluster
        )
        # Nobody but the operator may route: an unauthenticated admin call is refused.
        hijack = {"model": "scorer", "generation": 10**9, "versions": [
            {"version": "9", "weight": 100, "role": "baseline",
             "backend": {"kind": "triton", "url": "http://attacker.example:8000"}}]}  # fmt: skip
        async with httpx.AsyncClient(timeout=2) as http:
            resp = await http.put(f"{cluster.gateway_url}/admin/routing/scorer", json=hijack)
        assert resp.status_code in (401, 403, 404), resp.text

        async def rolled_back() -> bool:
            phase = (await cluster.status("experiments", "rollback")).get("phase")
            weights = await gateway_weights(cluster)
            return phase == "RolledBack" and weights.get("3", 0) == 0 and weights.get("2") == 100

        await eventually(rolled_back, 90, "the rollback applied in the gateway", cluster)
    assert "9" not in await gateway_weights(cluster)
    assert not cluster.refusals(), (
        f"the chart's service accounts were refused:\n{cluster.refusals()}"
    )


async def _weight_of(cluster: InpodCluster, version: str, ok: Callable[[float], bool]) -> bool:
    weights = await gateway_weights(cluster)
    return version in weights and ok(weights[version])


__all__ = ["NS"]

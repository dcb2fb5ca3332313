"""Objects and traffic for the e2e scenarios."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from modelrollout_operator.k8s.client import EXPERIMENTS, MODELVERSIONS, KubeClient
from tests.support.prometheus import GatewayMetrics

NS = "default"
SHA = "d" * 64


def server_fields(name: str) -> dict[str, Any]:
    """What a real API server adds on create and the emulator does not (kopf's JSON patches
    test resourceVersion)."""
    return {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "1",
            "generation": 1}  # fmt: skip


def prebuilt_version(name: str, version: int) -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": server_fields(name),
        "spec": {
            "model": "scorer",
            "version": version,
            "artifact": {"uri": f"s3://models/repo/scorer/{version}/model.onnx", "sha256": SHA},
        },
    }


def experiment(
    name: str,
    *,
    steps: list[int],
    no_data: str = "hold",
    promotion: dict[str, Any] | None = None,
    notify: dict[str, Any] | None = None,
    **analysis: Any,
) -> dict:
    doc = {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": server_fields(name),
        "spec": {
            "model": "scorer",
            "baseline": "scorer-v1",
            "candidate": "scorer-v2",
            "strategy": {"type": "canary",
                         "canary": {"steps": [{"weight": w, "bake": "1s"} for w in steps]}},
            "analysis": {
                "interval": "1s",
                "failureLimit": 2,
                "alpha": 0.05,
                "noData": {"policy": no_data, "after": "4s"},
                "metrics": [
                    {"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.05,
                     "minSamples": 100},
                    {"name": "p99", "kind": "latency", "quantile": 0.99, "max": 0.25,
                     "window": "5s", "minSamples": 20},
                    # No 5xx ever happens here, as with a healthy gateway: 0 errors, not no data.
                    {"name": "errors", "kind": "errorRate", "max": 0.05,
                     "window": "5s", "minSamples": 20},
                ],
                **analysis,
            },
        },
    }  # fmt: skip
    if promotion is not None:
        doc["spec"]["promotion"] = promotion
    if notify is not None:
        doc["spec"]["notify"] = notify
    return doc


async def create_versions(kube: KubeClient) -> None:
    await kube.create(MODELVERSIONS, NS, prebuilt_version("scorer-v1", 1))
    await kube.create(MODELVERSIONS, NS, prebuilt_version("scorer-v2", 2))


async def status_of(kube: KubeClient, name: str, res: Any = EXPERIMENTS) -> dict[str, Any]:
    body = await kube.get(res, NS, name)
    return (body or {}).get("status") or {}


@contextlib.asynccontextmanager
async def every_half_second(tick: Callable[[], Awaitable[None] | None]) -> AsyncIterator[None]:
    """Run `tick` (a function or a coroutine function) every 0.5 s in the background."""

    async def run() -> None:
        while True:
            result = tick()
            if result is not None:
                await result
            await asyncio.sleep(0.5)

    task = asyncio.get_running_loop().create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def traffic(
    source: GatewayMetrics,
    candidate_accuracy: Callable[[], float],
    candidate_latency: Callable[[], float] = lambda: 0.02,
    per_tick: int = 100,
) -> AsyncIterator[None]:
    """Labelled load on both versions every 0.5 s: baseline right 90% of the time."""

    def tick() -> None:
        source.serve("1", "stable", requests=per_tick, correct=round(per_tick * 0.9))
        acc = candidate_accuracy()
        source.serve("2", "candidate", requests=per_tick, correct=round(per_tick * acc),
                     latency=candidate_latency())  # fmt: skip

    async with every_half_second(tick):
        yield

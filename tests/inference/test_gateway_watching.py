"""The ConfigMap watch against kmock's Kubernetes emulator: the gateway converges within a second."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from gateway_helpers import MODEL, two_version_table

from modelrollout_inference.serving.gateway import Gateway
from modelrollout_inference.settings import GatewaySettings
from modelrollout_inference.watching import ConfigMapWatcher, kube_client, watch_routing_file

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def _configmap(name: str, table: dict[str, Any], label: str = "true") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"modelrollout.dev/routing": label},
        },
        "data": {"routing.json": orjson.dumps(table).decode()},
    }


async def _converged(gateway: Gateway, weight: int | None, within: float = 1.0) -> float:
    started = time.monotonic()
    while True:
        applied = gateway.tables.get(MODEL)
        current = applied.table.versions[1].weight if applied else None
        if current == weight:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(
                f"candidate weight is {current}, expected {weight} within {within}s"
            )
        await asyncio.sleep(0.01)


async def test_gateway_follows_routing_configmaps(kmock: Any, model_repository: Path) -> None:
    kmock.resources.load_bundled()
    settings = GatewaySettings(
        model_repository=model_repository,
        watch_configmaps=True,
        kube_api_url=str(kmock.url).rstrip("/"),
    )
    gateway = Gateway(settings)
    await gateway.start()
    watcher = asyncio.create_task(ConfigMapWatcher(gateway, kube_client(settings), None).run())
    try:
        async with httpx.AsyncClient(base_url=str(kmock.url)) as api:
            await asyncio.sleep(0.2)  # the emulator replays objects only once the watch is open
            created = await api.post(
                CONFIGMAPS, json=_configmap("exp-scorer", two_version_table(10))
            )
            assert created.status_code in (200, 201), created.text
            await _converged(gateway, 10)

            patch = {
                "data": {"routing.json": orjson.dumps(two_version_table(25, generation=2)).decode()}
            }
            response = await api.patch(
                f"{CONFIGMAPS}/exp-scorer",
                json=patch,
                headers={"content-type": "application/merge-patch+json"},
            )
            assert response.status_code == 200, response.text
            await _converged(gateway, 25)
            assert gateway.metrics.traffic_weight.labels(MODEL, "2", "candidate")._value.get() == 25

            # An older generation never wins, whatever order events arrive in.
            stale = {
                "data": {"routing.json": orjson.dumps(two_version_table(90, generation=1)).decode()}
            }
            await api.patch(
                f"{CONFIGMAPS}/exp-scorer",
                json=stale,
                headers={"content-type": "application/merge-patch+json"},
            )
            # A ConfigMap without the label is not ours (the emulator ignores selectors).
            await api.post(
                CONFIGMAPS, json=_configmap("unrelated", two_version_table(77, 9), "false")
            )
            await asyncio.sleep(0.5)
            await _converged(gateway, 25)

            await api.delete(f"{CONFIGMAPS}/exp-scorer")
            await _converged(gateway, None)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await gateway.close()


async def test_invalid_configmap_is_logged_and_ignored(kmock: Any, model_repository: Path) -> None:
    kmock.resources.load_bundled()
    settings = GatewaySettings(
        model_repository=model_repository, kube_api_url=str(kmock.url).rstrip("/")
    )
    gateway = Gateway(settings)
    await gateway.start()
    watcher = asyncio.create_task(ConfigMapWatcher(gateway, kube_client(settings), "default").run())
    try:
        async with httpx.AsyncClient(base_url=str(kmock.url)) as api:
            await asyncio.sleep(0.2)
            bad = two_version_table(10)
            bad["versions"][0]["weight"] = 50  # type: ignore[index]
            await api.post(CONFIGMAPS, json=_configmap("bad", bad))
            await api.post(CONFIGMAPS, json=_configmap("good", two_version_table(30)))
            await _converged(gateway, 30)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await gateway.close()


async def test_routing_file_is_applied_and_followed(tmp_path: Path, model_repository: Path) -> None:
    gateway = Gateway(GatewaySettings(model_repository=model_repository))
    await gateway.start()
    path = tmp_path / "routing.json"
    path.write_bytes(orjson.dumps([two_version_table(10)]))
    task = asyncio.create_task(watch_routing_file(gateway, path, interval=0.05))
    try:
        await _converged(gateway, 10)
        path.write_bytes(orjson.dumps(two_version_table(40, generation=2)))
        await _converged(gateway, 40)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await gateway.close()


def test_kube_client_needs_an_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(RuntimeError, match="no Kubernetes API"):
        kube_client(GatewaySettings())

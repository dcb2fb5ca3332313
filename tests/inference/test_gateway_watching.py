"""The ConfigMap watch against kmock's Kubernetes emulator: the gateway converges within a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from gateway_helpers import MODEL, serve_gateway, two_version_table
from pydantic import SecretStr

from modelrollout_inference.cli import build_app
from modelrollout_inference.routing.sources import service_namespace
from modelrollout_inference.serving.gateway import Gateway
from modelrollout_inference.settings import GatewaySettings
from modelrollout_inference.watching import (
    ConfigMapWatcher,
    kube_client,
    service_url,
    watch_routing_file,
)

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"  # the gateway's own namespace


def _configmap(
    name: str,
    table: dict[str, Any],
    label: str = "true",
    written_for: str | None = "ml",
    namespace: str = "default",
) -> dict[str, Any]:
    """A routing ConfigMap as the operator writes it into the gateway's namespace."""
    labels = {"modelrollout.dev/routing": label}
    if written_for is not None:
        labels["modelrollout.dev/for-namespace"] = written_for
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
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
    watcher = asyncio.create_task(ConfigMapWatcher(gateway, kube_client(settings), "default").run())
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


def _served_by(url: str) -> dict[str, Any]:
    """Version 2 served by a version server at `url` (what the operator routes to)."""
    table = two_version_table(20)
    table["versions"][1]["backend"] = {"kind": "triton", "url": url}  # type: ignore[index]
    return table


@pytest.fixture
async def watched(kmock: Any, model_repository: Path) -> AsyncIterator[tuple[Gateway, Any]]:
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
            yield gateway, api
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await gateway.close()


async def test_configmaps_outside_the_gateway_namespace_are_never_read(
    watched: tuple[Gateway, Any],
) -> None:
    gateway, api = watched
    other = "/api/v1/namespaces/team-b/configmaps"
    await api.post(
        other, json=_configmap("takeover", two_version_table(90, 99), namespace="team-b")
    )
    await api.post(CONFIGMAPS, json=_configmap("ml.exp.routing", two_version_table(10)))
    await _converged(gateway, 10)
    await asyncio.sleep(0.3)
    await _converged(gateway, 10)


async def test_a_table_not_written_by_the_operator_is_refused(
    watched: tuple[Gateway, Any],
) -> None:
    gateway, api = watched
    await api.post(CONFIGMAPS, json=_configmap("handmade", two_version_table(10), written_for=None))
    await asyncio.sleep(0.5)
    assert gateway.tables == {}


async def test_a_table_sending_traffic_to_another_namespace_is_refused(
    watched: tuple[Gateway, Any],
) -> None:
    gateway, api = watched
    elsewhere = _served_by("http://scorer-v2-server.team-b.svc:8000")
    await api.post(CONFIGMAPS, json=_configmap("ml.exp.routing", elsewhere))
    anywhere = _served_by("http://attacker.example:8000")
    await api.post(CONFIGMAPS, json=_configmap("ml.exp2.routing", anywhere))
    local_file = two_version_table(20)
    local_file["versions"][1]["backend"] = {  # type: ignore[index]
        "kind": "onnxruntime", "uri": "/etc/hostname", "sha256": "ab" * 32,
    }  # fmt: skip
    await api.post(CONFIGMAPS, json=_configmap("ml.exp3.routing", local_file))
    await asyncio.sleep(0.5)
    assert gateway.tables == {}


async def test_a_model_routed_for_one_namespace_cannot_be_taken_by_another(
    watched: tuple[Gateway, Any],
) -> None:
    gateway, api = watched
    await api.post(CONFIGMAPS, json=_configmap("ml.exp.routing", two_version_table(10)))
    await _converged(gateway, 10)
    # A higher generation written for another namespace does not win: it is refused.
    rival = _configmap("team-b.exp.routing", two_version_table(90, 50), written_for="team-b")
    await api.post(CONFIGMAPS, json=rival)
    await asyncio.sleep(0.3)
    await _converged(gateway, 10)
    assert gateway.tables[MODEL].source == "configmap:default/ml.exp.routing"
    # Once the first namespace's table is gone, the model is free for the other one.
    await api.delete(f"{CONFIGMAPS}/ml.exp.routing")
    await _converged(gateway, None)
    patch = {"data": {"routing.json": orjson.dumps(two_version_table(40, 51)).decode()}}
    await api.patch(
        f"{CONFIGMAPS}/team-b.exp.routing",
        json=patch,
        headers={"content-type": "application/merge-patch+json"},
    )
    await _converged(gateway, 40)


def test_service_urls_are_checked_by_namespace() -> None:
    assert service_namespace("http://v2-server.ml.svc:8000") == "ml"
    assert service_namespace("http://v2-server.ml.svc.cluster.local:8000") == "ml"
    assert service_namespace("http://ml.svc:8000") is None
    assert service_namespace("http://10.0.0.1:8000") is None
    assert service_namespace("http://v2.ml.example.com") is None


def test_ipv6_service_host_is_bracketed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert service_url("fd00:10:96::1", "443") == "https://[fd00:10:96::1]:443"
    assert service_url("10.96.0.1", "443") == "https://10.96.0.1:443"
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    client = kube_client(GatewaySettings(kube_token_file=tmp_path / "token", kube_insecure=True))
    assert str(client.base_url) == "https://[::1]:6443"


async def test_watcher_reads_a_rotated_token_again_after_a_401(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    accepted = {"token": "first"}
    seen: list[str] = []

    async def configmaps(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "")
        seen.append(given)
        if given != f"Bearer {accepted['token']}":
            # The API stopped taking the old token just as the kubelet wrote the new one.
            token_file.write_text(accepted["token"])
            return web.json_response({"code": 401}, status=401)
        return web.json_response({"items": [], "metadata": {"resourceVersion": "1"}})

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/default/configmaps", configmaps)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    settings = GatewaySettings(kube_api_url=f"http://127.0.0.1:{port}", kube_token_file=token_file)
    client = kube_client(settings)
    try:
        path = "/api/v1/namespaces/default/configmaps"
        assert (await client.get(path)).status_code == 200
        accepted["token"] = "second"
        assert (await client.get(path)).status_code == 200  # 401, file read again, retried
        assert (await client.get(path)).status_code == 200
        token_file.write_text("third")  # rotated ahead of expiry: the next request uses it
        accepted["token"] = "third"
        assert (await client.get(path)).status_code == 200
    finally:
        await client.aclose()
        await runner.cleanup()
    assert seen == [
        "Bearer first",
        "Bearer first",
        "Bearer second",
        "Bearer second",
        "Bearer third",
    ]


async def test_admin_api_is_off_in_a_cluster_and_the_operator_table_applies(
    kmock: Any, model_repository: Path
) -> None:
    """No token set (the chart sets none): PUT /admin/... is 404 and takes nothing over."""
    kmock.resources.load_bundled()
    settings = GatewaySettings(
        model_repository=model_repository,
        watch_configmaps=True,
        kube_api_url=str(kmock.url).rstrip("/"),
        namespace="default",
    )
    hijack = two_version_table(100, generation=1_000_000)
    with serve_gateway(settings, build_app(settings)) as running:
        async with httpx.AsyncClient(base_url=running.url) as gateway_api:
            for headers in ({}, {"authorization": "Bearer guess"}):
                put = await gateway_api.put(f"/admin/routing/{MODEL}", json=hijack, headers=headers)
                assert put.status_code == 404
        assert running.gateway.tables == {}
        async with httpx.AsyncClient(base_url=str(kmock.url)) as api:
            await asyncio.sleep(0.2)
            created = await api.post(
                CONFIGMAPS, json=_configmap("ml.exp.routing", two_version_table(30))
            )
            assert created.status_code in (200, 201), created.text
            await _converged(running.gateway, 30, within=5)


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": "Basic eDp5"}]
)
def test_admin_api_refuses_a_missing_or_wrong_token(
    model_repository: Path, headers: dict[str, str]
) -> None:
    settings = GatewaySettings(model_repository=model_repository, admin_token=SecretStr("s3cret"))
    with serve_gateway(settings) as running:
        put = httpx.put(
            f"{running.url}/admin/routing/{MODEL}", json=two_version_table(10), headers=headers
        )
        assert put.status_code == 401
        assert httpx.get(f"{running.url}/admin/routing", headers=headers).status_code == 401
        assert running.gateway.tables == {}
        right = {"authorization": "Bearer s3cret"}
        ok = httpx.put(
            f"{running.url}/admin/routing/{MODEL}", json=two_version_table(10), headers=right
        )
        assert ok.status_code == 200


def test_a_version_server_never_has_the_admin_api(model_repository: Path) -> None:
    settings = GatewaySettings(
        model_repository=model_repository, admin_token=SecretStr("s3cret"), model=MODEL
    )
    with serve_gateway(settings) as running:
        put = httpx.put(
            f"{running.url}/admin/routing/{MODEL}",
            json=two_version_table(10),
            headers={"authorization": "Bearer s3cret"},
        )
        assert put.status_code == 404

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
from gateway_helpers import MODEL, metric_value, serve_gateway, two_version_table
from pydantic import SecretStr

from modelrollout_inference.cli import build_app
from modelrollout_inference.errors import Conflict
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


ML_MODEL = f"ml.{MODEL}"  # the model as routed for namespace ml: its served name


async def _converged(
    gateway: Gateway, weight: int | None, within: float = 10.0, served: str = ML_MODEL
) -> float:
    started = time.monotonic()
    while True:
        applied = gateway.tables.get(served)
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
            assert (
                gateway.metrics.traffic_weight.labels(ML_MODEL, "2", "candidate")._value.get() == 25
            )

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
        await _converged(gateway, 10, served=MODEL)
        path.write_bytes(orjson.dumps(two_version_table(40, generation=2)))
        await _converged(gateway, 40, served=MODEL)
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


async def test_one_model_in_two_namespaces_keeps_two_tables_weights_and_metrics(
    watched: tuple[Gateway, Any],
) -> None:
    gateway, api = watched
    await api.post(CONFIGMAPS, json=_configmap("ml.exp.routing", two_version_table(10)))
    # A higher generation written for another namespace routes that namespace's model only.
    rival = _configmap("team-b.exp.routing", two_version_table(90, 50), written_for="team-b")
    await api.post(CONFIGMAPS, json=rival)
    await _converged(gateway, 10)
    await _converged(gateway, 90, served=f"team-b.{MODEL}")
    weights = gateway.metrics.traffic_weight.metric
    assert weights.labels("ml", MODEL, "2", "candidate")._value.get() == 10
    assert weights.labels("team-b", MODEL, "2", "candidate")._value.get() == 90
    # A bare model name routed for two namespaces is ambiguous: refused, naming both.
    with pytest.raises(Conflict, match=f"ml.{MODEL}, team-b.{MODEL}"):
        gateway.resolve(MODEL)
    # One namespace's table going leaves the other's, and the bare name means it again.
    await api.delete(f"{CONFIGMAPS}/ml.exp.routing")
    await _converged(gateway, None)
    await _converged(gateway, 90, served=f"team-b.{MODEL}")
    assert gateway.resolve(MODEL) == f"team-b.{MODEL}"


async def test_the_next_experiment_on_a_model_takes_over_its_table(
    watched: tuple[Gateway, Any],
) -> None:
    gateway, api = watched
    first = _configmap("ml.first.routing", two_version_table(100, 57))
    first["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    await api.post(CONFIGMAPS, json=first)
    await _converged(gateway, 100)
    # The next Experiment's table counts its own generations from 1, and wins as the newer.
    second = _configmap("ml.second.routing", two_version_table(5, 1))
    second["metadata"]["creationTimestamp"] = "2026-01-02T00:00:00Z"
    await api.post(CONFIGMAPS, json=second)
    await _converged(gateway, 5)
    # The finished Experiment's table rewritten or deleted changes nothing.
    patch = {"data": {"routing.json": orjson.dumps(two_version_table(100, 58)).decode()}}
    await api.patch(
        f"{CONFIGMAPS}/ml.first.routing",
        json=patch,
        headers={"content-type": "application/merge-patch+json"},
    )
    await api.delete(f"{CONFIGMAPS}/ml.first.routing")
    await asyncio.sleep(0.3)
    await _converged(gateway, 5)
    assert gateway.tables[ML_MODEL].source == "configmap:default/ml.second.routing"


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
            await _converged(running.gateway, 30, within=15)


async def test_two_namespaces_answer_and_count_apart_over_http(
    kmock: Any, model_repository: Path
) -> None:
    """`ml.scorer` and `team-b.scorer`: each namespace's weights, each its own series."""
    kmock.resources.load_bundled()
    settings = GatewaySettings(
        model_repository=model_repository,
        watch_configmaps=True,
        kube_api_url=str(kmock.url).rstrip("/"),
        namespace="default",
    )
    body = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 39],
                        "data": [0.0] * 39}]}  # fmt: skip
    with serve_gateway(settings, build_app(settings)) as running:
        async with httpx.AsyncClient(base_url=str(kmock.url)) as api:
            await asyncio.sleep(0.2)
            await api.post(CONFIGMAPS, json=_configmap("ml.exp.routing", two_version_table(0)))
            other = _configmap("team-b.exp.routing", two_version_table(100), written_for="team-b")
            await api.post(CONFIGMAPS, json=other)
            await _converged(running.gateway, 0, within=15)
            await _converged(running.gateway, 100, within=15, served=f"team-b.{MODEL}")
        async with httpx.AsyncClient(base_url=running.url) as client:
            for _ in range(5):
                ml = await client.post(f"/v2/models/ml.{MODEL}/infer", json=body)
                team_b = await client.post(f"/v2/models/team-b.{MODEL}/infer", json=body)
                assert (ml.headers["x-model-version"], team_b.headers["x-model-version"]) == (
                    "1",
                    "2",
                )
            ambiguous = await client.post(f"/v2/models/{MODEL}/infer", json=body)
            assert ambiguous.status_code == 409
            assert f"ml.{MODEL}" in ambiguous.text and f"team-b.{MODEL}" in ambiguous.text
        total = "modelrollout_requests_total"
        assert metric_value(running.url, total, namespace="ml", model=MODEL, version="1") == 5
        assert metric_value(running.url, total, namespace="ml", model=MODEL, version="2") == 0
        assert metric_value(running.url, total, namespace="team-b", model=MODEL, version="2") == 5
        assert metric_value(running.url, total, namespace="team-b", model=MODEL, version="1") == 0


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

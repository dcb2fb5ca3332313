"""Triton-kind backends (a second gateway serving one version), fallback, shadow, runtime tables."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import orjson
import pytest
from gateway_helpers import (
    ADMIN,
    MODEL,
    LabelledData,
    RunningGateway,
    metric_value,
    put_table,
    serve_asgi,
    serve_gateway,
    two_version_table,
)

from modelrollout_inference.settings import GatewaySettings


def _body(row: np.ndarray, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": [
            {
                "name": "features",
                "datatype": "FP32",
                "shape": list(row.shape),
                "data": row.ravel().tolist(),
            }
        ]
    }
    if request_id:
        body["id"] = request_id
    return body


def _version(url: str, version: str) -> dict[str, Any]:
    return {"kind": "triton", "url": url, "modelName": MODEL, "modelVersion": version}


@pytest.fixture
def remote(gateway_settings: GatewaySettings) -> Iterator[RunningGateway]:
    """A second gateway: the way the operator runs one ModelVersion with runtime onnxruntime."""
    with serve_gateway(gateway_settings) as running:
        yield running


async def _slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Ready and healthy, but its answers take 2 s: a candidate that times out."""
    if scope["type"] != "http":
        return
    if scope["path"].endswith("/infer"):
        await asyncio.sleep(2)
    body = orjson.dumps(
        {
            "name": MODEL,
            "versions": ["2"],
            "platform": "x",
            "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 39]}],
            "outputs": [{"name": "score", "datatype": "FP32", "shape": [-1, 1]}],
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def test_triton_backend_answers_through_a_second_gateway(
    running: RunningGateway,
    remote: RunningGateway,
    labelled: LabelledData,
    model_repository: Path,
) -> None:
    table = {
        "model": MODEL,
        "generation": 1,
        "versions": [
            {"version": "1", "weight": 0, "role": "baseline"},
            {
                "version": "2",
                "weight": 100,
                "role": "candidate",
                "backend": _version(remote.url, "2"),
            },
        ],
    }
    assert put_table(running, table).status_code == 200
    rows = labelled.features[:8]
    response = httpx.post(f"{running.url}/v2/models/{MODEL}/infer", json=_body(rows))
    assert response.status_code == 200
    assert response.headers["x-model-version"] == "2"
    assert response.headers["x-model-route"] == "candidate"
    expected = ort.InferenceSession(str(model_repository / MODEL / "2" / "model.onnx")).run(
        ["score"], {"features": rows}
    )[0]
    np.testing.assert_allclose(
        np.array(response.json()["outputs"][0]["data"]), expected.ravel(), rtol=1e-6
    )
    # The remote really answered.
    assert metric_value(remote.url, "modelrollout_requests_total", version="2", code="200") == 1


def test_fallback_when_the_candidate_is_down(
    running: RunningGateway, labelled: LabelledData
) -> None:
    table = {
        "model": MODEL,
        "generation": 1,
        "versions": [
            {"version": "1", "weight": 0, "role": "baseline"},
            {
                "version": "2",
                "weight": 100,
                "role": "candidate",
                "backend": _version("http://127.0.0.1:9", "2"),
            },
        ],
    }
    assert put_table(running, table).status_code == 200
    for _ in range(5):
        response = httpx.post(
            f"{running.url}/v2/models/{MODEL}/infer", json=_body(labelled.features[:1])
        )
        assert response.status_code == 200
        assert response.headers["x-model-version"] == "1"
    assert metric_value(running.url, "modelrollout_fallbacks_total", model=MODEL, version="2") == 5


def test_fallback_when_the_candidate_times_out(
    running: RunningGateway, labelled: LabelledData
) -> None:
    with serve_asgi(_slow_app) as slow:
        table = {
            "model": MODEL,
            "generation": 1,
            "timeoutSeconds": 0.2,
            "versions": [
                {"version": "1", "weight": 0, "role": "baseline"},
                {
                    "version": "2",
                    "weight": 100,
                    "role": "candidate",
                    "backend": _version(slow, "2"),
                },
            ],
        }
        assert put_table(running, table).status_code == 200
        started = time.monotonic()
        response = httpx.post(
            f"{running.url}/v2/models/{MODEL}/infer", json=_body(labelled.features[:1])
        )
        assert time.monotonic() - started < 1.5
        assert response.status_code == 200
        assert response.headers["x-model-version"] == "1"
        assert (
            metric_value(
                running.url,
                "modelrollout_fallbacks_total",
                model=MODEL,
                version="2",
                reason="timeout",
            )
            == 1
        )


def test_shadow_answers_from_the_baseline_and_counts_agreement(
    running: RunningGateway, labelled: LabelledData, model_repository: Path
) -> None:
    table = {
        "model": MODEL,
        "generation": 1,
        "shadow": {"version": "2", "percent": 100},
        "versions": [
            {"version": "1", "weight": 100, "role": "baseline"},
            {"version": "2", "weight": 0, "role": "candidate"},
        ],
    }
    assert put_table(running, table).status_code == 200
    rows = labelled.features[:60]
    for i in range(len(rows)):
        response = httpx.post(f"{running.url}/v2/models/{MODEL}/infer", json=_body(rows[i : i + 1]))
        assert response.headers["x-model-version"] == "1"

    def scores(version: int) -> np.ndarray:
        session = ort.InferenceSession(str(model_repository / MODEL / str(version) / "model.onnx"))
        return session.run(["score"], {"features": rows})[0].ravel()

    agreeing = int(np.sum((scores(1) >= 0.5) == (scores(2) >= 0.5)))
    assert 0 < agreeing < len(rows)  # the fixture's versions do differ
    deadline = time.monotonic() + 30  # shadow answers are counted off the request path
    while metric_value(running.url, "modelrollout_shadow_requests_total", model=MODEL) < len(rows):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (
        metric_value(
            running.url, "modelrollout_shadow_requests_total", version="2", outcome="agree"
        )
        == agreeing
    )
    assert (
        metric_value(
            running.url, "modelrollout_shadow_requests_total", version="2", outcome="disagree"
        )
        == len(rows) - agreeing
    )
    assert (
        metric_value(running.url, "modelrollout_traffic_weight", version="2", route="shadow") == 100
    )


def test_weight_changes_under_concurrent_load_fail_no_request(
    running: RunningGateway, labelled: LabelledData
) -> None:
    async def drive() -> tuple[list[int], dict[str, int]]:
        codes: list[int] = []
        versions: dict[str, int] = {}
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:

            async def user(n: int) -> None:
                i = 0
                while not stop.is_set():
                    i += 1
                    response = await client.post(
                        f"/v2/models/{MODEL}/infer",
                        json=_body(labelled.features[:1]),
                        headers={"x-user-id": f"u{n}-{i}"},
                    )
                    codes.append(response.status_code)
                    version = response.headers.get("x-model-version", "?")
                    versions[version] = versions.get(version, 0) + 1

            users = [asyncio.create_task(user(n)) for n in range(8)]
            for generation, weight in enumerate((10, 25, 50, 100, 0, 50), start=1):
                table = {
                    "model": MODEL,
                    "generation": generation,
                    "versions": [
                        {"version": "1", "weight": 100 - weight, "role": "baseline"},
                        {
                            "version": "2",
                            "weight": weight,
                            "role": "candidate",
                            "backend": {"kind": "onnxruntime"},
                        },
                    ],
                }
                response = await client.put(f"/admin/routing/{MODEL}", json=table, headers=ADMIN)
                assert response.status_code == 200
                await asyncio.sleep(0.3)
            stop.set()
            await asyncio.gather(*users)
        return codes, versions

    codes, versions = asyncio.run(drive())
    assert len(codes) > 50
    assert set(codes) == {200}
    assert versions.get("1", 0) > 0 and versions.get("2", 0) > 0


def test_older_generation_is_refused_by_admin(running: RunningGateway) -> None:
    assert put_table(running, two_version_table(10, generation=5)).status_code == 200
    response = put_table(running, two_version_table(50, generation=4))
    assert response.status_code == 409
    assert running.gateway.tables[MODEL].table.versions[1].weight == 10
    listing = httpx.get(f"{running.url}/admin/routing", headers=ADMIN).json()
    assert listing[0]["generation"] == 5 and listing[0]["stickyBy"] == "x-user-id"
    assert httpx.delete(f"{running.url}/admin/routing/{MODEL}", headers=ADMIN).status_code == 200
    assert running.gateway.tables == {}

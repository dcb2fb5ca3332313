"""Every kind of bad input gets a clear answer naming the problem, and the process lives on."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from gateway_helpers import ADMIN, MODEL, RunningGateway, put_table, serve_gateway

from modelrollout_inference.settings import GatewaySettings

ROW = [0.0] * 39


def _json_input(**overrides: object) -> dict[str, object]:
    tensor: dict[str, object] = {
        "name": "features",
        "datatype": "FP32",
        "shape": [1, 39],
        "data": ROW,
    }
    tensor.update(overrides)
    return {"inputs": [tensor]}


def _binary(tensor_bytes: bytes, size: int, shape: list[int]) -> tuple[bytes, dict[str, str]]:
    import orjson

    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "features",
                    "datatype": "FP32",
                    "shape": shape,
                    "parameters": {"binary_data_size": size},
                }
            ]
        }
    )
    return header + tensor_bytes, {"inference-header-content-length": str(len(header))}


CASES = [
    ("unknown model", "/v2/models/nope/infer", _json_input(), 404, "unknown model 'nope'"),
    (
        "unknown version",
        f"/v2/models/{MODEL}/versions/9/infer",
        _json_input(),
        404,
        "unknown version '9'",
    ),
    (
        "wrong datatype",
        f"/v2/models/{MODEL}/infer",
        _json_input(datatype="FP64"),
        400,
        "input 'features' has datatype FP64",
    ),
    (
        "wrong shape",
        f"/v2/models/{MODEL}/infer",
        _json_input(shape=[1, 38], data=ROW[:38]),
        400,
        "input 'features' has shape [1, 38]",
    ),
    (
        "data does not fill shape",
        f"/v2/models/{MODEL}/infer",
        _json_input(shape=[2, 39]),
        400,
        "input 'features': data has 39 elements but shape [2, 39] needs 78",
    ),
    (
        "not numbers",
        f"/v2/models/{MODEL}/infer",
        _json_input(data=["x"] * 39),
        400,
        "input 'features': data is not FP32",
    ),
    (
        "missing input",
        f"/v2/models/{MODEL}/infer",
        _json_input(name="other"),
        400,
        "input 'features' is missing",
    ),
    (
        "unknown datatype",
        f"/v2/models/{MODEL}/infer",
        _json_input(datatype="FP8"),
        400,
        "input 'features': unsupported datatype 'FP8'",
    ),
    ("no inputs", f"/v2/models/{MODEL}/infer", {"inputs": []}, 400, "non-empty 'inputs'"),
    (
        "unknown output",
        f"/v2/models/{MODEL}/infer",
        {**_json_input(), "outputs": [{"name": "proba"}]},
        400,
        "output 'proba' is not an output",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_json_requests(
    running: RunningGateway, path: str, body: dict[str, object], status: int, message: str
) -> None:
    response = httpx.post(running.url + path, json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_malformed_json(running: RunningGateway) -> None:
    response = httpx.post(f"{running.url}/v2/models/{MODEL}/infer", content=b"{not json")
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]


def test_binary_size_that_does_not_match_the_shape(running: RunningGateway) -> None:
    data = np.zeros(40, dtype=np.float32).tobytes()
    body, headers = _binary(data, len(data), [1, 39])
    response = httpx.post(f"{running.url}/v2/models/{MODEL}/infer", content=body, headers=headers)
    assert response.status_code == 400
    assert "input 'features': binary_data_size is 160 bytes" in response.json()["error"]


def test_trailing_bytes_after_the_binary_inputs(running: RunningGateway) -> None:
    data = np.zeros(39, dtype=np.float32).tobytes()
    body, headers = _binary(data + b"\0\0\0\0", len(data), [1, 39])
    response = httpx.post(f"{running.url}/v2/models/{MODEL}/infer", content=body, headers=headers)
    assert response.status_code == 400
    assert "4 bytes of binary data" in response.json()["error"]


def test_truncated_binary_input(running: RunningGateway) -> None:
    data = np.zeros(39, dtype=np.float32).tobytes()
    body, headers = _binary(data[:100], len(data), [1, 39])
    response = httpx.post(f"{running.url}/v2/models/{MODEL}/infer", content=body, headers=headers)
    assert response.status_code == 400
    assert "input 'features': needs 156 bytes" in response.json()["error"]


def test_body_over_the_limit(model_repository: object) -> None:
    settings = GatewaySettings(model_repository=model_repository, max_request_bytes=1000)
    with serve_gateway(settings) as running:
        response = httpx.post(
            f"{running.url}/v2/models/{MODEL}/infer",
            json=_json_input(shape=[10, 39], data=ROW * 10),
        )
        assert response.status_code == 413
        assert "exceeds the limit of 1000" in response.json()["error"]


def test_no_ready_backend_is_503_and_the_process_lives(running: RunningGateway) -> None:
    dead = {"kind": "triton", "url": "http://127.0.0.1:9", "modelName": MODEL}
    table = {
        "model": MODEL,
        "generation": 1,
        "versions": [
            {"version": "1", "weight": 50, "role": "baseline", "backend": dead},
            {"version": "2", "weight": 50, "role": "candidate", "backend": dead},
        ],
    }
    assert put_table(running, table).status_code == 200
    response = httpx.post(f"{running.url}/v2/models/{MODEL}/infer", json=_json_input())
    assert response.status_code == 503
    assert "no version of model 'scorer' could answer" in response.json()["error"]
    assert httpx.get(f"{running.url}/v2/health/live").status_code == 200


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"model": MODEL, "versions": [{"version": "1", "weight": 90, "role": "baseline"}]},
            "weights must sum to 100",
        ),
        (
            {"model": MODEL, "versions": [{"version": "1", "weight": 100, "role": "candidate"}]},
            "exactly one version must be the baseline",
        ),
        (
            {"model": "other", "versions": [{"version": "1", "weight": 100, "role": "baseline"}]},
            "table is for model 'other'",
        ),
        (
            {"model": MODEL, "versions": [{"version": "7", "weight": 100, "role": "baseline"}]},
            "version 7 of model 'scorer' is not in the model repository",
        ),
    ],
)
def test_bad_routing_tables_are_refused(
    running: RunningGateway, table: dict[str, object], message: str
) -> None:
    response = httpx.put(f"{running.url}/admin/routing/{MODEL}", json=table, headers=ADMIN)
    assert response.status_code in (400, 404)
    assert message in response.json()["error"]
    assert running.gateway.tables == {}

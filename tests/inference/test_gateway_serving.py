"""tritonclient (HTTP) against the running gateway, embedded ONNX Runtime serving two versions."""

from __future__ import annotations

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as triton_http
from gateway_helpers import (
    MODEL,
    LabelledData,
    RunningGateway,
    metric_value,
    put_table,
    two_version_table,
)


def _direct(repository: object, version: int, features: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(f"{repository}/{MODEL}/{version}/model.onnx")
    return session.run(["score"], {"features": features})[0]


def _infer(
    client: triton_http.InferenceServerClient,
    features: np.ndarray,
    *,
    binary: bool,
    version: str = "",
    headers: dict[str, str] | None = None,
) -> triton_http.InferResult:
    tensor = triton_http.InferInput("features", list(features.shape), "FP32")
    tensor.set_data_from_numpy(features, binary_data=binary)
    output = triton_http.InferRequestedOutput("score", binary_data=binary)
    return client.infer(MODEL, [tensor], model_version=version, outputs=[output], headers=headers)


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_gets_the_models_answer(
    running: RunningGateway, model_repository: object, labelled: LabelledData, binary: bool
) -> None:
    client = triton_http.InferenceServerClient(running.address)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL)
    features = labelled.features[:16]
    for version in ("1", "2"):
        result = _infer(client, features, binary=binary, version=version)
        np.testing.assert_allclose(
            result.as_numpy("score"), _direct(model_repository, int(version), features), rtol=1e-6
        )
        assert result.get_response()["model_version"] == version
    # No version: the highest one answers.
    assert _infer(client, features, binary=binary).get_response()["model_version"] == "2"


def test_default_binary_output_without_requested_outputs(running: RunningGateway) -> None:
    client = triton_http.InferenceServerClient(running.address)
    tensor = triton_http.InferInput("features", [1, 39], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 39), dtype=np.float32))
    result = client.infer(MODEL, [tensor])
    np.testing.assert_allclose(result.as_numpy("score"), [[0.5]])


def test_metadata_matches_the_onnx_model(running: RunningGateway) -> None:
    client = triton_http.InferenceServerClient(running.address)
    metadata = client.get_model_metadata(MODEL)
    assert metadata["versions"] == ["1", "2"]
    assert metadata["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 39]}]
    assert metadata["outputs"] == [{"name": "score", "datatype": "FP32", "shape": [-1, 1]}]


def test_response_names_the_version_and_request_id(running: RunningGateway) -> None:
    body = {
        "id": "req-1",
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 39], "data": [0.0] * 39}],
    }
    response = httpx.post(f"{running.url}/v2/models/{MODEL}/versions/1/infer", json=body)
    assert response.status_code == 200
    assert response.headers["x-model-version"] == "1"
    assert response.headers["x-request-id"] == "req-1"
    assert response.json()["id"] == "req-1"
    generated = httpx.post(
        f"{running.url}/v2/models/{MODEL}/infer", json={"inputs": body["inputs"]}
    )
    assert len(generated.headers["x-request-id"]) == 32


def test_sticky_users_keep_their_version_and_split_follows_weight(
    running: RunningGateway, labelled: LabelledData
) -> None:
    assert put_table(running, two_version_table(25)).status_code == 200
    client = triton_http.InferenceServerClient(running.address, concurrency=1)
    features = labelled.features[:1]
    seen: dict[str, str] = {}
    for user in range(400):
        headers = {"x-user-id": f"user-{user}"}
        first = _infer(client, features, binary=True, headers=headers)
        again = _infer(client, features, binary=True, headers=headers)
        assert first.get_response()["model_version"] == again.get_response()["model_version"]
        seen[f"user-{user}"] = first.get_response()["model_version"]
    share = sum(v == "2" for v in seen.values()) / len(seen)
    assert 0.18 < share < 0.32
    assert (
        metric_value(
            running.url, "modelrollout_traffic_weight", model=MODEL, version="2", route="candidate"
        )
        == 25
    )
    assert metric_value(
        running.url,
        "modelrollout_requests_total",
        model=MODEL,
        version="2",
        route="candidate",
        code="200",
    ) == 2 * sum(v == "2" for v in seen.values())


def test_feedback_counts_correct_per_version(
    running: RunningGateway, labelled: LabelledData
) -> None:
    expected: dict[str, list[bool]] = {"1": [], "2": []}
    feedback = []
    client = httpx.Client(base_url=running.url)
    for i in range(200):
        version = "1" if i % 2 else "2"
        row = labelled.features[i : i + 1]
        body = {
            "id": f"fb-{i}",
            "inputs": [
                {
                    "name": "features",
                    "datatype": "FP32",
                    "shape": [1, 39],
                    "data": row.ravel().tolist(),
                }
            ],
        }
        answer = client.post(f"/v2/models/{MODEL}/versions/{version}/infer", json=body)
        score = answer.json()["outputs"][0]["data"][0]
        expected[version].append((score >= 0.5) == bool(labelled.labels[i]))
        feedback.append({"id": f"fb-{i}", "label": int(labelled.labels[i])})
    feedback.append({"id": "never-seen", "label": 1})
    response = client.post(f"/v2/models/{MODEL}/feedback", json={"feedback": feedback})
    client.close()
    assert response.status_code == 200
    assert response.json()["joined"] == 200
    assert response.json()["dropped"] == {"unknown": 1}
    for version, verdicts in expected.items():
        assert metric_value(
            running.url, "modelrollout_feedback_total", model=MODEL, version=version
        ) == len(verdicts)
        assert metric_value(
            running.url, "modelrollout_feedback_correct_total", model=MODEL, version=version
        ) == sum(verdicts)
    assert sum(expected["1"]) > sum(expected["2"])  # version 2 is the worse model
    assert (
        metric_value(
            running.url, "modelrollout_feedback_dropped_total", model=MODEL, reason="unknown"
        )
        == 1
    )

"""Shadow accuracy: mirrored predictions are logged and joined to the same labels as the routed
ones, per shadow version, in the memory store and in the shared Redis store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from gateway_helpers import (
    MODEL,
    LabelledData,
    metric_value,
    put_table,
    serve_gateway,
    two_version_table,
    version_weights,
)

from modelrollout_inference.settings import GatewaySettings
from tests.support.redis import REDIS_SERVER, running_redis


@pytest.fixture(params=["memory", "redis"])
def store_settings(
    request: pytest.FixtureRequest, model_repository: Path
) -> Iterator[dict[str, object]]:
    if request.param == "memory":
        yield {"model_repository": model_repository}
        return
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    with running_redis() as server:
        yield {
            "model_repository": model_repository,
            "feedback_store": "redis",
            "feedback_redis_url": server.url,
        }


def _correct(version: int, data: LabelledData, rows: slice) -> int:
    scores = 1 / (1 + np.exp(-(data.features[rows] @ version_weights(version))))
    return int(np.sum((scores >= 0.5).astype(np.int64) == data.labels[rows]))


def test_shadow_predictions_are_logged_and_joined_to_the_routed_label_per_shadow_version(
    store_settings: dict[str, object], labelled: LabelledData, tmp_path: Path
) -> None:
    settings = GatewaySettings(**store_settings, prediction_log_dir=tmp_path / "log")  # type: ignore[arg-type]
    n = 200
    with serve_gateway(settings) as running:
        table = two_version_table(0, shadow={"version": "2", "percent": 100})
        assert put_table(running, table).status_code == 200
        with httpx.Client(base_url=running.url, timeout=10) as client:
            for i in range(n):
                body = {
                    "id": f"s-{i}",
                    "inputs": [
                        {
                            "name": "features",
                            "datatype": "FP32",
                            "shape": [1, 39],
                            "data": labelled.features[i].tolist(),
                        }
                    ],
                }
                response = client.post(f"/v2/models/{MODEL}/infer", json=body)
                assert response.headers["x-model-version"] == "1"
            deadline = time.monotonic() + 30
            while metric_value(running.url, "modelrollout_shadow_requests_total") < n:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            labels = [{"id": f"s-{i}", "label": int(labelled.labels[i])} for i in range(n)]
            result = client.post(f"/v2/models/{MODEL}/feedback", json={"feedback": labels}).json()
        assert result["joined"] == n
        value = metric_value
        assert value(running.url, "modelrollout_feedback_total", version="1") == n
        assert value(running.url, "modelrollout_feedback_total", version="2") == 0
        assert value(running.url, "modelrollout_shadow_feedback_total", version="2") == n
        assert value(running.url, "modelrollout_shadow_feedback_correct_total", version="2") == (
            _correct(2, labelled, slice(0, n))
        )
        assert value(running.url, "modelrollout_feedback_correct_total", version="1") == (
            _correct(1, labelled, slice(0, n))
        )
        # Both series exist from the start (at 0), as the routed ones do.
        assert "modelrollout_shadow_feedback_total{" in httpx.get(f"{running.url}/metrics").text
    records = [
        orjson.loads(line)
        for path in sorted((tmp_path / "log").iterdir())
        for line in path.read_bytes().splitlines()
    ]
    shadow = [r for r in records if r["kind"] == "prediction" and r["route"] == "shadow"]
    assert len(shadow) == n and {r["version"] for r in shadow} == {"2"}
    shadow_labels = [r for r in records if r["kind"] == "feedback" and r["route"] == "shadow"]
    assert len(shadow_labels) == n and {r["version"] for r in shadow_labels} == {"2"}

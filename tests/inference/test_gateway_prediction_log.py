"""The prediction log: rotated JSONL, flushed on shutdown, joined by request id; S3 upload."""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import httpx
import orjson
import pytest
from gateway_helpers import MODEL, LabelledData, serve_gateway

from modelrollout_inference.logging.records import timestamp
from modelrollout_inference.logging.writer import CURRENT, PredictionLogWriter
from modelrollout_inference.settings import GatewaySettings

CLOSED = re.compile(r"^predictions-\d{8}T\d{12}Z-\d+\.jsonl$")


def _records(directory: Path) -> list[dict[str, object]]:
    return [
        orjson.loads(line)
        for path in sorted(directory.iterdir())
        for line in path.read_bytes().splitlines()
    ]


def test_predictions_and_labels_are_logged_rotated_and_flushed(
    tmp_path: Path, model_repository: Path, labelled: LabelledData
) -> None:
    directory = tmp_path / "log"
    settings = GatewaySettings(
        model_repository=model_repository,
        prediction_log_dir=directory,
        prediction_log_max_bytes=4000,
    )
    with serve_gateway(settings) as running:
        for i in range(20):
            row = labelled.features[i : i + 1]
            body = {
                "id": f"r{i}",
                "inputs": [
                    {
                        "name": "features",
                        "datatype": "FP32",
                        "shape": [1, 39],
                        "data": row.ravel().tolist(),
                    }
                ],
            }
            assert (
                httpx.post(
                    f"{running.url}/v2/models/{MODEL}/versions/1/infer", json=body
                ).status_code
                == 200
            )
        feedback = [{"id": f"r{i}", "label": int(labelled.labels[i])} for i in range(0, 20, 2)]
        assert (
            httpx.post(f"{running.url}/v2/models/{MODEL}/feedback", json=feedback).json()["joined"]
            == 10
        )
    names = sorted(p.name for p in directory.iterdir())
    assert CURRENT not in names  # closed on shutdown
    assert len(names) > 1 and all(CLOSED.match(n) for n in names), names  # rotated by size
    records = _records(directory)
    predictions = {r["requestId"]: r for r in records if r["kind"] == "prediction"}
    labels = [r for r in records if r["kind"] == "feedback"]
    assert len(predictions) == 20 and len(labels) == 10
    first = predictions["r0"]
    assert first["version"] == "1" and first["route"] == "stable" and first["model"] == MODEL
    assert (
        first["inputs"]["features"][0][:3]
        == pytest.approx(  # type: ignore[index]
            labelled.features[0, :3].tolist()
        )
    )
    score = first["outputs"]["score"][0][0]  # type: ignore[index]
    label = next(r for r in labels if r["requestId"] == "r0")
    assert label["correct"] == ((score >= 0.5) == bool(labelled.labels[0]))
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", str(first["time"]))


def test_closed_files_are_uploaded_to_s3(tmp_path: Path, s3: str) -> None:
    writer = PredictionLogWriter(tmp_path, max_bytes=200, s3_uri="s3://logs/gateway/a")
    writer.start()
    for i in range(10):
        writer.submit(lambda i=i: {"kind": "prediction", "requestId": str(i), "pad": "x" * 50})
    writer.close()
    keys = sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="logs")["Contents"])
    assert keys == sorted(f"gateway/a/{p.name}" for p in tmp_path.iterdir())
    assert len(keys) >= 3


def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    dropped = []
    writer = PredictionLogWriter(
        tmp_path, max_bytes=10_000, queue_size=2, on_drop=lambda: dropped.append(1)
    )
    # Not started: nothing drains the queue.
    for i in range(5):
        writer.submit(lambda i=i: {"n": i})
    assert len(dropped) == 3


def test_timestamp_format() -> None:
    assert timestamp(0.123) == "1970-01-01T00:00:00.123Z"

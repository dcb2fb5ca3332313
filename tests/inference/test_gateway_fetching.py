"""Artifacts fetched by uri + sha256 (local and S3 through moto); a wrong hash is refused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import httpx
import pytest
from gateway_helpers import ADMIN, MODEL, serve_gateway

from modelrollout_inference.backends.fetching import ArtifactError, fetch_artifact, sha256_of
from modelrollout_inference.cli import build_app
from modelrollout_inference.settings import GatewaySettings


def test_local_artifact_is_verified_and_cached(tmp_path: Path, model_repository: Path) -> None:
    source = model_repository / MODEL / "1" / "model.onnx"
    digest = sha256_of(source)
    cached = fetch_artifact(str(source), digest, tmp_path / "cache")
    assert cached.read_bytes() == source.read_bytes()
    assert fetch_artifact(f"file://{source}", digest, tmp_path / "cache") == cached
    with pytest.raises(ArtifactError, match="refusing it"):
        fetch_artifact(str(source), "0" * 64, tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [f"{digest}.onnx"]


def test_unsupported_scheme(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="unsupported artifact uri scheme 'ftp'"):
        fetch_artifact("ftp://x/y", "0" * 64, tmp_path)


def _artifact_table(uri: str, sha: str, generation: int = 1) -> dict[str, object]:
    return {
        "model": MODEL,
        "generation": generation,
        "versions": [
            {
                "version": "2",
                "weight": 100,
                "role": "baseline",
                "backend": {"kind": "onnxruntime", "uri": uri, "sha256": sha},
            }
        ],
    }


def test_s3_artifact_serves_and_a_wrong_hash_is_refused(
    tmp_path: Path, model_repository: Path, s3: str
) -> None:
    source = model_repository / MODEL / "2" / "model.onnx"
    boto3.client("s3").create_bucket(Bucket="models")
    boto3.client("s3").upload_file(str(source), "models", "repo/scorer/2/model.onnx")
    uri = "s3://models/repo/scorer/2/model.onnx"
    routing = tmp_path / "routing.json"
    routing.write_text(json.dumps(_artifact_table(uri, "ab" * 32)))
    # Tables naming artifacts come from the operator's side (here the routing file).
    settings = GatewaySettings(artifact_cache_dir=tmp_path / "cache", routing_file=routing)
    with serve_gateway(settings, build_app(settings)) as running:
        time.sleep(1.5)
        assert running.gateway.tables == {}  # the wrong hash is refused: nothing serves
        routing.write_text(json.dumps(_artifact_table(uri, sha256_of(source), generation=2)))
        deadline = time.monotonic() + 30
        while MODEL not in running.gateway.tables and time.monotonic() < deadline:
            time.sleep(0.05)
        body = {
            "inputs": [
                {"name": "features", "datatype": "FP32", "shape": [1, 39], "data": [0.0] * 39}
            ]
        }
        answer = httpx.post(f"{running.url}/v2/models/{MODEL}/infer", json=body)
        assert answer.status_code == 200 and answer.headers["x-model-version"] == "2"


@pytest.mark.parametrize("uri", ["/etc/hostname", "file:///etc/hostname", "s3://models/x.onnx"])
def test_admin_api_never_fetches_an_artifact_nor_reveals_a_file(
    tmp_path: Path, model_repository: Path, uri: str
) -> None:
    settings = GatewaySettings(
        model_repository=model_repository, artifact_cache_dir=tmp_path / "cache"
    )
    with serve_gateway(settings) as running:
        refused = httpx.put(
            f"{running.url}/admin/routing/{MODEL}",
            json=_artifact_table(uri, "ab" * 32),
            headers=ADMIN,
        )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert "does not fetch artifacts" in error
    assert sha256_of(Path("/etc/hostname")) not in error
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
    assert running.gateway.tables == {}

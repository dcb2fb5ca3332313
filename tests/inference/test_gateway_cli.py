"""The `modelrollout-gateway` command: settings from flags and environment, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelrollout_inference.cli import build_app, main
from modelrollout_inference.settings import GatewaySettings


def test_invalid_settings_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "70000"]) == 2
    assert "port" in capsys.readouterr().err


def test_environment_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELROLLOUT_GATEWAY_MODEL_REPOSITORY", str(tmp_path))
    monkeypatch.setenv("MODELROLLOUT_GATEWAY_FEEDBACK_TTL_SECONDS", "60")
    settings = GatewaySettings()
    assert settings.model_repository == tmp_path and settings.feedback_ttl_seconds == 60


def test_build_app_wires_background_sources(tmp_path: Path) -> None:
    app = build_app(
        GatewaySettings(
            routing_file=tmp_path / "r.json",
            watch_configmaps=True,
            kube_api_url="http://127.0.0.1:1",
        )
    )
    assert len(app._background) == 2
    assert len(build_app(GatewaySettings())._background) == 0


def _model_file(model_repository: Path) -> Path:
    return next(model_repository.glob("*/1/model.onnx"))


def test_single_version_from_an_artifact_serves_it(model_repository: Path, tmp_path: Path) -> None:
    import hashlib

    import httpx
    from gateway_helpers import serve_gateway

    from modelrollout_inference.serving.single import prepare_single_version

    artifact = _model_file(model_repository)
    settings = prepare_single_version(GatewaySettings(
        model="scorer", version=7, artifact_uri=str(artifact),
        artifact_sha256=hashlib.sha256(artifact.read_bytes()).hexdigest(),
        artifact_cache_dir=tmp_path / "cache",
    ))  # fmt: skip
    assert settings.model_repository == tmp_path / "cache" / "repository"
    with serve_gateway(settings) as running:
        ready = httpx.get(f"{running.url}/v2/models/scorer/versions/7/ready")
        assert ready.status_code == 200
        missing = httpx.get(f"{running.url}/v2/models/scorer/versions/1/ready")
        assert missing.status_code == 404


def test_single_version_refuses_a_wrong_hash(
    model_repository: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main([
        "serve", "--model", "scorer", "--version", "1",
        "--artifact-uri", str(_model_file(model_repository)), "--artifact-sha256", "0" * 64,
    ])  # fmt: skip
    assert rc == 2
    assert "expected 000" in capsys.readouterr().err


def test_single_version_names_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--model", "scorer", "--version", "1"]) == 2
    err = capsys.readouterr().err
    assert "--artifact-uri" in err and "--artifact-sha256" in err

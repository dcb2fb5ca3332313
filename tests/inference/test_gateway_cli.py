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
    app = build_app(GatewaySettings(routing_file=tmp_path / "r.json", watch_configmaps=True,
                                    kube_api_url="http://127.0.0.1:1"))
    assert len(app._background) == 2
    assert len(build_app(GatewaySettings())._background) == 0

"""Fixtures for the chart tests: the real helm binary and rendering helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from chart_helpers import find_helm, template_args

Helm = Callable[..., subprocess.CompletedProcess[str]]
Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def helm(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., subprocess.CompletedProcess[str]]:
    binary = find_helm()
    if binary is None:
        pytest.skip(
            "helm not found: set MODELROLLOUT_HELM, run tools/fetch_k8s_tools.sh, or put helm on PATH"
        )
    home = tmp_path_factory.mktemp("helm-home")
    # Offline and isolated from the user's repositories and plugins.
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *args], capture_output=True, text=True, env=env, check=False, timeout=60
        )

    return run


@pytest.fixture(scope="session")
def render(helm: Callable[..., subprocess.CompletedProcess[str]]) -> Render:
    """Render the chart and parse every document; fails with helm's message on error."""

    def run(
        values: Sequence[str] = (), api_versions: Sequence[str] = (), namespace: str = "mr-system"
    ) -> list[dict[str, Any]]:
        proc = helm(*template_args(values, api_versions, namespace))
        assert proc.returncode == 0, proc.stderr
        return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]

    return run

"""Dashboards to JSON, and the drift check between the builders and the committed files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from rollout_dashboards import operator_activity, rollout_health

# file name (in charts/model-rollout/dashboards/) -> builder
DASHBOARDS: dict[str, Callable[[], dashboard_builders.Dashboard]] = {
    "rollout-health.json": rollout_health.build,
    "operator.json": operator_activity.build,
}


def to_dict(board: dashboard_builders.Dashboard) -> dict[str, Any]:
    """The dashboard as plain JSON data, with stable panel ids (the SDK leaves them 0)."""
    data: dict[str, Any] = json.loads(JSONEncoder().encode(board.build()))
    for index, panel in enumerate(data.get("panels", []), start=1):
        panel["id"] = index
    return data


def render(board: dashboard_builders.Dashboard) -> str:
    return json.dumps(to_dict(board), indent=2, sort_keys=True) + "\n"


def render_all() -> dict[str, str]:
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def drifted(directory: Path) -> list[str]:
    """Names of the dashboards whose file in `directory` differs from the builder's output."""
    problems = []
    expected = render_all()
    for name, text in expected.items():
        path = directory / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name}: differs from the builder")
    for path in sorted(directory.glob("*.json")):
        if path.name not in expected:
            problems.append(f"{path.name}: no builder makes it")
    return problems

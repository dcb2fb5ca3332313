"""Alert rules: promtool checks and unit tests, and the chart embeds the very same rules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import CHART, PROMETHEUS_OPERATOR, one

from conftest import Render

RULES = CHART / "files" / "alerts.rules.yaml"
UNIT_TESTS = Path(__file__).resolve().parent / "alerts.test.yaml"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not found (Debian package `prometheus`)"
)


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=60
    )


def _alerts(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in rules["groups"] for rule in group["rules"]]


@needs_promtool
def test_rules_pass_promtool_check() -> None:
    proc = _promtool("check", "rules", str(RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 5 rules found" in proc.stdout


@needs_promtool
def test_rules_pass_their_unit_tests() -> None:
    proc = _promtool("test", "rules", str(UNIT_TESTS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_alert_has_a_unit_test_that_expects_it_to_fire() -> None:
    tests = yaml.safe_load(UNIT_TESTS.read_text())
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    names = {rule["alert"] for rule in _alerts(yaml.safe_load(RULES.read_text()))}
    assert fired == names
    assert quiet == names, "each alert also needs a case where it must stay quiet"


@needs_promtool
@pytest.mark.parametrize(
    "alert",
    [rule["alert"] for rule in _alerts(yaml.safe_load(RULES.read_text()))],
)
def test_unit_tests_catch_an_alert_that_never_fires(alert: str, tmp_path: Path) -> None:
    # Mutation check: the unit tests must fail when one alert's expression can never hold.
    rules = yaml.safe_load(RULES.read_text())
    for rule in _alerts(rules):
        if rule["alert"] == alert:
            rule["expr"] = "vector(1) == 0"
    rules_path = tmp_path / "charts" / "model-rollout" / "files" / "alerts.rules.yaml"
    rules_path.parent.mkdir(parents=True)
    rules_path.write_text(yaml.safe_dump(rules))
    tests_dir = tmp_path / "tests" / "charts"
    tests_dir.mkdir(parents=True)
    shutil.copy(UNIT_TESTS, tests_dir / UNIT_TESTS.name)
    proc = _promtool("test", "rules", UNIT_TESTS.name, cwd=tests_dir)
    assert proc.returncode != 0
    assert f"alertname: {alert}" in proc.stdout + proc.stderr


def test_every_alert_is_documented() -> None:
    for rule in _alerts(yaml.safe_load(RULES.read_text())):
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]


def test_prometheus_rule_embeds_the_rules_file(render: Render) -> None:
    rule = one(render((), PROMETHEUS_OPERATOR), "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]

"""Grafana dashboards: built by the SDK builders, committed as JSON, and every query runs
against a real Prometheus that scrapes every metric of the contract."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from chart_helpers import CHART, ROOT
from contract_exporter import Exporter
from rollout_dashboards import metrics
from rollout_dashboards.promql import Z_95, expand_variables, variables_in
from rollout_dashboards.rendering import DASHBOARDS, drifted, render_all

from modelrollout_operator.metrics.promql import failure_rate_queries
from tests.support.prometheus import PROMETHEUS, PrometheusServer
from tests.support.triton_metrics import TritonMetricsPage

DASHBOARD_DIR = CHART / "dashboards"
CONTRACTS = ROOT / "docs" / "contracts.md"
_LABEL_VALUES = re.compile(r"^label_values\((?P<match>.+),\s*(?P<label>\w+)\)$")

# Values Grafana would substitute; `model` is a concrete pick, the others are `All` (`.*`).
VARIABLE_VALUES = {
    "model": "scorer",
    "experiment": ".*",
    "namespace": ".*",
    "window": "5m",
    "accuracy_bound": "0.85",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
    "datasource": "prometheus",
}


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def _queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expr) for every PromQL expression of a dashboard: panels and annotations."""
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets") or []:
            found.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for annotation in board["annotations"]["list"]:
        if "expr" in annotation:
            found.append((f"annotation {annotation['name']!r}", annotation["expr"]))
    return found


def _variable_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    return [(v["name"], v["query"]) for v in board["templating"]["list"] if v["type"] == "query"]


ALL_QUERIES = [
    pytest.param(expr, id=f"{name}:{where}")
    for name, board in _dashboards().items()
    for where, expr in _queries(board)
]


# --- the committed JSON is what the builders make --------------------------------------


def test_committed_dashboards_match_the_builders() -> None:
    problems = drifted(DASHBOARD_DIR)
    assert not problems, f"{problems}: run `python tools/build_dashboards.py`"


def test_drift_check_notices_an_edit(tmp_path: Path) -> None:
    for name, text in render_all().items():
        (tmp_path / name).write_text(text)
    assert drifted(tmp_path) == []
    board = json.loads((tmp_path / "operator.json").read_text())
    board["panels"][1]["title"] = "edited by hand"
    (tmp_path / "operator.json").write_text(json.dumps(board))
    (tmp_path / "extra.json").write_text("{}")
    assert drifted(tmp_path) == [
        "operator.json: differs from the builder",
        "extra.json: no builder makes it",
    ]


def test_build_script_check_mode(tmp_path: Path) -> None:
    script = ROOT / "tools" / "build_dashboards.py"
    python = ROOT / ".venv" / "bin" / "python"
    run = [str(python if python.exists() else "python3"), str(script), "--output", str(tmp_path)]
    assert subprocess.run([*run, "--check"], capture_output=True, check=False).returncode == 1
    assert subprocess.run(run, capture_output=True, check=False).returncode == 0
    assert subprocess.run([*run, "--check"], capture_output=True, check=False).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DASHBOARDS)


# --- structure ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_structure(name: str) -> None:
    board = _dashboards()[name]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    declared = {v["name"] for v in board["templating"]["list"]}
    for panel in board["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel.get("description"), f"panel {panel['title']!r} needs a description"
            assert panel["targets"], panel["title"]
    for where, expr in _queries(board) + _variable_queries(board):
        undeclared = variables_in(expr) - declared - {"__rate_interval", "__interval", "__range"}
        assert not undeclared, f"{where} uses undeclared variables {undeclared}"
    # no two panels overlap on the grid
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        pos = panel["gridPos"]
        own = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & own, f"panel {panel['title']!r} overlaps another"
        cells |= own


def test_rollout_health_covers_the_issue() -> None:
    board = _dashboards()["rollout-health.json"]
    titles = {panel["title"] for panel in board["panels"]}
    for wanted in (
        "Traffic weight per version",
        "Accuracy per version (95% Wilson interval)",
        "Feedback samples per version",
        "Latency p50 / p95 / p99 per version",
        "Error rate per version",
        "Fallback rate",
        "Shadow accuracy vs served (95% Wilson interval)",
        "Experiment phase",
        "Triton error rate per version",
        "Triton latency per version",
    ):
        assert wanted in titles
    assert {a["name"] for a in board["annotations"]["list"]} == {"Steps", "Promotions", "Rollbacks"}


def test_dashboards_only_use_contract_metrics() -> None:
    contract = CONTRACTS.read_text()
    declared = set(metrics.GATEWAY_METRICS) | set(metrics.OPERATOR_METRICS)
    for name in declared:
        assert f"`{name}`" in contract, f"{name} is not in docs/contracts.md section 1"
    used: set[str] = set()
    for board in _dashboards().values():
        for _, expr in _queries(board) + _variable_queries(board):
            used |= set(re.findall(r"modelrollout_[a-z_]+", expr))
    histogram_series = {
        f"{h}_{s}"
        for h in (metrics.REQUEST_DURATION, metrics.RECONCILE_DURATION)
        for s in ("bucket", "count")
    }
    assert used <= declared | histogram_series, used - declared - histogram_series
    # every contract metric is on a dashboard
    assert {u.removesuffix("_bucket").removesuffix("_count") for u in used} == declared


# --- against a real Prometheus ------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    if PROMETHEUS is None:
        pytest.skip("prometheus not found (Debian package `prometheus`): dashboards not run")
    exporter = Exporter()
    exporter.start()
    # Triton's own page (a Triton pod behind an HTTPRoute), for the Triton row.
    triton = TritonMetricsPage()
    for version in ("1", "2"):
        triton.declare("scorer", version)
    triton.drive("scorer", {"1": (9, 0), "2": (8, 1)})
    server = PrometheusServer([f"127.0.0.1:{exporter.port}", f"127.0.0.1:{triton.start()}"])
    try:
        server.start()
        # ready when rates exist and a step change has been scraped (~7 s)
        deadline = time.monotonic() + 45
        probes = (
            "rate(modelrollout_requests_total[1m])",
            "changes(modelrollout_experiment_step[2m]) > 0",
            "increase(modelrollout_rollbacks_total[2m]) > 0",
            "rate(nv_inference_request_failure[1m]) > 0",
        )
        while True:
            try:
                if all(server.series(p) for p in probes):
                    break
            except httpx.HTTPError:
                pass
            assert server.alive(), "prometheus exited"
            assert time.monotonic() < deadline, "prometheus had no rates after 45 s"
            time.sleep(0.5)
        yield server
    finally:
        server.close()
        exporter.stop()
        triton.stop()


@pytest.mark.prometheus
@pytest.mark.parametrize("expr", ALL_QUERIES)
def test_query_parses_and_returns_series(prometheus: PrometheusServer, expr: str) -> None:
    expanded = expand_variables(expr, VARIABLE_VALUES)
    result = prometheus.series(expanded)
    assert result, f"no series for {expanded}"


@pytest.mark.prometheus
def test_variable_queries_return_values(prometheus: PrometheusServer) -> None:
    for name, board in _dashboards().items():
        for variable, query in _variable_queries(board):
            match = _LABEL_VALUES.match(query)
            assert match, f"{name}: variable {variable} is not a label_values() query: {query}"
            selector = expand_variables(match["match"], VARIABLE_VALUES)
            body = httpx.get(
                f"{prometheus.url}/api/v1/label/{match['label']}/values",
                params={"match[]": selector},
                timeout=10,
            ).json()
            assert body["status"] == "success", body
            assert body["data"], f"{name}: variable {variable} has no values"


@pytest.mark.prometheus
def test_accuracy_interval_matches_the_wilson_formula(prometheus: PrometheusServer) -> None:
    board = _dashboards()["rollout-health.json"]
    (panel,) = [p for p in board["panels"] if p["title"].startswith("Accuracy per version")]
    exprs = {
        t["legendFormat"].split()[-1]: expand_variables(t["expr"], VARIABLE_VALUES)
        for t in panel["targets"]
    }
    at = time.time()
    window = VARIABLE_VALUES["window"]
    n = {
        s["metric"]["version"]: float(s["value"][1])
        for s in prometheus.series(
            f'sum by (model, version) (increase(modelrollout_feedback_total{{model="scorer"}}[{window}]))',
            at,
        )
    }
    c = {
        s["metric"]["version"]: float(s["value"][1])
        for s in prometheus.series(
            f'sum by (model, version) (increase(modelrollout_feedback_correct_total{{model="scorer"}}[{window}]))',
            at,
        )
    }
    assert set(n) == {"1", "2"}
    for end, sign in (("lower", -1), ("upper", 1)):
        got = {
            s["metric"]["version"]: float(s["value"][1]) for s in prometheus.series(exprs[end], at)
        }
        for version, total in n.items():
            p = c[version] / total
            z2 = Z_95**2
            centre = p + z2 / (2 * total)
            spread = Z_95 * (p * (1 - p) / total + z2 / (4 * total**2)) ** 0.5
            expected = (centre + sign * spread) / (1 + z2 / total)
            assert got[version] == pytest.approx(expected, rel=1e-9), (end, version)
    accuracy = {
        s["metric"]["version"]: float(s["value"][1])
        for s in prometheus.series(exprs["accuracy"], at)
    }
    lower = {
        s["metric"]["version"]: float(s["value"][1]) for s in prometheus.series(exprs["lower"], at)
    }
    upper = {
        s["metric"]["version"]: float(s["value"][1]) for s in prometheus.series(exprs["upper"], at)
    }
    for version in n:
        assert 0 <= lower[version] <= accuracy[version] <= upper[version] <= 1


@pytest.mark.prometheus
def test_triton_error_rate_panel_shows_the_share_triton_failed(
    prometheus: PrometheusServer,
) -> None:
    board = _dashboards()["rollout-health.json"]
    (panel,) = [p for p in board["panels"] if p["title"] == "Triton error rate per version"]
    (target,) = panel["targets"]
    got = {
        s["metric"]["version"]: float(s["value"][1])
        for s in prometheus.series(expand_variables(target["expr"], VARIABLE_VALUES))
    }
    # the Triton page answers 9 a tick for v1 (none failed) and 8 + 1 failed for v2
    assert got["1"] == pytest.approx(0.0, abs=1e-12)
    assert got["2"] == pytest.approx(1 / 9, rel=0.05)


@pytest.mark.prometheus
def test_error_and_fallback_rate_panels_count_fallbacks_as_the_analysis_does(
    prometheus: PrometheusServer,
) -> None:
    """The panels show what the errorRate / fallbackRate analysis decides on: a fallback is a
    failure of the version that failed (the operator's own PromQL is the reference)."""
    board = _dashboards()["rollout-health.json"]
    panels = {p["title"]: p for p in board["panels"]}
    at = time.time()
    window = VARIABLE_VALUES["__rate_interval"]
    for title, fallbacks_only in (("Error rate per version", False), ("Fallback rate", True)):
        (target,) = panels[title]["targets"]
        shown = {
            s["metric"]["version"]: float(s["value"][1])
            for s in prometheus.series(expand_variables(target["expr"], VARIABLE_VALUES), at)
        }
        assert set(shown) == {"1", "2"}, title
        for version, value in shown.items():
            reference = failure_rate_queries(
                "scorer", version, window, fallbacks_only=fallbacks_only
            ).value
            assert reference is not None
            (expected,) = prometheus.series(reference, at)
            assert value == pytest.approx(float(expected["value"][1]), rel=1e-9), (title, version)
    # version 2 falls back on every tick: its error rate is more than its 5xx share
    five = prometheus.series(
        'sum(rate(modelrollout_requests_total{model="scorer",version="2",code=~"5.."}[1m]))'
        ' / sum(rate(modelrollout_requests_total{model="scorer",version="2"}[1m]))',
        at,
    )
    (target,) = panels["Error rate per version"]["targets"]
    errors = {
        s["metric"]["version"]: float(s["value"][1])
        for s in prometheus.series(expand_variables(target["expr"], VARIABLE_VALUES), at)
    }
    assert errors["2"] > float(five[0]["value"][1])


@pytest.mark.prometheus
def test_shadow_accuracy_panel_reads_the_shadow_versions_labels(
    prometheus: PrometheusServer,
) -> None:
    board = _dashboards()["rollout-health.json"]
    (panel,) = [p for p in board["panels"] if p["title"].startswith("Shadow accuracy")]
    by_legend = {t["legendFormat"]: t["expr"] for t in panel["targets"]}
    shadow = prometheus.series(
        expand_variables(by_legend["v{{version}} shadow accuracy"], VARIABLE_VALUES)
    )
    assert {s["metric"]["version"] for s in shadow} == {"3"}  # only the shadow version
    assert all(0 <= float(s["value"][1]) <= 1 for s in shadow)
    served = prometheus.series(
        expand_variables(by_legend["v{{version}} served accuracy"], VARIABLE_VALUES)
    )
    assert {s["metric"]["version"] for s in served} == {"1", "2"}

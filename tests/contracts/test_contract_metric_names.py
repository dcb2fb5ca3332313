"""Contract 1: metric names are an interface. Every name a query, dashboard or alert reads is
one the gateway or the operator exports, and docs/contracts.md lists exactly those."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from modelrollout_inference.metrics import GatewayMetrics
from modelrollout_operator.api.v1alpha1 import MetricCheck, MetricKind
from modelrollout_operator.metrics.promql import queries_for
from modelrollout_operator.observability.metrics import OperatorMetrics

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bmodelrollout_[a-z_]+\b")
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("", "_bucket", "_count", "_sum"),
    "gauge": ("",),
}


def _series_names(registry: CollectorRegistry) -> set[str]:
    """The sample names a registry exposes, by family type (labelled families included)."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + s for s in _SUFFIXES.get(family.type, ("",)))
    return names


def _family_names(registry: CollectorRegistry) -> set[str]:
    out: set[str] = set()
    for family in registry.collect():
        out.add(family.name + ("_total" if family.type == "counter" else ""))
    return out


@pytest.fixture(scope="module")
def exported() -> set[str]:
    return _series_names(GatewayMetrics().registry) | _series_names(OperatorMetrics().registry)


def _referenced(text: str) -> set[str]:
    return set(NAME.findall(text))


def test_operator_builtin_queries_read_exported_names(exported: set[str]) -> None:
    checks = [
        MetricCheck(name="accuracy", kind=MetricKind.ACCURACY, max_degradation=0.02),
        MetricCheck(name="errors", kind=MetricKind.ERROR_RATE, max=0.01, max_degradation=0.01),
        MetricCheck(name="fallbacks", kind=MetricKind.FALLBACK_RATE, max_degradation=0.01),
        MetricCheck(name="p99", kind=MetricKind.LATENCY, max=0.05),
    ]
    for check in checks:
        for shadow in (False, True):  # a shadow run's candidate reads its shadow feedback
            q = queries_for(
                check, model="m", version="1", namespace="ns", since_seconds=60, shadow=shadow
            )
            text = " ".join(x for x in (q.value, q.samples, q.successes, q.events, q.trials) if x)
            used = _referenced(text)
            assert used, f"{check.kind} reads no modelrollout_ metric"
            assert used <= exported, f"{check.kind} reads unknown metrics {used - exported}"


@pytest.mark.parametrize(
    "path",
    [
        *sorted((ROOT / "charts/model-rollout/dashboards").glob("*.json")),
        ROOT / "charts/model-rollout/files/alerts.rules.yaml",
    ],
    ids=lambda p: p.name,
)
def test_dashboards_and_alerts_read_exported_names(path: Path, exported: set[str]) -> None:
    used = _referenced(path.read_text())
    assert used, f"{path.name} reads no modelrollout_ metric"
    assert used <= exported, f"{path.name} reads unknown metrics {sorted(used - exported)}"


def test_contracts_doc_lists_exactly_the_exported_families() -> None:
    doc = (ROOT / "docs/contracts.md").read_text()
    section = doc.split("## 1.", 1)[1].split("## 2.", 1)[0]
    rows = "\n".join(line for line in section.splitlines() if line.startswith("| `"))
    documented = _referenced(rows)
    families = _family_names(GatewayMetrics().registry) | _family_names(OperatorMetrics().registry)
    assert documented == families, (
        f"undocumented: {sorted(families - documented)}; "
        f"documented but not exported: {sorted(documented - families)}"
    )

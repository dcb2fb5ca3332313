"""Contract 5: the Triton pod. Every nv_inference_* name the analysis and the dashboards read is
one docs/contracts.md section 5 lists (as Triton's metrics documentation names them), and the
section documents the init container's flags the gateway's parser accepts."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from modelrollout_inference import cli as gateway_cli
from modelrollout_operator.api.v1alpha1 import MetricCheck, MetricKind
from modelrollout_operator.metrics.promql import queries_for

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bnv_inference_[a-z_]+\b")
SUMMARY_SERIES = ("_count", "_sum")


def _section_5() -> str:
    text = (ROOT / "docs" / "contracts.md").read_text()
    return text[text.index("## 5. Triton serving pods") :]


def _documented() -> set[str]:
    rows = re.findall(r"^\| `(nv_inference_[a-z_]+)` \| (\w+) \|", _section_5(), flags=re.M)
    assert rows, "docs/contracts.md section 5 lists no Triton metric"
    names = {name for name, _ in rows}
    names |= {name + s for name, kind in rows if kind == "summary" for s in SUMMARY_SERIES}
    return names


def test_the_triton_queries_read_documented_names_only() -> None:
    read: set[str] = set()
    for check in (
        MetricCheck(name="errors", kind=MetricKind.ERROR_RATE, max=0.01, max_degradation=0.01),
        MetricCheck(name="p99", kind=MetricKind.LATENCY, quantile=0.99, max=0.05),
    ):
        q = queries_for(check, model="m", version="1", namespace="ns", since_seconds=60,
                        triton=True)  # fmt: skip
        for expr in (q.value, q.samples, q.successes, q.events, q.trials):
            read |= set(NAME.findall(expr or ""))
    assert read and read <= _documented(), read - _documented()


def test_the_dashboards_read_documented_triton_names_only() -> None:
    read: set[str] = set()
    for path in (ROOT / "charts" / "model-rollout" / "dashboards").glob("*.json"):
        read |= set(NAME.findall(json.dumps(json.loads(path.read_text()))))
    assert read, "no dashboard shows Triton's metrics"
    assert read <= _documented(), read - _documented()


def test_the_documented_command_line_is_the_parsers() -> None:
    section = _section_5()
    usage = section[section.index("`modelrollout-gateway prepare-triton") :].split("`")[1]
    flags = set(re.findall(r"--[a-z0-9-]+", usage))
    parser = gateway_cli._parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    prepare = commands.choices["prepare-triton"]
    accepted = {o for a in prepare._actions for o in a.option_strings} - {"-h", "--help"}
    assert flags == accepted, flags ^ accepted

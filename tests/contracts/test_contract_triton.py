"""Contract 5: the Triton pod. Every nv_inference_* name the analysis and the dashboards read is
one docs/contracts.md section 5 lists (as Triton's metrics documentation names them), and the
section documents the init container's flags the gateway's parser accepts."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

import httpx
import pytest

from modelrollout_inference import cli as gateway_cli
from modelrollout_inference.preparing import served_versions
from modelrollout_inference.settings import GatewaySettings
from modelrollout_operator.api.v1alpha1 import MetricCheck, MetricKind, ModelVersionSpec
from modelrollout_operator.metrics.promql import queries_for
from modelrollout_operator.resources.manifests import serving_deployment
from modelrollout_trainer.repository import render_config
from tests.inference.gateway_helpers import (
    FEATURES,
    MODEL,
    serve_gateway,
    true_weights,
    write_model,
)

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


@pytest.mark.parametrize("version", range(1, 6))
def test_the_rendered_pod_for_version_n_of_five_loads_only_n(tmp_path: Path, version: int) -> None:
    """Operator side renders, gateway side prepares and (standing in for Triton) serves."""
    repo = tmp_path / "repo"
    hashes = {}
    for v in range(1, 6):
        path = repo / MODEL / str(v) / "model.onnx"
        write_model(path, true_weights(), bias=float(v))
        hashes[v] = hashlib.sha256(path.read_bytes()).hexdigest()
    (repo / MODEL / "config.pbtxt").write_text(render_config(MODEL, FEATURES, 1))
    uri = str(repo / MODEL / str(version) / "model.onnx")
    spec = ModelVersionSpec.model_validate({
        "model": MODEL, "version": version, "artifact": {"uri": uri, "sha256": hashes[version]},
        "serving": {"runtime": "triton", "maxBatchSize": 128,
                    "dynamicBatching": {"maxQueueDelayMicroseconds": 300}},
    })  # fmt: skip
    owner = {"metadata": {"name": f"scorer-v{version}", "namespace": "ml"}}
    pod = serving_deployment(
        owner, spec, uri, hashes[version], triton_image="t", gateway_image="g"
    )["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    (triton,) = pod["containers"]
    mount = next(m["mountPath"] for m in init["volumeMounts"] if m["name"] == "model-repository")
    assert f"--model-repository={mount}" in triton["args"]
    emptydir = tmp_path / "emptydir"
    args = [str(emptydir) if a == mount else a for a in init["args"]]
    assert gateway_cli.main([*args, "--termination-log", str(tmp_path / "absent")]) == 0

    files = sorted(p.relative_to(emptydir).as_posix() for p in emptydir.rglob("*") if p.is_file())
    assert files == [f"{MODEL}/{version}/model.onnx", f"{MODEL}/config.pbtxt"]
    text = (emptydir / MODEL / "config.pbtxt").read_text()
    assert served_versions(text) == [version]
    assert "max_batch_size: 128" in text and "max_queue_delay_microseconds: 300" in text

    with serve_gateway(GatewaySettings(model_repository=emptydir)) as gw, httpx.Client() as http:
        ready = {v: http.get(f"{gw.url}/v2/models/{MODEL}/versions/{v}/ready").status_code
                 for v in range(1, 6)}  # fmt: skip
    assert ready == {v: 200 if v == version else 404 for v in range(1, 6)}

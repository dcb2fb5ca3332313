"""Helpers shared by the chart tests (on sys.path through conftest.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "model-rollout"


def find_helm() -> str | None:
    """MODELROLLOUT_HELM, then .tools/bin/helm (tools/fetch_k8s_tools.sh), then PATH."""
    candidates = [os.environ.get("MODELROLLOUT_HELM"), str(ROOT / ".tools" / "bin" / "helm")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("helm")


def template_args(
    values: Sequence[str] = (), api_versions: Sequence[str] = (), namespace: str = "mr-system"
) -> list[str]:
    args = ["template", "mr", str(CHART), "--namespace", namespace, "--include-crds"]
    for value in values:
        args += ["--set", value]
    for api in api_versions:
        args += ["--api-versions", api]
    return args


# Every optional feature on, as a cluster with the Prometheus Operator would see it.
ALL_FEATURES = (
    "operator.replicas=2",
    "gateway.autoscaling.enabled=true",
    "gateway.service.type=NodePort",
    "gateway.service.nodePort=30080",
    "monitoring.serviceMonitor.labels.release=kube-prometheus-stack",
    "monitoring.prometheusRule.labels.release=kube-prometheus-stack",
    "operator.settings.versionPollInterval=10",
    "imagePullSecrets[0].name=registry",
)
PROMETHEUS_OPERATOR = ("monitoring.coreos.com/v1",)


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str, name_part: str = "") -> dict[str, Any]:
    found = [doc for doc in of_kind(docs, kind) if name_part in doc["metadata"]["name"]]
    assert len(found) == 1, f"expected one {kind} named *{name_part}*, got {len(found)}"
    return found[0]

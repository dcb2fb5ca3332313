"""The chart's Triton values reach the operator, and the operator's Triton pods carry them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from chart_helpers import PROMETHEUS_OPERATOR, of_kind, one

from conftest import Render
from modelrollout_operator.api.v1alpha1 import ModelVersionSpec
from modelrollout_operator.resources.manifests import serving_deployment
from modelrollout_operator.settings import OperatorSettings


def _operator_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    (container,) = one(docs, "Deployment", "operator")["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def _triton_deployment(settings: OperatorSettings) -> dict[str, Any]:
    """The serving Deployment the operator's own code makes for a Triton version."""
    spec = ModelVersionSpec.model_validate(
        {"model": "scorer", "version": 2, "serving": {"runtime": "triton"},
         "artifact": {"uri": "s3://m/repo/scorer/2/model.onnx", "sha256": "c" * 64}}
    )  # fmt: skip
    return serving_deployment(
        {"metadata": {"name": "scorer-v2", "namespace": "ml"}}, spec,
        "s3://m/repo/scorer/2/model.onnx", "c" * 64,
        triton_image=settings.triton_image, gateway_image=settings.gateway_image,
        triton_startup_seconds=settings.triton_startup_seconds,
    )  # fmt: skip


def _triton_pod(settings: OperatorSettings) -> dict[str, Any]:
    pod: dict[str, Any] = _triton_deployment(settings)["spec"]["template"]["spec"]
    return pod


def test_default_triton_is_a_current_release_and_reaches_the_pods(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _operator_env(render(()))
    image = env["MODELROLLOUT_TRITON_IMAGE"]
    match = re.fullmatch(r"nvcr\.io/nvidia/tritonserver:(\d\d)\.(\d\d)-py3", image)
    assert match, image
    assert (int(match[1]), int(match[2])) >= (25, 1), "a 2024 Triton is no longer the default"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = OperatorSettings()
    assert settings.triton_image == image
    assert settings.triton_image == OperatorSettings.model_fields["triton_image"].default
    pod = _triton_pod(settings)
    (triton,) = pod["containers"]
    assert triton["image"] == image
    (init,) = pod["initContainers"]
    assert init["image"] == env["MODELROLLOUT_GATEWAY_IMAGE"]


def test_triton_values_set_the_image_and_the_startup_budget(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _operator_env(
        render(
            (
                "triton.image.repository=registry.local/triton",
                "triton.image.tag=26.09-py3",
                "triton.startupSeconds=1800",
            )
        )
    )
    assert env["MODELROLLOUT_TRITON_IMAGE"] == "registry.local/triton:26.09-py3"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (triton,) = _triton_pod(OperatorSettings())["containers"]
    assert triton["image"] == "registry.local/triton:26.09-py3"
    startup = triton["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1800


@pytest.mark.parametrize(
    ("scope", "namespaces"),
    [(("rbac.scope=cluster",), None), (("rbac.scope=namespace", "rbac.watchNamespaces={ml,b}"),
                                       ["ml", "b"])],
    ids=["cluster", "namespace"],
)  # fmt: skip
def test_a_podmonitor_scrapes_the_triton_pods_the_operator_creates_keeping_their_namespace(
    render: Render, monkeypatch: pytest.MonkeyPatch, scope: tuple[str, ...],
    namespaces: list[str] | None,
) -> None:  # fmt: skip
    docs = render(scope, PROMETHEUS_OPERATOR)
    for key, value in _operator_env(docs).items():
        monkeypatch.setenv(key, value)
    template = _triton_deployment(OperatorSettings())["spec"]["template"]
    (monitor,) = [
        m for m in of_kind(docs, "PodMonitor")
        if m["metadata"]["labels"]["app.kubernetes.io/component"] == "triton"
    ]  # fmt: skip
    spec_ = monitor["spec"]
    # It selects the pods the operator's own code creates, on the port Triton's metrics use.
    assert spec_["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    (endpoint,) = spec_["podMetricsEndpoints"]
    (triton,) = template["spec"]["containers"]
    metrics_port = next(p for p in triton["ports"] if p["name"] == endpoint["port"])
    assert (
        str(metrics_port["containerPort"])
        == template["metadata"]["annotations"]["prometheus.io/port"]
    )
    # The pod's namespace stays the series' `namespace` (Triton exports none), and the
    # analysis filters by it (tests/operator/metrics/test_metrics_triton.py).
    assert endpoint.get("honorLabels") is not True
    if namespaces is None:
        assert spec_["namespaceSelector"] == {"any": True}
    else:
        assert spec_["namespaceSelector"] == {"matchNames": namespaces}
    off = render((*scope, "monitoring.tritonPodMonitor.enabled=false"), PROMETHEUS_OPERATOR)
    assert all(
        m["metadata"]["labels"]["app.kubernetes.io/component"] != "triton"
        for m in of_kind(off, "PodMonitor")
    )

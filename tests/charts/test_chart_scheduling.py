"""The chart's `workloads.scheduling` reaches the operator's pods; a GPU pod tolerates GPU nodes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from chart_helpers import one, template_args

from conftest import Render
from modelrollout_operator.api.v1alpha1 import ModelVersionSpec
from modelrollout_operator.resources.manifests import serving_deployment
from modelrollout_operator.settings import OperatorSettings


def _settings(docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> OperatorSettings:
    (container,) = one(docs, "Deployment", "operator")["spec"]["template"]["spec"]["containers"]
    for env in container["env"]:
        if "value" in env:
            monkeypatch.setenv(env["name"], env["value"])
    return OperatorSettings()


def test_chart_scheduling_defaults_reach_a_gpu_serving_pod(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(
        render(
            (
                "workloads.scheduling.nodeSelector.pool=gpu",
                "workloads.scheduling.priorityClassName=ml-serving",
            )
        ),
        monkeypatch,
    )
    spec = ModelVersionSpec.model_validate(
        {"model": "scorer", "version": 2, "serving": {"runtime": "triton", "gpus": 1},
         "artifact": {"uri": "s3://m/repo/scorer/2/model.onnx", "sha256": "c" * 64}}
    )  # fmt: skip
    pod = serving_deployment(
        {"metadata": {"name": "scorer-v2", "namespace": "ml"}}, spec,
        "s3://m/repo/scorer/2/model.onnx", "c" * 64,
        triton_image="t:1", gateway_image="g:1", workloads=settings.workloads,
    )["spec"]["template"]["spec"]  # fmt: skip
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert pod["priorityClassName"] == "ml-serving"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]


def test_a_misspelt_scheduling_key_fails_the_install(
    helm: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    proc = helm(*template_args(("workloads.scheduling.nodeSelectr.pool=gpu",), (), "mr-system"))
    assert proc.returncode != 0 and "nodeSelectr" in proc.stderr

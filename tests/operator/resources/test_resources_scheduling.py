"""Placement of the operator's pods: GPU pods land on GPU nodes, the chart's defaults apply."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from modelrollout_operator.api.v1alpha1 import ModelVersionSpec
from modelrollout_operator.api.v1alpha1.scheduling import Scheduling
from modelrollout_operator.resources.manifests import serving_deployment, training_job
from modelrollout_operator.resources.scheduling import GPU_TOLERATION, placed
from modelrollout_operator.settings import WorkloadSettings

SHA = "a" * 64
OWNER = {"apiVersion": "modelrollout.dev/v1alpha1", "kind": "ModelVersion",
         "metadata": {"name": "scorer-v2", "namespace": "ml", "uid": "u-1"}}  # fmt: skip
GPU_NODES = {"nodeSelector": {"nvidia.com/gpu.present": "true"},
             "priorityClassName": "ml-serving"}  # fmt: skip


def gpu_spec(*, trained: bool = False, **serving: Any) -> ModelVersionSpec:
    made: dict[str, Any] = (
        {"training": {"image": "trainer:1", "dataset": "s3://d/x.csv",
                      "output": "s3://models/repo", "resources": {"gpus": 1},
                      "scheduling": GPU_NODES}}
        if trained
        else {"artifact": {"uri": "s3://models/repo/scorer/2/model.onnx", "sha256": SHA}}
    )  # fmt: skip
    return ModelVersionSpec.model_validate(
        {"model": "scorer", "version": 2, **made,
         "serving": {"runtime": "triton", "gpus": 1, "scheduling": GPU_NODES, **serving}}
    )  # fmt: skip


def serving_pod(spec: ModelVersionSpec, workloads: WorkloadSettings | None = None) -> Any:
    deployment = serving_deployment(OWNER, spec, "s3://models/repo/scorer/2/model.onnx", SHA,
                                    triton_image="triton:1", gateway_image="gw:1",
                                    workloads=workloads)  # fmt: skip
    return deployment["spec"]["template"]["spec"]


def test_a_gpu_modelversions_pods_carry_the_gpu_toleration_and_its_selectors() -> None:
    job_pod = training_job(OWNER, gpu_spec(trained=True))["spec"]["template"]["spec"]
    for pod in (job_pod, serving_pod(gpu_spec())):
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert pod["priorityClassName"] == "ml-serving"
        assert GPU_TOLERATION in pod["tolerations"]


def test_cpu_pods_get_no_gpu_toleration_and_the_chart_defaults_fill_in() -> None:
    chart = WorkloadSettings(scheduling={
        "nodeSelector": {"pool": "ml"},
        "tolerations": [{"key": "team", "operator": "Equal", "value": "ml",
                         "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
    })  # fmt: skip
    spec = ModelVersionSpec.model_validate({
        "model": "scorer", "version": 2,
        "artifact": {"uri": "s3://models/repo/scorer/2/model.onnx", "sha256": SHA},
        "serving": {"cpu": "2", "memory": "1Gi", "scheduling": {"nodeSelector": {"pool": "cpu"}}},
    })  # fmt: skip
    pod = serving_pod(spec, chart)
    assert pod["nodeSelector"] == {"pool": "cpu"}  # the ModelVersion's own wins
    assert pod["tolerations"] == [{"key": "team", "operator": "Equal", "value": "ml",
                                   "effect": "NoSchedule"}]  # fmt: skip
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["a", "b"]
    (container,) = pod["containers"]
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "1Gi"}
    assert container["resources"]["limits"] == {"memory": "1Gi"}


def test_the_gpu_toleration_can_be_turned_off_and_is_never_doubled() -> None:
    off = serving_pod(gpu_spec(scheduling={"gpuToleration": False}))
    assert "tolerations" not in off
    everything = {"tolerations": [{"operator": "Exists"}]}  # tolerates every taint already
    pod = serving_pod(gpu_spec(scheduling=everything))
    assert pod["tolerations"] == [{"operator": "Exists"}]


def test_bad_placement_is_refused_by_the_api() -> None:
    with pytest.raises(ValidationError, match="nodeSelector key"):
        Scheduling.model_validate({"nodeSelector": {"bad key!": "x"}})
    with pytest.raises(ValidationError):
        Scheduling.model_validate({"tolerations": [{"operator": "Sometimes"}]})


@given(st.integers(min_value=0, max_value=4), st.booleans(), st.booleans())
def test_gpu_toleration_appears_exactly_when_gpus_are_asked_and_allowed(
    gpus: int, own: bool, chart: bool
) -> None:
    pod = placed({"containers": []}, Scheduling(gpu_toleration=own),
                 Scheduling(gpu_toleration=chart), gpus=gpus)  # fmt: skip
    assert (GPU_TOLERATION in pod.get("tolerations", [])) == (gpus > 0 and own and chart)
    assert pod.get("tolerations", []).count(GPU_TOLERATION) <= 1


def test_a_versions_serving_replicas_are_spread_over_nodes_and_zones_without_blocking() -> None:
    deployment = serving_deployment(OWNER, gpu_spec(replicas=3),
                                    "s3://models/repo/scorer/2/model.onnx", SHA,
                                    triton_image="triton:1", gateway_image="gw:1")  # fmt: skip
    pod = deployment["spec"]["template"]
    constraints = pod["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in constraints} == {
        "kubernetes.io/hostname", "topology.kubernetes.io/zone"}  # fmt: skip
    for constraint in constraints:
        # soft: a one-node cluster or a one-node GPU pool still schedules every replica
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway" and constraint["maxSkew"] == 1
        # it counts this version's replicas (those the Deployment selects), nobody else's
        selector = constraint["labelSelector"]["matchLabels"]
        assert selector == deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod["metadata"]["labels"].items()
        assert constraint["matchLabelKeys"] == ["pod-template-hash"]

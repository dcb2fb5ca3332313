"""Every pod the operator creates meets Pod Security "restricted" and carries the chart's settings.

The field checks are those of the restricted profile (tests/support/inpod/podsecurity.py,
also used by the in-pod API front's admission), plus what "restricted" leaves optional but
the product promises: a read-only root filesystem with a writable emptyDir at /tmp.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrollout_operator.api.v1alpha1 import ModelVersionSpec
from modelrollout_operator.resources.manifests import serving_deployment, training_job
from modelrollout_operator.resources.workloads import restricted_pod_spec
from modelrollout_operator.settings import OperatorSettings, WorkloadSettings
from tests.support.inpod.podsecurity import pod_spec_of, violations

SHA = "a" * 64
URI = "s3://models/repo/scorer/2/model.onnx"


def _owner() -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": "scorer-v2", "namespace": "ml", "uid": "u-1"},
    }


def _spec(runtime: str = "onnxruntime", gpus: int = 0, **training: Any) -> ModelVersionSpec:
    return ModelVersionSpec.model_validate(
        {
            "model": "scorer",
            "version": 2,
            "training": {
                "image": "trainer:1",
                "dataset": "s3://data/scores.parquet",
                "output": "s3://models/repo",
                **training,
            },
            "serving": {"runtime": runtime, "gpus": gpus, "credentialsSecret": "s3-creds"},
        }
    )


def created_objects(workloads: WorkloadSettings | None = None) -> dict[str, dict[str, Any]]:
    """Every object with a pod template the operator creates, by what it is."""
    w = workloads or WorkloadSettings()
    deploy: dict[str, Any] = {"triton_image": "triton:26", "gateway_image": "gw:1", "workloads": w}
    return {
        "training Job": training_job(_owner(), _spec(), workloads=w),
        "training Job with its ServiceAccount": training_job(
            _owner(), _spec(serviceAccountName="data-reader"), workloads=w
        ),
        "ONNX Runtime Deployment": serving_deployment(_owner(), _spec(), URI, SHA, **deploy),
        "Triton Deployment": serving_deployment(_owner(), _spec("triton"), URI, SHA, **deploy),
        "Triton GPU Deployment": serving_deployment(
            _owner(), _spec("triton", gpus=1), URI, SHA, **deploy
        ),
    }


def _all_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod.get("initContainers") or []) + list(pod["containers"])


def _writable_tmp(pod: dict[str, Any]) -> list[str]:
    """Containers whose root filesystem is writable or that have no emptyDir at /tmp."""
    empty_dirs = {v["name"] for v in pod.get("volumes") or [] if "emptyDir" in v}
    problems = []
    for c in _all_containers(pod):
        if c.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
            problems.append(f"{c['name']}: root filesystem not read-only")
        tmp = [m for m in c.get("volumeMounts") or [] if m["mountPath"] == "/tmp"]
        if not tmp or tmp[0]["name"] not in empty_dirs:
            problems.append(f"{c['name']}: no emptyDir at /tmp")
    return problems


@pytest.mark.parametrize("what", list(created_objects()))
def test_every_created_pod_meets_pod_security_restricted(what: str) -> None:
    obj = created_objects()[what]
    pod = pod_spec_of(obj)
    assert pod is not None
    assert violations(pod) == [], what
    assert _writable_tmp(dict(pod)) == [], what
    for c in _all_containers(dict(pod)):
        assert {"cpu", "memory"} <= set(c["resources"].get("requests", {})), (what, c["name"])


def test_removing_the_security_context_is_caught_by_the_checks() -> None:
    """The checks can fail: the same pod without what restricted_pod_spec adds is refused."""
    pod = dict(pod_spec_of(created_objects()["Triton Deployment"]) or {})
    stripped = {**pod, "securityContext": {}}
    stripped["containers"] = [
        {k: v for k, v in c.items() if k != "securityContext"} for c in pod["containers"]
    ]
    found = " ".join(violations(stripped))
    assert "allowPrivilegeEscalation" in found and "seccompProfile" in found
    assert "runAsNonRoot" in found and "capabilities" in found


def test_chart_settings_reach_every_pod() -> None:
    workloads = WorkloadSettings.model_validate(
        {
            "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 2000, "runAsGroup": 3000},
            "imagePullSecrets": [{"name": "registry"}],
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
            "scratchSizeLimit": "3Gi",
        }
    )
    for what, obj in created_objects(workloads).items():
        pod = pod_spec_of(obj)
        assert pod is not None
        assert pod["imagePullSecrets"] == [{"name": "registry"}], what
        assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
            2000,
            3000,
        )
        tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
        assert tmp["emptyDir"]["sizeLimit"] == "3Gi"
    job_pod = pod_spec_of(created_objects(workloads)["training Job"])
    assert job_pod is not None
    # The spec's own requests win; defaults fill only what a container leaves out.
    assert job_pod["containers"][0]["resources"]["requests"]["cpu"] != "50m"
    onnx = pod_spec_of(created_objects(workloads)["ONNX Runtime Deployment"])
    assert onnx is not None
    assert onnx["containers"][0]["resources"]["requests"] == {"cpu": "50m", "memory": "128Mi"}


def test_training_runs_as_the_chosen_service_account_and_serving_has_no_token() -> None:
    objects = created_objects()
    chosen = pod_spec_of(objects["training Job with its ServiceAccount"])
    assert chosen is not None and chosen["serviceAccountName"] == "data-reader"
    assert "automountServiceAccountToken" not in chosen
    for what in ("training Job", "ONNX Runtime Deployment", "Triton Deployment"):
        pod = pod_spec_of(objects[what])
        assert pod is not None
        assert pod["automountServiceAccountToken"] is False, what
        assert "serviceAccountName" not in pod, what


def test_workload_settings_come_from_the_chart_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MODELROLLOUT_WORKLOADS",
        '{"imagePullSecrets": [{"name": "r"}], "resources": {"requests": {"cpu": "1"}}}',
    )
    workloads = OperatorSettings().workloads
    assert workloads.image_pull_secrets == [{"name": "r"}]
    assert workloads.resources == {"requests": {"cpu": "1"}}


_context_values = st.one_of(st.booleans(), st.integers(0, 70000), st.sampled_from(["x", ""]))
_weakening = st.fixed_dictionaries(
    {},
    optional={
        "runAsNonRoot": st.booleans(),
        "runAsUser": st.integers(0, 70000),
        "privileged": st.booleans(),
        "allowPrivilegeEscalation": st.booleans(),
        "readOnlyRootFilesystem": st.booleans(),
        "capabilities": st.fixed_dictionaries(
            {}, optional={"add": st.lists(st.sampled_from(["SYS_ADMIN", "NET_RAW"]))}
        ),
        "seccompProfile": st.sampled_from([{"type": "Unconfined"}, {"type": "RuntimeDefault"}]),
    },
)


@settings(max_examples=60, deadline=None)
@given(pod_context=_weakening, container_context=_weakening)
def test_no_settings_can_weaken_restricted(
    pod_context: dict[str, Any], container_context: dict[str, Any]
) -> None:
    workloads = WorkloadSettings(
        pod_security_context={k: v for k, v in pod_context.items() if k != "privileged"},
        container_security_context=container_context,
    )
    pod = restricted_pod_spec(
        {"containers": [{"name": "c", "image": "i"}]}, workloads, service_account=None
    )
    assert violations(pod) == []
    assert _writable_tmp(pod) == []

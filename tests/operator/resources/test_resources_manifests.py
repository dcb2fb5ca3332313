"""Manifest builders: training Job, serving Deployment and Service."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.api.v1alpha1 import ModelVersionSpec
from modelrollout_operator.resources.manifests import (
    model_repository,
    serving_deployment,
    serving_service,
    training_job,
)
from modelrollout_operator.resources.naming import job_name, serving_name
from modelrollout_operator.resources.training import trainer_args

SHA = "a" * 64


def owner(name: str = "scorer-v2") -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": name, "namespace": "ml", "uid": "u-1"},
    }


def trained_spec(**training: Any) -> ModelVersionSpec:
    return ModelVersionSpec.model_validate(
        {
            "model": "scorer",
            "version": 2,
            "training": {
                "image": "trainer:1",
                "dataset": "s3://data/scores.parquet",
                "output": "s3://models/repo",
                "acceptance": {"minAccuracy": 0.85},
                "credentialsSecret": "s3-creds",
                **training,
            },
        }
    )


def test_training_job_carries_deadline_retries_owner_and_credentials() -> None:
    job = training_job(owner(), trained_spec(deadline="1h30m", retries=4))
    assert job["metadata"]["name"] == job_name("scorer-v2") == "scorer-v2-train"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert job["spec"]["activeDeadlineSeconds"] == 5400
    assert job["spec"]["backoffLimit"] == 4
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert rules[0]["onExitCodes"]["values"] == [2, 3, 4]


def test_training_job_requests_gpus_when_asked() -> None:
    job = training_job(owner(), trained_spec(resources={"gpus": 2}))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert container["args"][container["args"].index("--device") + 1] == "cuda"


def test_trainer_args_follow_the_contract() -> None:
    spec = trained_spec(hyperparameters={"hidden": [32, 16], "epochs": 7})
    assert spec.training is not None
    args = trainer_args(spec, spec.training)
    assert args[0] == "train"
    pairs = dict(zip(args[1::2], args[2::2], strict=True))
    assert pairs["--dataset"] == "s3://data/scores.parquet"
    assert pairs["--model"] == "scorer"
    assert pairs["--version"] == "2"
    assert pairs["--output"] == "s3://models/repo"
    assert pairs["--hidden"] == "32,16"
    assert pairs["--epochs"] == "7"
    assert pairs["--min-accuracy"] == "0.85"
    assert "--min-roc-auc" not in pairs


def served_spec(runtime: str, gpus: int = 0) -> ModelVersionSpec:
    return ModelVersionSpec.model_validate(
        {
            "model": "scorer",
            "version": 2,
            "artifact": {"uri": "s3://models/repo/scorer/2/model.onnx", "sha256": SHA},
            "serving": {"runtime": runtime, "gpus": gpus, "replicas": 3,
                        "credentialsSecret": "s3-creds"},
        }
    )  # fmt: skip


def test_triton_pod_serves_only_its_version_from_a_verified_one_version_repository() -> None:
    spec = served_spec("triton", gpus=1)
    dep = serving_deployment(
        owner(), spec, "s3://models/repo/scorer/2/model.onnx", SHA,
        triton_image="triton:24", gateway_image="gw:1", triton_startup_seconds=900,
    )  # fmt: skip
    assert dep["metadata"]["name"] == serving_name("scorer-v2")
    assert dep["spec"]["replicas"] == 3
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    (init,) = pod["initContainers"]
    assert c["image"] == "triton:24"
    # Triton reads the emptyDir its init container wrote, never the shared repository.
    assert "--model-repository=/models" in c["args"]
    assert not [a for a in c["args"] if "s3://" in a]
    assert "--model-control-mode=none" in c["args"]
    assert "--disable-auto-complete-config" in c["args"]
    assert {"--allow-metrics=true", "--metrics-port=8002"} <= set(c["args"])
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/models/scorer/versions/2/ready"
    startup = c["startupProbe"]
    assert startup["httpGet"]["path"] == "/v2/models/scorer/versions/2/ready"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 900
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {p["containerPort"] for p in c["ports"]} == {8000, 8001, 8002}
    # Only the init container reads the bucket, so only it gets the credentials.
    assert "envFrom" not in c
    assert init["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert init["image"] == "gw:1" and init["command"] == ["modelrollout-gateway"]
    args = init["args"]
    pairs = dict(zip(args[1::2], args[2::2], strict=False))
    assert args[0] == "prepare-triton"
    assert pairs["--artifact-uri"] == "s3://models/repo/scorer/2/model.onnx"
    assert pairs["--artifact-sha256"] == SHA
    assert pairs["--config-uri"] == "s3://models/repo/scorer/config.pbtxt"
    assert init["terminationMessagePolicy"] == "FallbackToLogsOnError"
    volume = next(v for v in pod["volumes"] if v["name"] == "model-repository")
    assert volume == {"name": "model-repository", "emptyDir": {}}
    # Besides the repository, each container writes only its /tmp emptyDir (test_k8s_workloads).
    assert init["volumeMounts"][0] == {"name": "model-repository", "mountPath": "/models"}
    assert c["volumeMounts"][0] == {
        "name": "model-repository",
        "mountPath": "/models",
        "readOnly": True,
    }
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/models", "/tmp"}
    selector = dep["spec"]["selector"]["matchLabels"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()


def test_triton_init_container_carries_the_versions_batching() -> None:
    spec = ModelVersionSpec.model_validate(
        {
            "model": "scorer", "version": 4,
            "artifact": {"uri": "/repo/scorer/4/model.onnx", "sha256": SHA},
            "serving": {"runtime": "triton", "maxBatchSize": 256,
                        "dynamicBatching": {"enabled": False}},
        }
    )  # fmt: skip
    dep = serving_deployment(
        owner(), spec, "/repo/scorer/4/model.onnx", SHA, triton_image="t", gateway_image="g"
    )
    (init,) = dep["spec"]["template"]["spec"]["initContainers"]
    assert "--no-dynamic-batching" in init["args"]
    assert init["args"][init["args"].index("--max-batch-size") + 1] == "256"
    assert init["args"][init["args"].index("--config-uri") + 1] == "/repo/scorer/config.pbtxt"
    assert "envFrom" not in init


def test_onnxruntime_deployment_fetches_the_artifact_by_uri_and_hash() -> None:
    spec = served_spec("onnxruntime")
    dep = serving_deployment(
        owner(), spec, "s3://models/repo/scorer/2/model.onnx", SHA,
        triton_image="triton:24", gateway_image="gw:1", replicas=0,
    )  # fmt: skip
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "gw:1"
    assert c["args"][0] == "serve"
    assert SHA in c["args"]
    assert dep["spec"]["replicas"] == 0
    assert "nvidia.com/gpu" not in str(c)


def test_service_selects_the_deployments_pods() -> None:
    spec = served_spec("triton")
    svc = serving_service(owner(), spec)
    dep = serving_deployment(
        owner(), spec, "s3://models/repo/scorer/2/model.onnx", SHA,
        triton_image="t", gateway_image="g",
    )  # fmt: skip
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert svc["metadata"]["name"] == dep["metadata"]["name"]


def test_model_repository_refuses_other_layouts() -> None:
    assert model_repository("s3://b/p/scorer/2/model.onnx", "scorer", 2) == "s3://b/p"
    with pytest.raises(ValueError, match="model-repository layout"):
        model_repository("s3://b/p/scorer.onnx", "scorer", 2)


@given(st.from_regex(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True))
def test_owned_names_are_valid_and_distinct(name: str) -> None:
    j, s = job_name(name), serving_name(name)
    assert len(j) <= 63 and len(s) <= 63
    assert j != s
    assert job_name(name) == j  # stable: a restart finds the same Job

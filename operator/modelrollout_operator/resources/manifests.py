"""Pure builders of the objects a ModelVersion owns: training Job, serving Deployment + Service.

No I/O: each returns the manifest as a dict, so tests compare them and the client creates them.
"""

from __future__ import annotations

from typing import Any

from ..api.v1alpha1 import ModelVersionSpec, Runtime, parse_duration
from ..api.v1alpha1.scheduling import Scheduling
from ..settings import WorkloadSettings
from .naming import (
    GRPC_PORT,
    HTTP_PORT,
    LABEL_COMPONENT,
    LABEL_MODELVERSION,
    METRICS_PORT,
    job_name,
    serving_name,
    version_labels,
)
from .scheduling import placed, sized, spread
from .training import dataset_build_args, trainer_args
from .workloads import restricted_pod_spec

# Trainer exit codes that retrying cannot fix (contracts.md §3): bad arguments or dataset,
# acceptance gate failed, ONNX parity failed. The Job fails at once instead of backing off.
NON_RETRIABLE_EXIT_CODES = (2, 3, 4)
# Trainer exit codes for transient failures (contracts.md §3): storage unreachable through the
# trainer's own retries. The pod is replaced without using up backoffLimit (the Job's
# activeDeadlineSeconds still bounds the whole).
RETRIABLE_EXIT_CODES = (6,)
TERMINATION_LOG = "/dev/termination-log"


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """An ownerReference to `owner` so deleting it deletes what it owns (Kubernetes GC)."""
    meta = owner.get("metadata", {})
    ref: dict[str, Any] = {
        "apiVersion": owner.get("apiVersion", "modelrollout.dev/v1alpha1"),
        "kind": owner.get("kind", "ModelVersion"),
        "name": meta.get("name"),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    if meta.get("uid"):
        ref["uid"] = meta["uid"]
    return ref


def owned_metadata(owner: dict[str, Any], name: str, labels: dict[str, str]) -> dict[str, Any]:
    """metadata of an object `owner` owns: in the owner's namespace, garbage-collected with it."""
    return {
        "name": name,
        "namespace": owner["metadata"].get("namespace"),
        "labels": labels,
        "ownerReferences": [owner_reference(owner)],
    }


def training_job(
    owner: dict[str, Any], spec: ModelVersionSpec, *, workloads: WorkloadSettings | None = None
) -> dict[str, Any]:
    """The batch/v1 Job that trains this version; its Pod reports through the termination log.

    The pod runs under Pod Security "restricted" (resources/workloads.py) as
    `spec.training.serviceAccountName` when given (its data access), else with no API token.
    """
    training = spec.training
    if training is None:
        raise ValueError("training_job needs spec.training")
    meta = owner["metadata"]
    name = meta["name"]
    labels = version_labels(spec.model, spec.version, name, "trainer")
    res = training.resources
    requests: dict[str, str] = {"cpu": res.cpu, "memory": res.memory}
    limits: dict[str, str] = {"memory": res.memory}
    if res.gpus > 0:
        requests["nvidia.com/gpu"] = str(res.gpus)
        limits["nvidia.com/gpu"] = str(res.gpus)
    container: dict[str, Any] = {
        "name": "trainer",
        "image": training.image,
        "command": ["modelrollout-trainer"],
        "args": trainer_args(spec, training),
        "resources": {"requests": requests, "limits": limits},
        "terminationMessagePath": TERMINATION_LOG,
        # The result is written to the termination log; stdout's last line is the fallback.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if training.credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": training.credentials_secret}}]
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if training.build is not None:
        # The first step (a Model's versions): the trainer's dataset builder writes
        # spec.training.dataset from the base dataset and the prediction log's window.
        step = {
            "name": "dataset",
            "image": training.image,
            "command": ["modelrollout-trainer"],
            "args": dataset_build_args(spec, training),
            "resources": {"requests": {"cpu": res.cpu, "memory": res.memory},
                          "limits": {"memory": res.memory}},
            "terminationMessagePath": TERMINATION_LOG,
            "terminationMessagePolicy": "FallbackToLogsOnError",
        }  # fmt: skip
        if training.credentials_secret:
            step["envFrom"] = container["envFrom"]
        pod["initContainers"] = [step]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": owned_metadata(owner, job_name(name), labels),
        "spec": {
            "backoffLimit": training.retries,
            "activeDeadlineSeconds": max(1, round(parse_duration(training.deadline))),
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": "trainer",
                            "operator": "In",
                            "values": list(NON_RETRIABLE_EXIT_CODES),
                        },
                    },
                    {
                        "action": "Ignore",
                        "onExitCodes": {
                            "containerName": "trainer",
                            "operator": "In",
                            "values": list(RETRIABLE_EXIT_CODES),
                        },
                    },
                    *_dataset_step_rules(training.build is not None),
                ]
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": placed(
                    restricted_pod_spec(
                        pod,
                        workloads or WorkloadSettings(),
                        service_account=training.service_account_name,
                    ),
                    training.scheduling,
                    chart_scheduling(workloads),
                    gpus=training.resources.gpus,
                ),
            },
        },
    }


def _dataset_step_rules(present: bool) -> list[dict[str, Any]]:
    """The dataset step's exit codes, as the trainer's: 2 (too few labelled rows, a bad base
    dataset) fails the Job at once, 6 (storage unavailable) replaces the pod."""
    if not present:
        return []
    return [
        {"action": action, "onExitCodes": {"containerName": "dataset", "operator": "In",
                                           "values": values}}
        for action, values in (("FailJob", [2]), ("Ignore", list(RETRIABLE_EXIT_CODES)))
    ]  # fmt: skip


def chart_scheduling(workloads: WorkloadSettings | None) -> Scheduling:
    """The chart's default placement (`workloads.scheduling`), in the API's form."""
    return Scheduling.model_validate((workloads or WorkloadSettings()).scheduling)


def model_repository(artifact_uri: str, model: str, version: int) -> str:
    """The repository root of `<repo>/<model>/<version>/model.onnx`.

    Refuses URIs not in that layout: Triton can only load a model from its repository.
    """
    suffix = f"/{model}/{version}/model.onnx"
    if not artifact_uri.endswith(suffix):
        raise ValueError(
            f"artifact {artifact_uri!r} is not in the model-repository layout "
            f"'<repository>/{model}/{version}/model.onnx'"
        )
    return artifact_uri[: -len(suffix)]


def serving_selector(modelversion: str) -> dict[str, str]:
    """The labels of the version's serving pods (the Deployment's and Service's selector)."""
    return {LABEL_MODELVERSION: modelversion, LABEL_COMPONENT: "server"}


# The Triton pod's one-version repository: the init container writes it, Triton reads it.
PREPARE_CONTAINER = "prepare"
REPOSITORY_VOLUME = "model-repository"
REPOSITORY_MOUNT = "/models"
_STARTUP_PERIOD_SECONDS = 5


def triton_prepare_args(spec: ModelVersionSpec, artifact_uri: str, sha256: str) -> list[str]:
    """The init container's command line (contracts.md §5): fetch, verify, narrow the config."""
    repository = model_repository(artifact_uri, spec.model, spec.version)
    serving = spec.serving
    batching = serving.dynamic_batching
    return [
        "prepare-triton",
        "--model", spec.model,
        "--version", str(spec.version),
        "--artifact-uri", artifact_uri,
        "--artifact-sha256", sha256,
        "--config-uri", f"{repository}/{spec.model}/config.pbtxt",
        "--output", REPOSITORY_MOUNT,
        "--max-batch-size", str(serving.max_batch_size),
        "--dynamic-batching" if batching.enabled else "--no-dynamic-batching",
        "--max-queue-delay-us", str(batching.max_queue_delay_microseconds),
    ]  # fmt: skip


def triton_args(model: str) -> list[str]:
    """tritonserver's flags: the prepared repository only, strict config, metrics on 8002."""
    return [
        f"--model-repository={REPOSITORY_MOUNT}",
        # `none` loads what the repository holds (one model, one version) and refuses the
        # load/unload API, so nobody who reaches the pod can unload or swap what it serves.
        "--model-control-mode=none",
        # The prepared config is complete: Triton must not fill in or change it.
        "--disable-auto-complete-config",
        "--strict-readiness=true",
        "--exit-on-error=true",
        f"--http-port={HTTP_PORT}",
        f"--grpc-port={GRPC_PORT}",
        "--allow-metrics=true",
        f"--metrics-port={METRICS_PORT}",
        # Latency quantiles (nv_inference_request_summary_us) for the analysis and dashboard.
        "--metrics-config=summary_latencies=true",
    ]


def _ready_probe(model: str, version: int) -> dict[str, Any]:
    # Ask the server whether this MODEL VERSION is loaded, not merely whether it is up:
    # the ModelVersion becomes Ready only when the Deployment's replicas pass this probe.
    return {
        "httpGet": {"path": f"/v2/models/{model}/versions/{version}/ready", "port": HTTP_PORT},
        "periodSeconds": 5,
        "failureThreshold": 3,
    }


def serving_deployment(
    owner: dict[str, Any],
    spec: ModelVersionSpec,
    artifact_uri: str,
    sha256: str,
    *,
    triton_image: str,
    gateway_image: str,
    replicas: int | None = None,
    triton_startup_seconds: int = 600,
    workloads: WorkloadSettings | None = None,
) -> dict[str, Any]:
    """The Deployment serving this one version over KServe v2 HTTP on port 8000.

    Triton serves a repository its init container wrote from the verified artifact and holding
    only this version; the startup probe gives the model `triton_startup_seconds` to load.
    """
    meta = owner["metadata"]
    name = meta["name"]
    serving = spec.serving
    labels = version_labels(spec.model, spec.version, name, "server")
    container: dict[str, Any]
    init_containers: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    if serving.runtime == Runtime.TRITON:
        limits: dict[str, str] = {}
        if serving.gpus > 0:
            limits["nvidia.com/gpu"] = str(serving.gpus)
        prepare: dict[str, Any] = {
            "name": PREPARE_CONTAINER,
            "image": gateway_image,
            "command": ["modelrollout-gateway"],
            "args": triton_prepare_args(spec, artifact_uri, sha256),
            "volumeMounts": [{"name": REPOSITORY_VOLUME, "mountPath": REPOSITORY_MOUNT}],
            # Its reason for refusing (a sha256 mismatch names the file and both hashes) is
            # what the operator copies into the ModelVersion's status.
            "terminationMessagePath": TERMINATION_LOG,
            "terminationMessagePolicy": "FallbackToLogsOnError",
        }
        if serving.credentials_secret:
            prepare["envFrom"] = [{"secretRef": {"name": serving.credentials_secret}}]
        init_containers.append(prepare)
        volumes.append({"name": REPOSITORY_VOLUME, "emptyDir": {}})
        ready = _ready_probe(spec.model, spec.version)
        container = {
            "name": "triton",
            "image": triton_image,
            "command": ["tritonserver"],
            "args": triton_args(spec.model),
            "ports": [
                {"name": "http", "containerPort": HTTP_PORT},
                {"name": "grpc", "containerPort": GRPC_PORT},
                {"name": "metrics", "containerPort": METRICS_PORT},
            ],
            "volumeMounts": [
                {"name": REPOSITORY_VOLUME, "mountPath": REPOSITORY_MOUNT, "readOnly": True}
            ],
            # Loading a large model onto a GPU takes minutes: liveness waits for this.
            "startupProbe": {
                **ready,
                "periodSeconds": _STARTUP_PERIOD_SECONDS,
                "failureThreshold": max(1, -(-triton_startup_seconds // _STARTUP_PERIOD_SECONDS)),
            },
            "readinessProbe": ready,
            "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": HTTP_PORT}},
            "resources": {"limits": limits} if limits else {},
        }
    else:
        container = {
            "name": "onnxruntime",
            "image": gateway_image,
            "command": ["modelrollout-gateway"],
            "args": [
                "serve",
                "--host",
                "0.0.0.0",
                "--port",
                str(HTTP_PORT),
                "--model",
                spec.model,
                "--version",
                str(spec.version),
                "--artifact-uri",
                artifact_uri,
                "--artifact-sha256",
                sha256,
            ],
            "ports": [{"name": "http", "containerPort": HTTP_PORT}],
            "readinessProbe": _ready_probe(spec.model, spec.version),
            "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": HTTP_PORT}},
        }
    if serving.credentials_secret and serving.runtime != Runtime.TRITON:
        container["envFrom"] = [{"secretRef": {"name": serving.credentials_secret}}]
    pod_spec: dict[str, Any] = {"containers": [sized(container, serving.cpu, serving.memory)]}
    if init_containers:
        pod_spec["initContainers"] = init_containers
    if volumes:
        pod_spec["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": owned_metadata(owner, serving_name(name), labels),
        "spec": {
            "replicas": serving.replicas if replicas is None else replicas,
            "selector": {"matchLabels": serving_selector(name)},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(
                            METRICS_PORT if serving.runtime == Runtime.TRITON else HTTP_PORT
                        ),
                    },
                },
                # "restricted", a writable /tmp (the artifact cache), no API token.
                "spec": spread(
                    placed(
                        restricted_pod_spec(pod_spec, workloads or WorkloadSettings()),
                        serving.scheduling,
                        chart_scheduling(workloads),
                        gpus=serving.gpus,
                    ),
                    serving_selector(name),
                ),
            },
        },
    }


def serving_service(owner: dict[str, Any], spec: ModelVersionSpec) -> dict[str, Any]:
    """A ClusterIP Service in front of the version's Deployment."""
    meta = owner["metadata"]
    name = meta["name"]
    labels = version_labels(spec.model, spec.version, name, "server")
    ports = [{"name": "http", "port": HTTP_PORT, "targetPort": HTTP_PORT}]
    if spec.serving.runtime == Runtime.TRITON:
        ports += [
            {"name": "grpc", "port": GRPC_PORT, "targetPort": GRPC_PORT},
            {"name": "metrics", "port": METRICS_PORT, "targetPort": METRICS_PORT},
        ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": owned_metadata(owner, serving_name(name), labels),
        "spec": {
            "type": "ClusterIP",
            "selector": serving_selector(name),
            "ports": ports,
        },
    }

"""Operator settings from the environment (`MODELROLLOUT_*`), validated once at startup."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, SettingsConfigDict


def _restricted_pod() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _restricted_container() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


class WorkloadSettings(BaseModel):
    """How the pods the operator creates run (training Jobs, serving Deployments).

    The chart renders its `workloads` values as JSON into `MODELROLLOUT_WORKLOADS`. Whatever is
    set here, the Pod Security "restricted" fields are enforced on top (resources/workloads.py).
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    pod_security_context: dict[str, Any] = Field(default_factory=_restricted_pod)
    container_security_context: dict[str, Any] = Field(default_factory=_restricted_container)
    image_pull_secrets: list[dict[str, str]] = Field(
        default_factory=list, description="[{name: ...}]: Secrets in each model namespace."
    )
    resources: dict[str, Any] = Field(
        default_factory=lambda: {"requests": {"cpu": "100m", "memory": "256Mi"}},
        description="Requests (and limits) for containers that name none of their own.",
    )
    scratch_size_limit: str = Field(
        default="1Gi", description="sizeLimit of each writable emptyDir (/tmp and the like)."
    )
    scheduling: dict[str, Any] = Field(
        default_factory=dict,
        description="Default placement (nodeSelector, tolerations, affinity, "
        "priorityClassName, gpuToleration) of every pod the operator creates, in the API's "
        "Scheduling form (api/v1alpha1/scheduling.py); a ModelVersion's own fields win.",
    )


class OperatorSettings(BaseSettings):
    """Everything the operator reads from its environment; the Helm chart sets these."""

    model_config = SettingsConfigDict(env_prefix="MODELROLLOUT_", extra="ignore")

    prometheus_url: str = Field(
        default="http://prometheus-operated.monitoring.svc:9090",
        description="Prometheus HTTP API the analysis queries.",
    )
    prometheus_timeout: float = Field(default=5.0, gt=0, description="Seconds per query.")
    prometheus_max_concurrency: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="Queries in flight at once; more wait in line (Prometheus itself runs 20 "
        "at a time by default: --query.max-concurrency).",
    )
    trainer_image: str = Field(
        default="ghcr.io/model-rollout/trainer:0.1.0",
        description="Default trainer image (spec.training.image overrides it).",
    )
    triton_image: str = Field(
        default="nvcr.io/nvidia/tritonserver:26.10-py3",
        description="Triton image of `runtime: triton` versions (the chart's triton.image).",
    )
    triton_startup_seconds: int = Field(
        default=600,
        ge=5,
        le=86_400,
        description="How long a Triton pod may take to load its model before the kubelet "
        "restarts it (the startup probe's budget).",
    )
    gateway_image: str = Field(
        default="ghcr.io/model-rollout/gateway:0.1.0",
        description="Image of the gateway, also used to serve one version with onnxruntime.",
    )
    gateway_namespace: str | None = Field(
        default=None,
        description="The gateway's namespace, where the operator writes every routing ConfigMap "
        "(the chart sets the release namespace; default: the operator's own namespace, else "
        "`default_namespace`).",
    )
    workloads: WorkloadSettings = Field(default_factory=WorkloadSettings)
    kube_server: str | None = Field(
        default=None,
        description="API server URL to use without TLS verification (tests, local emulators); "
        "unset: in-cluster service account, then KUBECONFIG.",
    )
    default_namespace: str = Field(default="default")
    version_poll_interval: float = Field(
        default=5.0, gt=0, description="Seconds between checks of a training or deploying version."
    )
    ready_poll_interval: float = Field(
        default=30.0, gt=0, description="Seconds between checks of a Ready version."
    )
    startup_spread: float = Field(
        default=30.0,
        ge=0,
        description="Seconds after a start over which the Experiments' first passes are "
        "spread (at most one interval each); 0 starts them all at once.",
    )
    min_analysis_interval: float = Field(
        default=0.5, gt=0, description="Floor for an Experiment's pass interval (seconds)."
    )
    http_host: str = Field(default="0.0.0.0")
    http_port: int = Field(default=8080, ge=0, le=65535, description="healthz/readyz/metrics.")
    log_format: Literal["json", "text"] = Field(default="text")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Any case (debug or DEBUG): the gateway's takes either too."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    notify_webhooks: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Webhooks told about every Experiment's transitions, as a JSON list of "
        "spec.notify.webhooks entries (the chart's notify.webhooks); a secretKeyRef is read "
        "in the Experiment's namespace.",
    )
    notify_queue_size: int = Field(
        default=1000, ge=1, description="Notifications waiting at most; more are dropped."
    )
    notify_timeout: float = Field(default=5.0, gt=0, description="Seconds per webhook request.")
    notify_attempts: int = Field(
        default=5, ge=1, le=20, description="Tries per webhook delivery (back-off 1 s doubling)."
    )

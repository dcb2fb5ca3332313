"""Names and labels of the objects the operator owns, derived from the ModelVersion's name."""

from __future__ import annotations

import hashlib

LABEL_MODEL = "modelrollout.dev/model"
LABEL_VERSION = "modelrollout.dev/version"
LABEL_MODELVERSION = "modelrollout.dev/modelversion"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_ROUTING = "modelrollout.dev/routing"
MANAGER = "model-rollout"

HTTP_PORT = 8000
GRPC_PORT = 8001
METRICS_PORT = 8002


def _bounded(name: str, suffix: str) -> str:
    """`name-suffix`, shortened with a stable hash when it would pass 63 characters."""
    full = f"{name}-{suffix}"
    if len(full) <= 63:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{name[: 63 - len(suffix) - 10]}-{digest}-{suffix}"


def job_name(modelversion: str) -> str:
    return _bounded(modelversion, "train")


def serving_name(modelversion: str) -> str:
    """The Deployment's and the Service's name."""
    return _bounded(modelversion, "server")


def routing_configmap_name(experiment: str) -> str:
    return _bounded(experiment, "routing")


def version_labels(model: str, version: int, modelversion: str, component: str) -> dict[str, str]:
    return {
        LABEL_MODEL: model,
        LABEL_VERSION: str(version),
        LABEL_MODELVERSION: modelversion,
        LABEL_COMPONENT: component,
        LABEL_MANAGED_BY: MANAGER,
    }


def endpoint_url(modelversion: str, namespace: str) -> str:
    """KServe v2 HTTP base URL of a version's Service inside the cluster."""
    return f"http://{serving_name(modelversion)}.{namespace}.svc:{HTTP_PORT}"

"""The `gateway` traffic provider: one routing ConfigMap per Experiment, watched by the gateway.

The ConfigMaps live in the gateway's own namespace, never beside the Experiment: only the
operator may write there (the chart's RBAC), so no tenant can hand the gateway a table, and the
gateway reads ConfigMaps of its own namespace only. The name starts with the Experiment's
namespace and the `modelrollout.dev/for-namespace` label names it: the gateway accepts from such
a table only backends in that namespace (docs/contracts.md §2).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import structlog

from ..api.v1alpha1 import ExperimentSpec
from ..rollout.model import SetTraffic
from .base import ExperimentRef, ObjectApi, VersionRef, check_ready
from .table import build_routing_table

log = structlog.get_logger(__name__)

ROUTING_LABEL = "modelrollout.dev/routing"
NAMESPACE_LABEL = "modelrollout.dev/for-namespace"
MODEL_LABEL = "modelrollout.dev/model"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
EXPERIMENT_ANNOTATION = "modelrollout.dev/experiment"
ROUTING_KEY = "routing.json"
MAX_NAME = 253  # a ConfigMap's name is a DNS subdomain


def configmap_name(namespace: str, experiment: str) -> str:
    """`<namespace>.<experiment>.routing`: unique across namespaces.

    Namespaces hold no dots, so the first dot ends the namespace whatever the Experiment's name
    is; a name past 253 characters keeps a stable hash of the whole instead of its tail.
    """
    full = f"{namespace}.{experiment}.routing"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:12]
    return f"{full[: MAX_NAME - len(digest) - 10]}-{digest}.routing"


def routing_labels(namespace: str, model: str) -> dict[str, str]:
    labels = {ROUTING_LABEL: "true", NAMESPACE_LABEL: namespace, MANAGED_BY_LABEL: "model-rollout"}
    if len(model) <= 63:  # a label value; the table itself always names the model
        labels[MODEL_LABEL] = model
    return labels


def _same_routes(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Equal apart from the generation: then nothing needs writing."""
    return {k: v for k, v in old.items() if k != "generation"} == {
        k: v for k, v in new.items() if k != "generation"
    }


class GatewayRouter:
    """Writes `routing.json`; `generation` only grows, and an unchanged table is not rewritten."""

    def __init__(
        self,
        api: ObjectApi,
        configmaps: Any,
        *,
        namespace: str,
        timeout_seconds: float = 1.0,
    ) -> None:
        self._api = api
        self._configmaps = configmaps
        self._namespace = namespace  # the gateway's own namespace
        self._timeout = timeout_seconds

    async def apply(
        self,
        experiment: ExperimentRef,
        spec: ExperimentSpec,
        traffic: SetTraffic,
        baseline: VersionRef,
        candidate: VersionRef,
    ) -> None:
        check_ready(traffic, baseline, candidate)
        exp_ns = experiment.namespace
        namespace = self._namespace
        name = configmap_name(exp_ns, experiment.name)
        existing = await self._api.get(self._configmaps, namespace, name)
        old: dict[str, Any] | None = None
        if existing is not None:
            try:
                old = json.loads((existing.get("data") or {}).get(ROUTING_KEY, "null"))
            except json.JSONDecodeError:
                old = None  # a hand-edited, broken table is replaced
        previous = int(old.get("generation", 0)) if isinstance(old, dict) else 0
        table = build_routing_table(
            model=spec.model,
            baseline=baseline,
            candidate=candidate,
            traffic=traffic,
            generation=previous + 1,
            sticky_by=spec.routing.sticky_by,
            correctness=spec.routing.correctness,
            timeout_seconds=self._timeout,
        )
        if isinstance(old, dict) and _same_routes(old, table):
            return
        data = {ROUTING_KEY: json.dumps(table, separators=(",", ":"))}
        labels = routing_labels(exp_ns, spec.model)
        if existing is None:
            body: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": labels,
                    "annotations": {EXPERIMENT_ANNOTATION: f"{exp_ns}/{experiment.name}"},
                },
                "data": data,
            }
            # Owner references cannot cross namespaces: elsewhere `forget` deletes it.
            if namespace == exp_ns and experiment.uid:
                body["metadata"]["ownerReferences"] = [
                    {
                        "apiVersion": "modelrollout.dev/v1alpha1",
                        "kind": "Experiment",
                        "name": experiment.name,
                        "uid": experiment.uid,
                    }
                ]
            await self._api.create(self._configmaps, namespace, body)
        else:
            await self._api.patch(
                self._configmaps, namespace, name, {"metadata": {"labels": labels}, "data": data}
            )
        log.info(
            "routing.applied",
            configmap=f"{namespace}/{name}",
            weight=traffic.candidate_weight,
            promoted=traffic.promoted,
            generation=table["generation"],
        )

    async def forget(self, namespace: str, experiment: str) -> None:
        """Delete an Experiment's routing ConfigMap (the Experiment was deleted)."""
        delete = getattr(self._api, "delete", None)
        if delete is not None:
            await delete(self._configmaps, self._namespace, configmap_name(namespace, experiment))

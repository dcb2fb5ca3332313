"""The `gateway` traffic provider: one routing ConfigMap per Experiment, watched by the gateway."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import structlog

from ..api.v1alpha1 import ExperimentSpec
from ..rollout.model import SetTraffic
from .base import ObjectApi, VersionRef, check_ready
from .table import build_routing_table

log = structlog.get_logger(__name__)

ROUTING_LABEL = "modelrollout.dev/routing"
ROUTING_KEY = "routing.json"


def configmap_name(experiment: str) -> str:
    full = f"{experiment}-routing"
    if len(full) <= 63:
        return full
    return f"{experiment[:46]}-{hashlib.sha256(full.encode()).hexdigest()[:8]}-routing"


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
        namespace: str | None = None,
        timeout_seconds: float = 1.0,
    ) -> None:
        self._api = api
        self._configmaps = configmaps
        self._namespace = namespace  # the gateway's namespace; None: the Experiment's
        self._timeout = timeout_seconds

    async def apply(
        self,
        experiment: Mapping[str, Any],
        spec: ExperimentSpec,
        traffic: SetTraffic,
        baseline: VersionRef,
        candidate: VersionRef,
    ) -> None:
        check_ready(traffic, baseline, candidate)
        meta = experiment.get("metadata", {})
        exp_ns = str(meta.get("namespace") or "default")
        namespace = self._namespace or exp_ns
        name = configmap_name(str(meta["name"]))
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
        labels = {ROUTING_LABEL: "true", "modelrollout.dev/model": spec.model}
        if existing is None:
            body: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "data": data,
            }
            if namespace == exp_ns and meta.get("uid"):
                body["metadata"]["ownerReferences"] = [
                    {
                        "apiVersion": "modelrollout.dev/v1alpha1",
                        "kind": "Experiment",
                        "name": meta["name"],
                        "uid": meta["uid"],
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

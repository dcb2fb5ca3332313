"""Placement of the pods the operator creates: the ModelVersion's, else the chart's (pure).

`spec.training.scheduling` / `spec.serving.scheduling` field by field over the chart's
`workloads.scheduling` (operator setting `workloads`); a pod that asks for GPUs tolerates the
`nvidia.com/gpu` taint (Exists, NoSchedule) unless the ModelVersion says `gpuToleration:
false`. Serving CPU/memory requests from `spec.serving.cpu`/`memory` (memory also the limit).
A version's serving replicas are spread over nodes and zones, softly (`spread`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..api.v1alpha1.scheduling import GPU_RESOURCE, Scheduling

GPU_TOLERATION: dict[str, str] = {
    "key": GPU_RESOURCE,
    "operator": "Exists",
    "effect": "NoSchedule",
}


def _wire(scheduling: Scheduling) -> dict[str, Any]:
    return scheduling.model_dump(by_alias=True, exclude_none=True, mode="json")


def placed(
    pod_spec: Mapping[str, Any],
    scheduling: Scheduling,
    defaults: Scheduling,
    *,
    gpus: int,
) -> dict[str, Any]:
    """`pod_spec` with nodeSelector, tolerations, affinity and priorityClassName set."""
    out = copy.deepcopy(dict(pod_spec))
    own, chart = _wire(scheduling), _wire(defaults)
    for field in ("nodeSelector", "tolerations", "affinity", "priorityClassName"):
        value = own.get(field, chart.get(field))
        if value:
            out[field] = value
    tolerations: list[dict[str, Any]] = list(out.get("tolerations") or [])
    wants_gpu_toleration = gpus > 0 and scheduling.gpu_toleration and defaults.gpu_toleration
    if wants_gpu_toleration and not any(_covers(t, GPU_TOLERATION) for t in tolerations):
        tolerations.append(dict(GPU_TOLERATION))
    if tolerations:
        out["tolerations"] = tolerations
    return out


def _covers(toleration: Mapping[str, Any], taint: Mapping[str, str]) -> bool:
    """Does `toleration` already tolerate the taint `taint` (key, effect)?"""
    if toleration.get("effect") not in (None, "", taint["effect"]):
        return False
    if toleration.get("operator") == "Exists":
        return toleration.get("key") in (None, "", taint["key"])
    return False  # Equal names one value; the GPU taint's value varies between clusters


def sized(container: Mapping[str, Any], cpu: str | None, memory: str | None) -> dict[str, Any]:
    """A container with the given CPU request and memory request and limit (None: unchanged)."""
    out = copy.deepcopy(dict(container))
    resources = dict(out.get("resources") or {})
    requests = dict(resources.get("requests") or {})
    limits = dict(resources.get("limits") or {})
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
        limits["memory"] = memory
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    out["resources"] = resources
    return out


# Soft spread: prefer other nodes (then zones) for a version's next replica, never refuse to
# schedule. One node's loss then takes one replica of the candidate, not all of them.
SPREAD_TOPOLOGY_KEYS = ("kubernetes.io/hostname", "topology.kubernetes.io/zone")


def spread(pod_spec: Mapping[str, Any], selector: Mapping[str, str]) -> dict[str, Any]:
    """`pod_spec` with its replicas (those `selector` matches) spread over nodes and zones.

    `ScheduleAnyway`: a one-node cluster (kind) or a GPU pool of one node still schedules.
    `matchLabelKeys: [pod-template-hash]` counts only the replicas of the same rollout, so a
    rolling update of the serving settings is not skewed by the pods it is replacing.
    """
    out = copy.deepcopy(dict(pod_spec))
    if out.get("topologySpreadConstraints"):
        return out
    out["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
            "matchLabelKeys": ["pod-template-hash"],
        }
        for key in SPREAD_TOPOLOGY_KEYS
    ]
    return out

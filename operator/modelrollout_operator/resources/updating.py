"""spec.serving reconciled like any Deployment spec: what to patch when it changed (pure).

The serving Deployment carries a hash of the spec it was made from
(`modelrollout.dev/serving-spec`); a pass that finds another hash patches replicas and the pod
template to what the ModelVersion asks now (replicas, resources, runtime, batching,
scheduling). It rolls out as a rolling update that adds a new pod before removing an old one
(maxUnavailable 0, maxSurge 1) behind the same Service: the version's endpoint, hence the
gateway's route to it, never changes, and a runtime change (onnxruntime <-> triton, both
KServe v2 on port 8000) keeps serving the version's traffic from the old pods until a new one
is ready.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

SPEC_ANNOTATION = "modelrollout.dev/serving-spec"
ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def spec_hash(deployment: Mapping[str, Any]) -> str:
    """A stable hash of what a Deployment is asked to run (replicas and pod template)."""
    spec = deployment.get("spec") or {}
    text = json.dumps(
        {"replicas": spec.get("replicas"), "template": spec.get("template")},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def stamped(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The desired Deployment with the rolling strategy and the hash of its spec."""
    out = copy.deepcopy(dict(deployment))
    out["spec"] = {**out.get("spec", {}), "strategy": copy.deepcopy(ROLLING)}
    meta = out.setdefault("metadata", {})
    meta["annotations"] = {**(meta.get("annotations") or {}), SPEC_ANNOTATION: spec_hash(out)}
    return out


def update_patch(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """A merge patch taking `existing` to `desired` (stamped), or None when it is current.

    JSON merge patch replaces lists whole (containers, tolerations) and merges maps, so pod
    spec keys the new spec no longer has (Triton's initContainers and volumes after a change
    to onnxruntime, a nodeSelector removed) are set to null explicitly.
    """
    want = (desired.get("metadata") or {}).get("annotations", {}).get(SPEC_ANNOTATION)
    have = ((existing.get("metadata") or {}).get("annotations") or {}).get(SPEC_ANNOTATION)
    if want is not None and want == have:
        return None
    new_spec = desired.get("spec") or {}
    old_template = (existing.get("spec") or {}).get("template") or {}
    template = copy.deepcopy(new_spec.get("template") or {})
    for part in ("spec", "metadata"):
        old_part = old_template.get(part) or {}
        new_part = template.setdefault(part, {})
        for key in old_part:
            if key not in new_part:
                new_part[key] = None
    for key in ("labels", "annotations"):
        old_map = (old_template.get("metadata") or {}).get(key) or {}
        new_map = template["metadata"].get(key)
        if isinstance(new_map, dict):
            for label in old_map:
                new_map.setdefault(label, None)
    return {
        "metadata": {"annotations": {SPEC_ANNOTATION: want}},
        "spec": {
            "replicas": new_spec.get("replicas"),
            "strategy": copy.deepcopy(ROLLING),
            "template": template,
        },
    }

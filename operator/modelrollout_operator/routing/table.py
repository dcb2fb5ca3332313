"""The gateway's routing table (contracts.md §2) built from weights: pure, shared with local mode."""

from __future__ import annotations

from typing import Any

from ..api.v1alpha1 import Correctness, CorrectnessKind
from ..rollout.model import SetTraffic
from .base import VersionRef


def backend_for(ref: VersionRef, model: str) -> dict[str, Any]:
    """A served version is reached over KServe v2 HTTP; otherwise the gateway embeds its file."""
    if ref.endpoint:
        return {
            "kind": "triton",
            "url": ref.endpoint,
            "modelName": model,
            "modelVersion": ref.version,
        }
    if ref.artifact_uri and ref.sha256:
        return {"kind": "onnxruntime", "uri": ref.artifact_uri, "sha256": ref.sha256}
    return {"kind": "onnxruntime"}  # <repository>/<model>/<version>/model.onnx


def correctness_json(c: Correctness) -> dict[str, Any]:
    if c.kind == CorrectnessKind.BINARY:
        return {"kind": "binary", "output": c.output, "threshold": c.threshold}
    if c.kind == CorrectnessKind.MULTICLASS:
        return {"kind": "multiclass", "output": c.output}
    return {"kind": "regression", "output": c.output, "tolerance": c.tolerance}


def build_routing_table(
    *,
    model: str,
    baseline: VersionRef,
    candidate: VersionRef,
    traffic: SetTraffic,
    generation: int,
    sticky_by: str | None = None,
    correctness: Correctness | None = None,
    timeout_seconds: float = 1.0,
    allow_non_finite_inputs: bool = False,
) -> dict[str, Any]:
    """The routing JSON for `traffic`: weights sum to 100, exactly one baseline.

    After promotion the candidate is the baseline at 100% and the old baseline leaves the
    table; a candidate at 0% without shadowing leaves it too (its server may be gone).
    """
    if not 0 <= traffic.candidate_weight <= 100:
        raise ValueError(f"candidate weight {traffic.candidate_weight} is outside 0..100")
    if not 0 <= traffic.shadow_percent <= 100:
        raise ValueError(f"shadow percent {traffic.shadow_percent} is outside 0..100")
    if generation < 0:
        raise ValueError(f"generation must not be negative, got {generation}")
    if baseline.version == candidate.version:
        raise ValueError(f"baseline and candidate are the same version {baseline.version!r}")
    versions: list[dict[str, Any]]
    shadow = None
    if traffic.promoted:
        versions = [
            {"version": candidate.version, "weight": 100, "role": "baseline",
             "backend": backend_for(candidate, model)},
        ]  # fmt: skip
    else:
        w = traffic.candidate_weight
        versions = [
            {"version": baseline.version, "weight": 100 - w, "role": "baseline",
             "backend": backend_for(baseline, model)},
        ]  # fmt: skip
        if w > 0 or traffic.shadow_percent > 0:
            versions.append(
                {"version": candidate.version, "weight": w, "role": "candidate",
                 "backend": backend_for(candidate, model)}
            )  # fmt: skip
        if traffic.shadow_percent > 0:
            shadow = {"version": candidate.version, "percent": traffic.shadow_percent}
    return {
        "model": model,
        "versions": versions,
        "stickyBy": sticky_by,
        "shadow": shadow,
        "correctness": correctness_json(correctness or Correctness()),
        "timeoutSeconds": timeout_seconds,
        "generation": generation,
        # The gateway answers 400 to NaN/Inf inputs unless this is on.
        "allowNonFiniteInputs": allow_non_finite_inputs,
    }

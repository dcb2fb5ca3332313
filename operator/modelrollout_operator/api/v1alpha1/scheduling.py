"""Where the pods of a ModelVersion run: node selector, tolerations, node affinity, priority.

`spec.training.scheduling` places the training Job's pod, `spec.serving.scheduling` the
serving pods; each field left out takes the chart's default (`workloads.scheduling`). A pod
that asks for GPUs also tolerates the `nvidia.com/gpu` taint (Exists, NoSchedule) unless
`gpuToleration: false`, so GPU nodes tainted as docs/cluster.md advises take it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from .base import ApiModel

_LABEL_KEY_PATTERN = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
_LABEL_KEY = re.compile(_LABEL_KEY_PATTERN)
#: A label key or taint key: an optional DNS prefix and a name (Kubernetes' qualified name).
LabelKey = Annotated[
    str, StringConstraints(min_length=1, max_length=317, pattern=_LABEL_KEY_PATTERN)
]
LabelValue = Annotated[
    str,
    StringConstraints(max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"),
]
#: What the kubelet and the device plugin call a GPU (taint key and resource name).
GPU_RESOURCE = "nvidia.com/gpu"


class TolerationOperator(StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(ApiModel):
    """A core/v1 Toleration."""

    key: LabelKey | None = Field(default=None, description="Taint key; empty with Exists: all.")
    operator: TolerationOperator = Field(default=TolerationOperator.EQUAL)
    value: LabelValue | None = Field(default=None, description="Taint value (operator Equal).")
    effect: TaintEffect | None = Field(default=None, description="Empty: every effect.")
    toleration_seconds: int | None = Field(
        default=None, ge=0, le=31_536_000, description="NoExecute only: how long it stays."
    )


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"


class NodeSelectorRequirement(ApiModel):
    key: LabelKey
    operator: SelectorOperator
    values: list[LabelValue] = Field(default_factory=list, max_length=64)


class NodeSelectorTerm(ApiModel):
    match_expressions: list[NodeSelectorRequirement] = Field(default_factory=list, max_length=32)


class RequiredNodes(ApiModel):
    """Nodes the pod may run on: any one of the terms holds."""

    node_selector_terms: list[NodeSelectorTerm] = Field(min_length=1, max_length=16)


class PreferredTerm(ApiModel):
    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(ApiModel):
    required_during_scheduling_ignored_during_execution: RequiredNodes | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredTerm] = Field(
        default_factory=list, max_length=16
    )


class Affinity(ApiModel):
    """core/v1 Affinity, node affinity only (pod (anti-)affinity: topology is the cluster's)."""

    node_affinity: NodeAffinity | None = None


class Scheduling(ApiModel):
    """Placement of one kind of pod; unset fields take the chart's `workloads.scheduling`."""

    node_selector: dict[str, LabelValue] | None = Field(
        default=None, max_length=32, description="Node labels the pod needs (nodeSelector)."
    )
    tolerations: list[Toleration] | None = Field(
        default=None, max_length=32, description="Taints the pod tolerates."
    )
    affinity: Affinity | None = Field(default=None, description="Node affinity.")
    priority_class_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="PriorityClass of the pod.",
    )
    gpu_toleration: bool = Field(
        default=True,
        description="A pod asking for GPUs tolerates the nvidia.com/gpu taint (Exists, "
        "NoSchedule).",
    )

    @field_validator("node_selector")
    @classmethod
    def _label_keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) > 32:
            raise ValueError(f"nodeSelector has {len(value)} labels; at most 32")
        for key in value:
            if not _LABEL_KEY.fullmatch(key) or len(key) > 317:
                raise ValueError(f"nodeSelector key {key[:80]!r} is not a label key")
        return value

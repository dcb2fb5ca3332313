"""Building blocks shared by both resources: camelCase models, durations, conditions."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

GROUP = "modelrollout.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

#: The longest duration the API takes (30 days): intervals, bakes, deadlines and windows
#: beyond it are mistakes (`99999999999h` overflowed every pass), not plans.
MAX_DURATION = "720h"
MAX_DURATION_SECONDS = 720 * 3600.0


def _bounded(text: str) -> str:
    if parse_duration(text) > MAX_DURATION_SECONDS:
        raise ValueError(f"{text} is longer than {MAX_DURATION} (30 days)")
    return text


#: A duration as Kubernetes users write them: "30s", "5m", "1h30m", "250ms"; at most 720h.
Duration = Annotated[
    str,
    StringConstraints(max_length=64, pattern=DURATION_PATTERN),
    AfterValidator(_bounded),
    Field(
        json_schema_extra={
            "example": "30s",
            "x-kubernetes-validations": [
                {
                    "rule": f"duration(self) <= duration('{MAX_DURATION}')",
                    "message": f"durations are at most {MAX_DURATION} (30 days)",
                }
            ],
        }
    ),
]

#: A DNS-1123 name, as every Kubernetes object name must be.
ObjectName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
]


def parse_duration(text: str) -> float:
    """Seconds in a duration string such as "1h30m" or "250ms"."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"not a duration: {text!r} (expected e.g. '30s', '5m', '1h30m', '250ms')")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest duration string for a number of seconds (the inverse of parse_duration)."""
    if seconds < 1 and seconds != 0:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"


class ApiModel(BaseModel):
    """Base of every API object: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as Kubernetes stores it: camelCase, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Condition(ApiModel):
    """A Kubernetes-style condition (metav1.Condition)."""

    type: str = Field(description="Type of condition in CamelCase, e.g. Ready, Progressing.")
    status: Literal["True", "False", "Unknown"] = Field(description="Status of the condition.")
    reason: str = Field(
        default="", description="Machine-readable CamelCase reason for the last transition."
    )
    message: str = Field(default="", description="Human-readable details about the transition.")
    last_transition_time: datetime | None = Field(
        default=None, description="When the condition last changed status."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation the condition was set from."
    )


def set_condition(conditions: list[Condition], new: Condition) -> list[Condition]:
    """Conditions with `new` set, keeping lastTransitionTime when the status did not change."""
    out: list[Condition] = []
    replaced = False
    for old in conditions:
        if old.type != new.type:
            out.append(old)
            continue
        replaced = True
        if old.status == new.status and old.last_transition_time is not None:
            new = new.model_copy(update={"last_transition_time": old.last_transition_time})
        out.append(new)
    if not replaced:
        out.append(new)
    return out


def cel(*rules: tuple[str, str]) -> dict[str, Any]:
    """`x-kubernetes-validations` for a model's JSON schema: (CEL rule, message) pairs.

    Each rule is mirrored by a pydantic validator on the same model, so `modelrollout
    validate` and the API server reject the same resources with the same words.
    """
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}

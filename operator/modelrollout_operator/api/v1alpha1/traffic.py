"""Where an Experiment's traffic is shifted, how users stick to a version, what is correct."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from .base import ApiModel, ObjectName, cel

HeaderName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9-]+$")
]


class TrafficProvider(StrEnum):
    GATEWAY = "gateway"
    HTTP_ROUTE = "httpRoute"


class HTTPRouteRef(ApiModel):
    """A Gateway API HTTPRoute whose backendRefs point at the baseline and candidate Services."""

    name: ObjectName
    namespace: ObjectName | None = Field(default=None, description="Default: the Experiment's.")


class CorrectnessKind(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


class Correctness(ApiModel):
    """When the gateway counts a prediction as correct once its label arrives."""

    kind: CorrectnessKind = Field(default=CorrectnessKind.BINARY)
    output: str = Field(
        default="score",
        min_length=1,
        max_length=256,
        description="Model output holding the prediction.",
    )
    threshold: float = Field(default=0.5, description="binary: score >= threshold is class 1.")
    tolerance: float = Field(
        default=0.0, ge=0, description="regression: |prediction - label| allowed."
    )


class Routing(ApiModel):
    """How requests are split between baseline and candidate, and how correctness is judged."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "self.provider != 'httpRoute' || has(self.httpRoute)",
                "routing.provider httpRoute needs routing.httpRoute",
            ),
        )
    )

    provider: TrafficProvider = Field(default=TrafficProvider.GATEWAY)
    # Opt-in, like Flagger's session affinity: a default could not be switched off, since
    # Kubernetes drops an explicit null and would apply the default again.
    sticky_by: HeaderName | None = Field(
        default=None,
        description="Request header (e.g. x-user-id) whose value keeps a user on one version; "
        "unset: requests are spread by weight alone.",
    )
    http_route: HTTPRouteRef | None = None
    correctness: Correctness = Field(default_factory=Correctness)

    @model_validator(mode="after")
    def _route_given(self) -> Routing:
        if self.provider == TrafficProvider.HTTP_ROUTE and self.http_route is None:
            raise ValueError("routing.provider httpRoute needs routing.httpRoute")
        return self

"""The router protocol and the few Kubernetes verbs routers need (the k8s client satisfies it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..api.v1alpha1 import ExperimentSpec
from ..errors import ModelRolloutError
from ..rollout.model import SetTraffic


class RoutingError(ModelRolloutError):
    """Traffic could not be applied (e.g. weight for a version that is not Ready)."""


@dataclass(frozen=True)
class VersionRef:
    """A ModelVersion as routing needs it: its number, readiness and how to reach it."""

    name: str  # the ModelVersion object's name
    version: str  # Triton version number, as the gateway labels metrics
    ready: bool
    endpoint: str | None = None  # KServe v2 base URL of its server, when served in-cluster
    artifact_uri: str | None = None
    sha256: str | None = None
    service: str | None = None  # the Service in front of its server (HTTPRoute backends)


@dataclass(frozen=True)
class ExperimentRef:
    """The Experiment a routing change is for: what routers name, label and own objects by."""

    name: str
    namespace: str
    uid: str | None = None  # owner references need it; local mode has no object, hence none

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> ExperimentRef:
        """From an Experiment object as the API returns it (no namespace: `default`)."""
        meta = body.get("metadata") or {}
        uid = meta.get("uid")
        return cls(
            name=str(meta["name"]),
            namespace=str(meta.get("namespace") or "default"),
            uid=str(uid) if uid else None,
        )


class ObjectApi(Protocol):
    """get / create / patch on typed resources; `KubeClient` implements it."""

    async def get(self, res: Any, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    async def create(self, res: Any, namespace: str | None, body: dict[str, Any]) -> Any: ...

    async def patch(
        self,
        res: Any,
        namespace: str | None,
        name: str,
        patch: dict[str, Any],
        *,
        subresource: str | None = None,
    ) -> Any: ...


class Router(Protocol):
    async def apply(
        self,
        experiment: ExperimentRef,
        spec: ExperimentSpec,
        traffic: SetTraffic,
        baseline: VersionRef,
        candidate: VersionRef,
    ) -> None:
        """Make `traffic` true; idempotent (a replayed pass writes the same weights)."""
        ...


def check_ready(traffic: SetTraffic, baseline: VersionRef, candidate: VersionRef) -> None:
    """Traffic never moves to a version that is not Ready."""
    if (traffic.candidate_weight > 0 or traffic.shadow_percent > 0 or traffic.promoted) and not (
        candidate.ready
    ):
        raise RoutingError(
            f"refusing {traffic.candidate_weight}% (shadow {traffic.shadow_percent}%) "
            f"for candidate {candidate.name}: it is not Ready"
        )
    if traffic.candidate_weight < 100 and not traffic.promoted and not baseline.ready:
        raise RoutingError(
            f"refusing {100 - traffic.candidate_weight}% for baseline {baseline.name}: "
            "it is not Ready"
        )

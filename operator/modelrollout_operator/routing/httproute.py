"""The `httpRoute` traffic provider: Gateway API HTTPRoute backendRef weights."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import structlog

from ..api.v1alpha1 import ExperimentSpec
from ..rollout.model import SetTraffic
from .base import ExperimentRef, ObjectApi, RoutingError, VersionRef, check_ready

log = structlog.get_logger(__name__)


def reweigh(route: Mapping[str, Any], weights: Mapping[str, int]) -> list[dict[str, Any]]:
    """The route's rules with each backendRef named in `weights` set to its weight.

    Pure. Every rule must reference at least one of the two Services, or the route is not
    the one meant for this Experiment and nothing is written.
    """
    rules = copy.deepcopy(list(route.get("spec", {}).get("rules") or []))
    touched = 0
    for rule in rules:
        for ref in rule.get("backendRefs") or []:
            if ref.get("name") in weights and ref.get("kind", "Service") == "Service":
                ref["weight"] = weights[ref["name"]]
                touched += 1
    if not touched:
        raise RoutingError(f"no backendRef of the HTTPRoute points at {sorted(weights)}")
    return rules


class HTTPRouteRouter:
    """Patches the weights of the baseline's and candidate's Services in an existing HTTPRoute."""

    def __init__(self, api: ObjectApi, httproutes: Any) -> None:
        self._api = api
        self._httproutes = httproutes

    async def apply(
        self,
        experiment: ExperimentRef,
        spec: ExperimentSpec,
        traffic: SetTraffic,
        baseline: VersionRef,
        candidate: VersionRef,
    ) -> None:
        check_ready(traffic, baseline, candidate)
        ref = spec.routing.http_route
        if ref is None:
            raise RoutingError("routing.provider httpRoute needs routing.httpRoute")
        if traffic.shadow_percent:
            raise RoutingError("HTTPRoute weights cannot mirror traffic: use the gateway provider")
        namespace = ref.namespace or experiment.namespace
        route = await self._api.get(self._httproutes, namespace, ref.name)
        if route is None:
            raise RoutingError(f"HTTPRoute {namespace}/{ref.name} not found")
        if not baseline.service or not candidate.service:
            raise RoutingError("both versions need a Service to be HTTPRoute backends")
        w = 100 if traffic.promoted else traffic.candidate_weight
        rules = reweigh(route, {baseline.service: 100 - w, candidate.service: w})
        if rules == route.get("spec", {}).get("rules"):
            return
        # A merge patch replaces the rules list whole: the other rules ride along unchanged.
        await self._api.patch(self._httproutes, namespace, ref.name, {"spec": {"rules": rules}})
        log.info("routing.applied", httproute=f"{namespace}/{ref.name}", weight=w)

"""The local traffic provider: the routing table PUT to the gateway's admin endpoint.

The same `Router` protocol and the same pure `build_routing_table` as the in-cluster gateway
router; only the transport differs (HTTP instead of a watched ConfigMap).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import structlog

from ..api.v1alpha1 import ExperimentSpec
from ..rollout.model import SetTraffic
from ..routing import ExperimentRef, RoutingError, VersionRef, build_routing_table
from ..routing.base import check_ready

log = structlog.get_logger(__name__)


class AdminRouter:
    """Writes routing tables with `PUT /admin/routing/{model}`; generations only grow."""

    def __init__(
        self, gateway_url: str, *, timeout_seconds: float = 1.0, admin_token: str | None = None
    ) -> None:
        headers = {"authorization": f"Bearer {admin_token}"} if admin_token else {}
        self._client = httpx.AsyncClient(
            base_url=gateway_url.rstrip("/"), timeout=5.0, headers=headers
        )
        self._timeout = timeout_seconds
        self._generations: dict[str, int] = {}
        self.applied: list[dict[str, Any]] = []  # every table the gateway accepted, in order

    async def close(self) -> None:
        await self._client.aclose()

    async def apply(
        self,
        experiment: ExperimentRef,
        spec: ExperimentSpec,
        traffic: SetTraffic,
        baseline: VersionRef,
        candidate: VersionRef,
    ) -> None:
        check_ready(traffic, baseline, candidate)
        generation = self._generations.get(spec.model, 0) + 1
        table = build_routing_table(
            model=spec.model,
            baseline=baseline,
            candidate=candidate,
            traffic=traffic,
            generation=generation,
            sticky_by=spec.routing.sticky_by,
            correctness=spec.routing.correctness,
            timeout_seconds=self._timeout,
        )
        try:
            response = await self._client.put(f"/admin/routing/{spec.model}", json=table)
        except httpx.HTTPError as error:
            raise RoutingError(f"gateway admin endpoint unreachable: {error!r}") from error
        if response.status_code not in (200, 201, 204):
            raise RoutingError(
                f"gateway refused the routing table for {spec.model!r} "
                f"(HTTP {response.status_code}): {response.text[:300]}"
            )
        self._generations[spec.model] = generation
        self.applied.append(table)
        log.info(
            "routing.applied",
            experiment=experiment.name,
            weight=traffic.candidate_weight,
            promoted=traffic.promoted,
            generation=generation,
        )

    async def weights(self, model: str, versions: Sequence[str]) -> dict[str, int]:
        """The weights the gateway applies now, read back from it (0 for versions absent)."""
        weights = dict.fromkeys(versions, 0)
        response = await self._client.get(f"/admin/routing/{model}")
        if response.status_code == 404:
            return weights
        if response.status_code != 200:
            raise RoutingError(
                f"gateway cannot show the routing table of {model!r} "
                f"(HTTP {response.status_code}): {response.text[:300]}"
            )
        for route in response.json().get("versions", []):
            weights[str(route["version"])] = int(route["weight"])
        return weights

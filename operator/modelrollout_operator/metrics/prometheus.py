"""The Prometheus metrics provider: instant queries over the HTTP API.

Unreachable server, a failed query or an empty result never reads as a pass: a failed
metric becomes `MetricObservation(error=...)`, an empty one a `Measurement(value=None)`, and
the engine applies the no-data policy.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import datetime

import httpx
import structlog

from ..api.v1alpha1 import MetricCheck
from ..rollout.model import Measurement, MetricObservation, ObservationPlan
from .base import Target
from .promql import Queries, TemplateError, queries_for

log = structlog.get_logger(__name__)


class QueryError(Exception):
    """Prometheus could not answer a query."""


class PrometheusProvider:
    """Measures baseline and candidate for each planned metric, all queries concurrently."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self._url = url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self._url, timeout=timeout)
        self.queries = 0  # total queries sent (the benchmark reports queries per second)

    async def close(self) -> None:
        await self._client.aclose()

    async def query(self, promql: str) -> float | None:
        """The single value of an instant query; None when the result is empty or NaN."""
        self.queries += 1
        try:
            resp = await self._client.get("/api/v1/query", params={"query": promql})
        except httpx.HTTPError as exc:
            raise QueryError(f"prometheus at {self._url} unreachable: {exc!r}") from exc
        try:
            body = resp.json()
        except ValueError as exc:
            raise QueryError(f"prometheus answered HTTP {resp.status_code} without JSON") from exc
        if resp.status_code != 200 or body.get("status") != "success":
            raise QueryError(f"query failed: {body.get('error', resp.status_code)} ({promql})")
        result = body.get("data", {}).get("result") or []
        if not result:
            return None
        if len(result) > 1:
            raise QueryError(f"query returned {len(result)} series, expected one ({promql})")
        value = float(result[0]["value"][1])
        return None if math.isnan(value) or math.isinf(value) else value

    async def _measure(self, queries: Queries, custom_samples: int) -> Measurement:
        samples_q = self.query(queries.samples) if queries.samples else _none()
        successes_q = self.query(queries.successes) if queries.successes else _none()
        value_q = self.query(queries.value) if queries.value else _none()
        samples, successes, value = await asyncio.gather(samples_q, successes_q, value_q)
        n = round(samples) if samples is not None else 0
        if queries.successes is not None:
            # increase() extrapolates to the range edges: round to counts and keep k <= n.
            k = min(round(successes), n) if successes is not None else None
            if k is None or n == 0:
                return Measurement(value=None, samples=n, successes=k)
            return Measurement(value=k / n, samples=n, successes=k)
        if queries.samples is None:
            # A user template has no request count: a value stands for enough evidence
            # (minSamples), no value for none.
            return Measurement(value=value, samples=0 if value is None else custom_samples)
        return Measurement(value=value if n > 0 else None, samples=n)

    async def _observe_one(
        self, plan: ObservationPlan, check: MetricCheck, target: Target, now: datetime
    ) -> MetricObservation:
        since = max(1.0, (now - plan.since).total_seconds())
        try:
            cand_q = queries_for(
                check,
                model=target.model,
                version=plan.candidate_version,
                namespace=target.namespace,
                since_seconds=since,
            )
            base_q = queries_for(
                check,
                model=target.model,
                version=plan.baseline_version,
                namespace=target.namespace,
                since_seconds=since,
            )
            candidate, baseline = await asyncio.gather(
                self._measure(cand_q, check.min_samples), self._measure(base_q, check.min_samples)
            )
        except (QueryError, TemplateError) as exc:
            log.warning("metrics.query_failed", metric=check.name, error=str(exc))
            return MetricObservation(
                metric=check.name, candidate=Measurement(value=None), error=str(exc)
            )
        return MetricObservation(metric=check.name, candidate=candidate, baseline=baseline)

    async def observe(
        self,
        plan: ObservationPlan,
        checks: Sequence[MetricCheck],
        target: Target,
        now: datetime,
    ) -> list[MetricObservation]:
        by_name = {c.name: c for c in checks}
        missing = [m for m in plan.metrics if m not in by_name]
        if missing:
            raise ValueError(f"plan names metrics the spec does not define: {missing}")
        return list(
            await asyncio.gather(
                *(self._observe_one(plan, by_name[m], target, now) for m in plan.metrics)
            )
        )


async def _none() -> None:
    return None


__all__ = ["PrometheusProvider", "QueryError"]

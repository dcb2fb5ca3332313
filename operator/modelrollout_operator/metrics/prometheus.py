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
from typing import Any

import aiohttp
import structlog

from ..analysis import Tally
from ..api.v1alpha1 import MetricCheck
from ..errors import ModelRolloutError
from ..rollout.model import Measurement, MetricObservation, ObservationPlan
from .base import Target, planned_checks
from .promql import Queries, TemplateError, queries_for

log = structlog.get_logger(__name__)


class QueryError(ModelRolloutError):
    """Prometheus could not answer a query."""


class PrometheusProvider:
    """Measures baseline and candidate for each planned metric, all queries concurrently.

    One aiohttp session, at most `max_concurrency` queries in flight: many Experiments due at
    once wait in a FIFO here, not in the client's pool (httpx's pool scans every waiting
    request against every connection: at 100 Experiments that took most of the operator's
    CPU) nor in Prometheus's own query queue. The timeout covers the query, not the wait.
    """

    def __init__(self, url: str, *, timeout: float = 5.0, max_concurrency: int = 20) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self._url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._limit = max_concurrency
        self._gate: asyncio.Semaphore | None = None
        self._session: aiohttp.ClientSession | None = None
        self.queries = 0  # total queries sent (the benchmark reports queries per second)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        # Created on first use, inside the running loop that will use them.
        if self._session is None or self._gate is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit), timeout=self._timeout
            )
            self._gate = asyncio.Semaphore(self._limit)
        return self._session, self._gate

    async def query(self, promql: str) -> float | None:
        """The single value of an instant query; None when the result is empty or NaN."""
        session, gate = self._open()
        async with gate:
            self.queries += 1
            try:
                async with session.get(
                    f"{self._url}/api/v1/query", params={"query": promql}
                ) as resp:
                    status = resp.status
                    try:
                        body = await resp.json(content_type=None)
                    except ValueError as exc:
                        raise QueryError(f"prometheus answered HTTP {status} without JSON") from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise QueryError(f"prometheus at {self._url} unreachable: {exc!r}") from exc
        if not isinstance(body, dict):
            raise QueryError(f"prometheus answered HTTP {status} with {type(body).__name__}")
        if status != 200 or body.get("status") != "success":
            raise QueryError(f"query failed: {body.get('error', status)} ({promql})")
        return sample_value(body, promql)

    async def _measure(self, queries: Queries, custom_samples: int) -> Measurement:
        samples_q = self.query(queries.samples) if queries.samples else _none()
        successes_q = self.query(queries.successes) if queries.successes else _none()
        value_q = self.query(queries.value) if queries.value else _none()
        events_q = self.query(queries.events) if queries.events else _none()
        trials_q = self.query(queries.trials) if queries.trials else _none()
        samples, successes, value, events, trials = await asyncio.gather(
            samples_q, successes_q, value_q, events_q, trials_q
        )
        n = round(samples) if samples is not None else 0
        if queries.trials is not None:
            # increase() extrapolates: round to counts and keep events <= trials.
            t = max(round(trials), 0) if trials is not None else 0
            e = min(max(round(events), 0), t) if events is not None else 0
            tally = Tally(events=e, trials=t)
            return Measurement(value=value if n > 0 else None, samples=n, tally=tally)
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
                shadow=plan.shadow,
                triton=plan.candidate_version in target.triton_versions,
            )
            base_q = queries_for(
                check,
                model=target.model,
                version=plan.baseline_version,
                namespace=target.namespace,
                since_seconds=since,
                triton=plan.baseline_version in target.triton_versions,
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
        planned = planned_checks(plan, checks)
        return list(
            await asyncio.gather(*(self._observe_one(plan, c, target, now) for c in planned))
        )


def sample_value(body: dict[str, Any], promql: str) -> float | None:
    """The one sample of a successful instant query, read defensively.

    An empty result, NaN or an infinity (PromQL's 0/0 and x/0) are no data: None. Anything
    else that is not a number (a list for `data`, a missing or short `value`, a string that
    does not parse) raises QueryError naming what came back, so the metric is no data with
    the reason in the analysis record and the no-data policy applies.
    """
    data = body.get("data")
    if not isinstance(data, dict):
        raise QueryError(f"prometheus answered garbage: data is {_kind(data)} ({promql})")
    result = data.get("result")
    if result is None or result == []:
        return None
    if not isinstance(result, list):
        raise QueryError(f"prometheus answered garbage: result is {_kind(result)} ({promql})")
    if len(result) > 1:
        raise QueryError(f"query returned {len(result)} series, expected one ({promql})")
    sample = result[0].get("value") if isinstance(result[0], dict) else None
    if not isinstance(sample, list) or len(sample) != 2:
        raise QueryError(
            f"prometheus answered garbage: sample {str(sample)[:80]!r} is not "
            f"[time, value] ({promql})"
        )
    raw = sample[1]
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise QueryError(f"prometheus answered garbage: value {_kind(raw)} ({promql})")
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        raise QueryError(
            f"prometheus answered garbage: value {str(raw)[:80]!r} is not a number ({promql})"
        ) from None
    return None if math.isnan(value) or math.isinf(value) else value


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"


async def _none() -> None:
    return None


__all__ = ["PrometheusProvider", "QueryError", "sample_value"]

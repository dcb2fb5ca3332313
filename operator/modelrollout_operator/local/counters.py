"""A metrics provider over the gateway's own `/metrics` counters, for when no Prometheus runs.

It keeps the snapshots it scrapes and answers each metric as the Prometheus provider's PromQL
would (`metrics/promql.py`): accuracy from the increase of the feedback counters since the
candidate got traffic (a shadow run's candidate: of its shadow feedback counters), error and
fallback rates and the latency quantile from the increase over the metric's window, and the
error and fallback rates' cumulative tally since the start when they compare with the
baseline. A fallback is a failure of the version that failed (errors and requests both
count it). Without a scrape old enough, the earliest one kept stands in: it can only
undercount, and too few samples are never a pass.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import httpx
import structlog

from ..analysis import Tally
from ..api.v1alpha1 import MetricCheck, MetricKind, parse_duration
from ..metrics import Target
from ..metrics.base import planned_checks
from ..rollout.model import Measurement, MetricObservation, ObservationPlan
from .exposition import (
    ExpositionError,
    Snapshot,
    VersionCounters,
    histogram_quantile,
    parse_snapshot,
)

log = structlog.get_logger(__name__)

NO_CUSTOM = "custom PromQL metrics need Prometheus: install `prometheus` and run the demo again"


def _failures(check: MetricCheck, delta: VersionCounters) -> tuple[float, float]:
    """(failed, requests) of one version: a fallback fails the version that failed."""
    failed = (
        delta.fallbacks
        if check.kind == MetricKind.FALLBACK_RATE
        else (delta.errors + delta.fallbacks)
    )
    return failed, delta.requests + delta.fallbacks


def measure(
    check: MetricCheck,
    later: Snapshot,
    earlier: Snapshot,
    version: str,
    *,
    shadow: bool = False,
    start: Snapshot | None = None,
) -> Measurement:
    """One version's value of `check` between two snapshots (pure).

    `shadow`: the version is a shadow run's candidate (accuracy from its shadow feedback).
    `start`: the snapshot when the candidate got traffic, for a failure rate's tally.
    """
    delta = later.of(version).minus(earlier.of(version))
    if check.kind == MetricKind.ACCURACY:
        total, correct = (
            (delta.shadow_feedback, delta.shadow_correct)
            if shadow
            else (delta.feedback, delta.correct)
        )
        n = round(total)
        k = min(round(correct), n)
        return Measurement(value=k / n if n > 0 else None, samples=n, successes=k)
    if check.is_failure_rate:
        failed, requests = _failures(check, delta)
        n = round(requests)
        tally = None
        if start is not None:
            all_failed, all_requests = _failures(check, later.of(version).minus(start.of(version)))
            trials = round(all_requests)
            tally = Tally(events=min(round(all_failed), trials), trials=trials)
        return Measurement(value=failed / requests if n > 0 else None, samples=n, tally=tally)
    if check.kind == MetricKind.LATENCY:
        n = round(delta.buckets.get(float("inf"), 0.0))
        value = histogram_quantile(check.effective_quantile, delta.buckets) if n > 0 else None
        return Measurement(value=value, samples=n)
    raise ValueError(NO_CUSTOM)


def _finite(obs: MetricObservation) -> MetricObservation:
    """A value that is not a finite number (a NaN or an infinity on the /metrics page, a
    counter that went backwards) is no data, with the reason, as the Prometheus provider
    does: the no-data policy applies."""
    for role, m in (("candidate", obs.candidate), ("baseline", obs.baseline)):
        if m is None or obs.error is not None:
            continue
        bad = m.value is not None and not math.isfinite(m.value)
        if bad or m.samples < 0:
            return MetricObservation(
                metric=obs.metric,
                candidate=Measurement(value=None),
                error=f"gateway counters gave the {role} value {m.value!r} "
                f"on {m.samples} samples: not a finite number",
            )
    return obs


class SnapshotHistory:
    """Snapshots by time, oldest first, at most `keep` of them."""

    def __init__(self, keep: int = 5000) -> None:
        self.keep = keep
        self._times: list[datetime] = []
        self._snapshots: list[Snapshot] = []

    def add(self, at: datetime, snapshot: Snapshot) -> None:
        if self._times and at < self._times[-1]:
            at = self._times[-1]  # the wall clock stepped back: keep the history ordered
        self._times.append(at)
        self._snapshots.append(snapshot)
        if len(self._times) > self.keep:
            del self._times[0], self._snapshots[0]

    def at_or_before(self, at: datetime) -> Snapshot | None:
        """The latest snapshot taken at or before `at`, else the earliest one; None if empty."""
        if not self._snapshots:
            return None
        index = bisect.bisect_right(self._times, at) - 1
        return self._snapshots[max(index, 0)]

    def __len__(self) -> int:
        return len(self._snapshots)


class GatewayCountersProvider:
    """`MetricsProvider` reading `<gateway>/metrics`; call `sample()` to record a baseline."""

    def __init__(self, gateway_url: str, model: str, *, timeout: float = 5.0) -> None:
        self.model = model
        self.history = SnapshotHistory()
        self._client = httpx.AsyncClient(base_url=gateway_url.rstrip("/"), timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def scrape(self) -> Snapshot:
        response = await self._client.get("/metrics")
        response.raise_for_status()
        return parse_snapshot(response.text, self.model)

    async def sample(self, now: datetime) -> Snapshot:
        """Scrape and keep the snapshot (the driver does so when an experiment starts)."""
        snapshot = await self.scrape()
        self.history.add(now, snapshot)
        return snapshot

    async def observe(
        self,
        plan: ObservationPlan,
        checks: Sequence[MetricCheck],
        target: Target,
        now: datetime,
    ) -> list[MetricObservation]:
        planned = planned_checks(plan, checks)
        try:
            later = await self.sample(now)
        except (httpx.HTTPError, ExpositionError) as error:
            message = f"gateway metrics unreadable: {error!r}"
            log.warning("metrics.scrape_failed", error=message)
            return [
                MetricObservation(metric=m, candidate=Measurement(value=None), error=message)
                for m in plan.metrics
            ]
        return [self._observe_safely(plan, c, later, now) for c in planned]

    def _observe_safely(
        self, plan: ObservationPlan, check: MetricCheck, later: Snapshot, now: datetime
    ) -> MetricObservation:
        try:
            return _finite(self._observe_one(plan, check, later, now))
        except (ValueError, ArithmeticError) as error:  # NaN counts, overflowing histograms
            return MetricObservation(
                check.name, Measurement(value=None), error=f"gateway counters unusable: {error}"
            )

    def _observe_one(
        self, plan: ObservationPlan, check: MetricCheck, later: Snapshot, now: datetime
    ) -> MetricObservation:
        if check.kind == MetricKind.CUSTOM:
            return MetricObservation(check.name, Measurement(value=None), error=NO_CUSTOM)
        since = self.history.at_or_before(plan.since) or later
        if check.kind == MetricKind.ACCURACY:
            earlier = since
        else:
            window_start = now - timedelta(seconds=parse_duration(check.window))
            earlier = self.history.at_or_before(window_start) or later
        start = since if check.is_failure_rate and check.max_degradation is not None else None
        return MetricObservation(
            metric=check.name,
            candidate=measure(
                check, later, earlier, plan.candidate_version, shadow=plan.shadow, start=start
            ),
            baseline=measure(check, later, earlier, plan.baseline_version, start=start),
        )

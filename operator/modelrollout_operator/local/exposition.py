"""The gateway's own `/metrics` counters as plain data: parse, subtract, take quantiles.

Pure functions: the counters provider scrapes the text and keeps snapshots; everything it
computes (accuracy since a time, error rate and latency quantiles over a window) is a
difference of two snapshots, as `increase()` and `histogram_quantile()` would compute it in
Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from ..errors import ModelRolloutError

# The gateway's metric names (docs/contracts.md section 1), as counters expose them.
REQUESTS = "modelrollout_requests_total"
DURATION = "modelrollout_request_duration_seconds"
FALLBACKS = "modelrollout_fallbacks_total"
FEEDBACK = "modelrollout_feedback_total"
FEEDBACK_CORRECT = "modelrollout_feedback_correct_total"
SHADOW_FEEDBACK = "modelrollout_shadow_feedback_total"
SHADOW_FEEDBACK_CORRECT = "modelrollout_shadow_feedback_correct_total"


class ExpositionError(ModelRolloutError, ValueError):
    """The scraped text is not the Prometheus exposition format."""


@dataclass(frozen=True)
class VersionCounters:
    """One version's counters at one moment (cumulative since the gateway started)."""

    requests: float = 0.0
    errors: float = 0.0  # answered with a 5xx
    fallbacks: float = 0.0  # failed, and another version answered for it
    feedback: float = 0.0
    correct: float = 0.0
    # Cumulative histogram buckets: upper bound -> observations <= bound (+Inf included).
    buckets: Mapping[float, float] = field(default_factory=dict)
    # Labels joined to this version's mirrored (shadow) predictions, and the right ones.
    shadow_feedback: float = 0.0
    shadow_correct: float = 0.0

    def minus(self, earlier: VersionCounters) -> VersionCounters:
        """The increase since `earlier`; a counter that went down was reset, so take it whole."""
        return VersionCounters(
            requests=_increase(self.requests, earlier.requests),
            errors=_increase(self.errors, earlier.errors),
            fallbacks=_increase(self.fallbacks, earlier.fallbacks),
            feedback=_increase(self.feedback, earlier.feedback),
            correct=_increase(self.correct, earlier.correct),
            buckets={
                le: _increase(count, earlier.buckets.get(le, 0.0))
                for le, count in self.buckets.items()
            },
            shadow_feedback=_increase(self.shadow_feedback, earlier.shadow_feedback),
            shadow_correct=_increase(self.shadow_correct, earlier.shadow_correct),
        )


def _increase(now: float, before: float) -> float:
    return now - before if now >= before else now


@dataclass(frozen=True)
class Snapshot:
    """Every version of one model at one moment: `versions[version]`."""

    versions: Mapping[str, VersionCounters] = field(default_factory=dict)

    def of(self, version: str) -> VersionCounters:
        return self.versions.get(version, VersionCounters())


@dataclass
class _Row:
    requests: float = 0.0
    errors: float = 0.0
    fallbacks: float = 0.0
    feedback: float = 0.0
    correct: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    shadow_feedback: float = 0.0
    shadow_correct: float = 0.0


def parse_snapshot(text: str, model: str) -> Snapshot:
    """The counters of `model` in a `/metrics` page; other models are ignored."""
    rows: dict[str, _Row] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as error:
        raise ExpositionError(f"not Prometheus exposition text: {error}") from error
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            if labels.get("model") != model or "version" not in labels:
                continue
            row = rows.setdefault(labels["version"], _Row())
            name, value = sample.name, float(sample.value)
            if name == REQUESTS:
                row.requests += value
                if labels.get("code", "").startswith("5"):
                    row.errors += value
            elif name == FALLBACKS:
                row.fallbacks += value
            elif name == FEEDBACK:
                row.feedback += value
            elif name == FEEDBACK_CORRECT:
                row.correct += value
            elif name == SHADOW_FEEDBACK:
                row.shadow_feedback += value
            elif name == SHADOW_FEEDBACK_CORRECT:
                row.shadow_correct += value
            elif name == DURATION + "_bucket":
                le = float(labels["le"])  # the routes of one version add up
                row.buckets[le] = row.buckets.get(le, 0.0) + value
    return Snapshot(
        {
            version: VersionCounters(
                row.requests,
                row.errors,
                row.fallbacks,
                row.feedback,
                row.correct,
                dict(row.buckets),
                row.shadow_feedback,
                row.shadow_correct,
            )
            for version, row in rows.items()
        }
    )


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus' `histogram_quantile`: linear interpolation inside the bucket holding rank q.

    None when there are no observations. A rank in the +Inf bucket answers the highest finite
    bound, as Prometheus does.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {q}")
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]):
        raise ValueError("a histogram needs its +Inf bucket")
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            width = count - below
            if width <= 0:
                return bound
            return lower + (bound - lower) * (rank - below) / width
        lower, below = bound, count
    return lower

"""What a metrics provider measured: the input of the decisions.

These types live here, below the rollout engine, because the decisions read them and the
operator's layers forbid `analysis` from importing `rollout`; `rollout.model` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    """One version's value of one metric over the analysis window.

    `value` None means no data. For proportions (accuracy) `successes`/`samples` are the raw
    counts, which the statistical test needs; for rates and latencies `samples` is the number
    of requests behind the value.
    """

    value: float | None
    samples: int = 0
    successes: int | None = None


@dataclass(frozen=True)
class MetricObservation:
    """What the metrics provider saw for one `analysis.metrics[]` entry."""

    metric: str
    candidate: Measurement
    baseline: Measurement | None = None
    error: str | None = None  # the provider failed (e.g. Prometheus unreachable): never a pass

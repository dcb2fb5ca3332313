"""What a metrics provider measured: the input of the decisions.

These types live here, below the rollout engine, because the decisions read them and the
operator's layers forbid `analysis` from importing `rollout`; `rollout.model` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tally:
    """Cumulative counts of one version since the candidate first got traffic: `events`
    (errors, fallbacks) among `trials` (requests it had to answer)."""

    events: int
    trials: int

    def __post_init__(self) -> None:
        if self.trials < 0 or not 0 <= self.events <= self.trials:
            raise ValueError(
                f"events ({self.events}) must lie between 0 and trials ({self.trials})"
            )

    @property
    def rate(self) -> float:
        return self.events / self.trials if self.trials else float("nan")


@dataclass(frozen=True)
class Measurement:
    """One version's value of one metric over the analysis window.

    `value` None means no data. For proportions (accuracy) `successes`/`samples` are the raw
    counts, which the statistical test needs; for rates and latencies `samples` is the number
    of requests behind the value. Error and fallback rates carry, besides their rate over the
    window, the cumulative `tally` that the confidence sequence against the baseline tests.
    """

    value: float | None
    samples: int = 0
    successes: int | None = None
    tally: Tally | None = None


@dataclass(frozen=True)
class MetricObservation:
    """What the metrics provider saw for one `analysis.metrics[]` entry."""

    metric: str
    candidate: Measurement
    baseline: Measurement | None = None
    error: str | None = None  # the provider failed (e.g. Prometheus unreachable): never a pass

"""One metric check against one observation: the entry point of the decisions."""

from __future__ import annotations

from ..api.v1alpha1 import MetricCheck, MetricKind, MetricResult, Verdict
from .observations import Measurement, MetricObservation
from .proportions import evaluate_accuracy, evaluate_failure_rate
from .thresholds import evaluate_threshold


def _has_value(m: Measurement | None) -> bool:
    if m is None:
        return False
    if m.tally is not None and m.tally.trials > 0:
        return True
    return m.value is not None or (m.successes is not None and m.samples > 0)


def is_missing(check: MetricCheck, observation: MetricObservation | None) -> bool:
    """True when the data the check needs is absent (not merely too few samples).

    This is what `analysis.noData` tracks: no observation, a provider error, no value for the
    candidate, or no value for the baseline when the check compares with it.
    """
    if observation is None or observation.error is not None:
        return True
    if not _has_value(observation.candidate):
        return True
    return check.max_degradation is not None and not _has_value(observation.baseline)


def evaluate(
    check: MetricCheck, observation: MetricObservation | None, alpha: float
) -> MetricResult:
    """pass / fail / inconclusive for one metric, with the numbers that led there.

    `alpha` is the error rate of the statistical tests (accuracy; error and fallback rates
    against the baseline), valid over every look.
    A missing observation or a provider error is inconclusive: missing data is never a pass.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    if observation is None:
        return MetricResult(
            metric=check.name,
            verdict=Verdict.INCONCLUSIVE,
            message=f"{check.name}: not observed",
        )
    if observation.metric != check.name:
        raise ValueError(
            f"observation of {observation.metric!r} given for metric check {check.name!r}"
        )
    if observation.error is not None:
        return MetricResult(
            metric=check.name,
            verdict=Verdict.INCONCLUSIVE,
            message=f"{check.name}: provider error: {observation.error}",
        )
    if check.kind == MetricKind.ACCURACY:
        return evaluate_accuracy(check, observation.candidate, observation.baseline, alpha)
    if check.is_failure_rate:
        return evaluate_failure_rate(check, observation.candidate, observation.baseline, alpha)
    return evaluate_threshold(check, observation.candidate, observation.baseline)

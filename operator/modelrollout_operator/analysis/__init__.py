"""The decisions: per-metric verdicts with their numbers, and how they combine.

Pure: plain data in, plain data out (no clock, no I/O, no randomness).

    result = evaluate(check, observation, alpha)   # MetricResult: pass / fail / inconclusive
    verdict = combine(results)                     # worst wins: fail > inconclusive > pass

Accuracy uses confidence sequences valid at every look (`differences` for candidate -
baseline, `sequences` for one version, `proportions` for the verdicts); rate-like
metrics use bounds on their point values (`thresholds`).
"""

from .combining import combine, worst
from .differences import asymptotic_difference_cs
from .evaluating import evaluate, is_missing
from .observations import Measurement, MetricObservation
from .sequences import bernoulli_cs, difference_cs

__all__ = [
    "Measurement",
    "MetricObservation",
    "asymptotic_difference_cs",
    "bernoulli_cs",
    "combine",
    "difference_cs",
    "evaluate",
    "is_missing",
    "worst",
]

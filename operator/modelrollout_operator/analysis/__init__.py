"""The decisions: per-metric verdicts with their numbers, and how they combine.

Pure: plain data in, plain data out (no clock, no I/O, no randomness).

    result = evaluate(check, observation, alpha)   # MetricResult: pass / fail / inconclusive
    verdict = combine(results)                     # worst wins: fail > inconclusive > pass

Proportions use confidence sequences valid at every look (`differences` for candidate -
baseline, `sequences` for one version, `proportions` for the verdicts): accuracy, and the
error and fallback rates against the baseline; rate-like metrics (latency, custom, and the
absolute bounds of error and fallback rates) use bounds on their point values (`thresholds`).
"""

from .combining import combine, worst
from .differences import asymptotic_difference_cs
from .evaluating import evaluate, is_missing
from .observations import Measurement, MetricObservation, Tally
from .sequences import bernoulli_cs, difference_cs

__all__ = [
    "Measurement",
    "MetricObservation",
    "Tally",
    "asymptotic_difference_cs",
    "bernoulli_cs",
    "combine",
    "difference_cs",
    "evaluate",
    "is_missing",
    "worst",
]

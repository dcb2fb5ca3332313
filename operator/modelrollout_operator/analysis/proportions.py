"""Accuracy: a proportion judged with confidence sequences valid at every look.

The difference with the baseline uses the asymptotic CS of `differences` (tuned to the
margin); absolute bounds use the exact one-sample CS of `sequences`.

Non-inferiority against the baseline, with margin m = maxDegradation (absolute; or, for
`degradation: relative`, m = maxDegradation x the baseline's observed accuracy):

* fail when the whole CS for p_candidate - p_baseline lies below -m: the evidence says the
  candidate is worse than the baseline beyond the margin (roll back);
* pass when the whole CS lies above -m: the evidence says it is not (allow promotion);
* inconclusive otherwise, and on fewer than `minSamples` labels per version.

Absolute bounds use the candidate's one-sample CS the same way: `min` fails when the CS lies
below min and passes when it lies at or above it; `max` mirrors that. When one check holds
several bounds, alpha is split evenly between them (Bonferroni), so the check as a whole errs
with probability at most alpha over every look of the experiment.

Counts are cumulative since the candidate first got traffic (`ObservationPlan.since`): the
sequence is valid at every look, so looking every interval costs nothing in error rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api.v1alpha1 import Degradation, MetricCheck, MetricResult, Verdict
from .combining import worst
from .differences import asymptotic_difference_cs
from .observations import Measurement
from .sequences import bernoulli_cs


@dataclass(frozen=True)
class Counts:
    successes: int
    samples: int

    @property
    def rate(self) -> float:
        return self.successes / self.samples if self.samples else float("nan")


def counts_of(m: Measurement) -> Counts | None:
    """Raw counts, or None without data. A bare rate is turned back into counts."""
    if m.samples <= 0:
        return None
    if m.successes is not None:
        if not 0 <= m.successes <= m.samples:
            raise ValueError(
                f"successes ({m.successes}) must lie between 0 and samples ({m.samples})"
            )
        return Counts(m.successes, m.samples)
    if m.value is None:
        return None
    if not 0.0 <= m.value <= 1.0:
        raise ValueError(f"an accuracy must lie between 0 and 1, got {m.value}")
    return Counts(round(m.value * m.samples), m.samples)


def _inconclusive(check: MetricCheck, message: str, **numbers: float | int | None) -> MetricResult:
    return MetricResult(
        metric=check.name,
        verdict=Verdict.INCONCLUSIVE,
        message=f"{check.name}: {message}",
        **numbers,
    )


def evaluate_accuracy(
    check: MetricCheck, candidate: Measurement, baseline: Measurement | None, alpha: float
) -> MetricResult:
    """pass / fail / inconclusive for a proportion, with the interval that led there."""
    cand = counts_of(candidate)
    if cand is None:
        return _inconclusive(check, "no labelled samples for the candidate")
    if cand.samples < check.min_samples:
        return _inconclusive(
            check,
            f"candidate n={cand.samples} < minSamples {check.min_samples}",
            candidate=cand.rate,
            candidate_samples=cand.samples,
        )
    tests = sum(b is not None for b in (check.min, check.max, check.max_degradation))
    each = alpha / tests
    verdicts: list[Verdict] = []
    parts: list[str] = []
    lower: float | None = None
    upper: float | None = None
    base: Counts | None = None
    if check.max_degradation is not None:
        base = counts_of(baseline) if baseline is not None else None
        if base is None:
            verdicts.append(Verdict.INCONCLUSIVE)
            parts.append("no labelled samples for the baseline")
        elif base.samples < check.min_samples:
            verdicts.append(Verdict.INCONCLUSIVE)
            parts.append(f"baseline n={base.samples} < minSamples {check.min_samples}")
        else:
            margin = check.max_degradation
            if check.degradation == Degradation.RELATIVE:
                margin *= base.rate
            # Tuned to the spec's margin, not the relative one: it must not depend on the data.
            lo, hi = asymptotic_difference_cs(
                cand.successes,
                cand.samples,
                base.successes,
                base.samples,
                each,
                check.max_degradation,
            )
            lower, upper = float(lo), float(hi)
            if upper < -margin:
                verdicts.append(Verdict.FAIL)
                where = "below"
            elif lower > -margin:
                verdicts.append(Verdict.PASS)
                where = "above"
            else:
                verdicts.append(Verdict.INCONCLUSIVE)
                where = "straddles"
            parts.append(
                f"{cand.rate:.3f} vs baseline {base.rate:.3f} "
                f"(n={cand.samples}/{base.samples}): difference "
                f"[{lower:+.3f}, {upper:+.3f}] {where} -{margin:.3f}"
            )
    if check.min is not None or check.max is not None:
        lo1, hi1 = bernoulli_cs(cand.successes, cand.samples, each)
        one_lo, one_hi = float(lo1), float(hi1)
        if lower is None:
            lower, upper = one_lo, one_hi
        if check.min is not None:
            v = (
                Verdict.FAIL
                if one_hi < check.min
                else (Verdict.PASS if one_lo >= check.min else Verdict.INCONCLUSIVE)
            )
            verdicts.append(v)
            parts.append(f"{cand.rate:.3f} in [{one_lo:.3f}, {one_hi:.3f}] vs min {check.min:.3f}")
        if check.max is not None:
            v = (
                Verdict.FAIL
                if one_lo > check.max
                else (Verdict.PASS if one_hi <= check.max else Verdict.INCONCLUSIVE)
            )
            verdicts.append(v)
            parts.append(f"{cand.rate:.3f} in [{one_lo:.3f}, {one_hi:.3f}] vs max {check.max:.3f}")
    confidence = f"{(1 - alpha) * 100:g}% CS"
    return MetricResult(
        metric=check.name,
        verdict=worst(verdicts),
        candidate=cand.rate,
        baseline=base.rate if base is not None else None,
        candidate_samples=cand.samples,
        baseline_samples=base.samples if base is not None else None,
        lower=lower,
        upper=upper,
        message=f"{check.name} {'; '.join(parts)} ({confidence})",
    )

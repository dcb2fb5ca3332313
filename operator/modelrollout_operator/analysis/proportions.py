"""Proportions judged with confidence sequences valid at every look: accuracy, and the
failure rates (errorRate, fallbackRate) against the baseline.

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

Failure rates (errorRate, fallbackRate) are proportions too: f failed requests of n. Against
the baseline they use the same sequence on the successes n - f (the difference of success
rates is minus the difference of failure rates, and the test is symmetric in p and 1 - p),
mirrored: fail when the whole CS for rate_candidate - rate_baseline lies above +m, pass when
it lies below +m (relative: m = maxDegradation x the baseline's observed rate). Their
absolute bounds (`min`/`max`) stay bounds on the rate over the metric's window
(`thresholds`), which a fresh burst of failures crosses at once; the statistical test is the
one against the baseline, on everything since the start.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api.v1alpha1 import Degradation, MetricCheck, MetricResult, Verdict
from .combining import worst
from .differences import asymptotic_difference_cs
from .formatting import label
from .observations import Measurement, Tally
from .sequences import bernoulli_cs
from .thresholds import evaluate_threshold


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


@dataclass(frozen=True)
class Comparison:
    """The candidate against the baseline: the verdict, the CS of the difference of the
    metric's values (candidate - baseline, in the metric's own units), and why."""

    verdict: Verdict
    lower: float
    upper: float
    margin: float
    text: str


def compare(
    check: MetricCheck,
    candidate: Counts,
    baseline: Counts,
    alpha: float,
    *,
    higher_is_better: bool = True,
) -> Comparison:
    """Non-inferiority of the candidate within maxDegradation, on success counts.

    `higher_is_better=False` is for failure rates: the counts given are still successes
    (requests that did not fail), and the numbers reported are the failure rates'.
    """
    assert check.max_degradation is not None
    sign = 1.0 if higher_is_better else -1.0
    cand_value = candidate.rate if higher_is_better else 1.0 - candidate.rate
    base_value = baseline.rate if higher_is_better else 1.0 - baseline.rate
    margin = check.max_degradation
    if check.degradation == Degradation.RELATIVE:
        margin *= base_value
    # Tuned to the spec's margin, not the relative one: it must not depend on the data.
    lo, hi = asymptotic_difference_cs(
        candidate.successes,
        candidate.samples,
        baseline.successes,
        baseline.samples,
        alpha,
        check.max_degradation,
    )
    success_lo, success_hi = float(lo), float(hi)
    if success_hi < -margin:
        verdict, where = Verdict.FAIL, "below" if higher_is_better else "above"
    elif success_lo > -margin:
        verdict, where = Verdict.PASS, "above" if higher_is_better else "below"
    else:
        verdict, where = Verdict.INCONCLUSIVE, "straddles"
    # In the metric's own direction: a failure-rate difference is minus the success one.
    lower, upper = (success_lo, success_hi) if higher_is_better else (-success_hi, -success_lo)
    text = (
        f"{cand_value:.3f} vs baseline {base_value:.3f} "
        f"(n={candidate.samples}/{baseline.samples}): difference "
        f"[{lower:+.3f}, {upper:+.3f}] {where} {-sign * margin:+.3f}"
    )
    return Comparison(verdict, lower, upper, margin, text)


def _successes(t: Tally) -> Counts:
    return Counts(t.trials - t.events, t.trials)


def _tally_gap(check: MetricCheck, who: str, t: Tally | None) -> str | None:
    """Why a version's tally cannot be judged yet, or None when it can."""
    if t is None or t.trials <= 0:
        return f"no requests for the {who}"
    if t.trials < check.min_samples:
        return f"{who} n={t.trials} < minSamples {check.min_samples}"
    return None


def evaluate_failure_rate(
    check: MetricCheck, candidate: Measurement, baseline: Measurement | None, alpha: float
) -> MetricResult:
    """errorRate / fallbackRate: absolute bounds on the windowed rate, and the confidence
    sequence against the baseline on the cumulative tallies; the worst verdict wins."""
    verdicts: list[Verdict] = []
    parts: list[str] = []
    absolute: MetricResult | None = None
    if check.min is not None or check.max is not None:
        absolute = evaluate_threshold(
            check.model_copy(update={"max_degradation": None}), candidate, None
        )
        verdicts.append(absolute.verdict)
        parts.append(absolute.message.removeprefix(f"{label(check)}: ").removeprefix(label(check)))
    relative: Comparison | None = None
    cand_t = candidate.tally
    base_t = baseline.tally if baseline is not None else None
    if check.max_degradation is not None:
        gap = _tally_gap(check, "candidate", cand_t) or _tally_gap(check, "baseline", base_t)
        if gap is not None:
            verdicts.append(Verdict.INCONCLUSIVE)
            parts.append(gap)
        else:
            assert cand_t is not None and base_t is not None
            relative = compare(
                check, _successes(cand_t), _successes(base_t), alpha, higher_is_better=False
            )
            verdicts.append(relative.verdict)
            parts.append(f"{relative.text} ({(1 - alpha) * 100:g}% CS)")
    text = "; ".join(p.strip() for p in parts)
    if relative is not None:
        assert cand_t is not None and base_t is not None
        return MetricResult(
            metric=check.name,
            verdict=worst(verdicts),
            candidate=cand_t.rate,
            baseline=base_t.rate,
            candidate_samples=cand_t.trials,
            baseline_samples=base_t.trials,
            lower=relative.lower,
            upper=relative.upper,
            message=f"{label(check)} {text}",
        )
    return MetricResult(
        metric=check.name,
        verdict=worst(verdicts),
        candidate=absolute.candidate if absolute is not None else None,
        candidate_samples=absolute.candidate_samples if absolute is not None else None,
        message=f"{label(check)} {text}",
    )


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
            c = compare(check, cand, base, each)
            lower, upper = c.lower, c.upper
            verdicts.append(c.verdict)
            parts.append(c.text)
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

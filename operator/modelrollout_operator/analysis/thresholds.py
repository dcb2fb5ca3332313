"""Rate-like metrics (error rate, latency quantiles, custom PromQL): bounds on a point value.

The provider already reduced the window to one number per version (a rate or a
histogram_quantile), so the check compares that number with the absolute bounds and with the
baseline's value moved by the allowed degradation (absolute: in the metric's units;
relative: a fraction of the baseline's value). Fewer than `minSamples` requests behind either
value, or a missing value, is inconclusive: missing data is never a pass.
"""

from __future__ import annotations

from ..api.v1alpha1 import Degradation, MetricCheck, MetricResult, Verdict
from .combining import worst
from .formatting import format_value, label
from .observations import Measurement


def _insufficient(check: MetricCheck, who: str, m: Measurement) -> MetricResult | None:
    if m.value is None:
        return MetricResult(
            metric=check.name,
            verdict=Verdict.INCONCLUSIVE,
            message=f"{label(check)}: no data for the {who}",
        )
    if m.samples < check.min_samples:
        return MetricResult(
            metric=check.name,
            verdict=Verdict.INCONCLUSIVE,
            candidate=m.value if who == "candidate" else None,
            message=f"{label(check)}: {who} n={m.samples} < minSamples {check.min_samples}",
        )
    return None


def degraded_limit(check: MetricCheck, baseline: float) -> float:
    """The worst value the candidate may have, given the baseline's value."""
    assert check.max_degradation is not None
    margin = check.max_degradation
    if check.degradation == Degradation.RELATIVE:
        margin *= abs(baseline)
    return baseline + margin if check.lower_is_better else baseline - margin


def evaluate_threshold(
    check: MetricCheck, candidate: Measurement, baseline: Measurement | None
) -> MetricResult:
    """pass / fail / inconclusive for a rate-like metric, with the numbers that led there."""
    early = _insufficient(check, "candidate", candidate)
    if early is not None:
        return early
    assert candidate.value is not None
    value = candidate.value

    def fmt(x: float) -> str:
        return format_value(check, x)

    verdicts: list[Verdict] = []
    parts: list[str] = []
    if check.min is not None:
        ok = value >= check.min
        verdicts.append(Verdict.PASS if ok else Verdict.FAIL)
        parts.append(f"{fmt(value)} {'>=' if ok else '<'} min {fmt(check.min)}")
    if check.max is not None:
        ok = value <= check.max
        verdicts.append(Verdict.PASS if ok else Verdict.FAIL)
        parts.append(f"{fmt(value)} {'<=' if ok else '>'} max {fmt(check.max)}")
    base_value: float | None = None
    if check.max_degradation is not None:
        missing = baseline if baseline is not None else Measurement(value=None)
        early = _insufficient(check, "baseline", missing)
        if early is not None:
            verdicts.append(Verdict.INCONCLUSIVE)
            parts.append(early.message.removeprefix(f"{label(check)}: "))
        else:
            assert baseline is not None and baseline.value is not None
            base_value = baseline.value
            limit = degraded_limit(check, base_value)
            ok = value <= limit if check.lower_is_better else value >= limit
            verdicts.append(Verdict.PASS if ok else Verdict.FAIL)
            cmp = ("<=" if ok else ">") if check.lower_is_better else (">=" if ok else "<")
            parts.append(f"{fmt(value)} vs baseline {fmt(base_value)}: {cmp} limit {fmt(limit)}")
    verdict = worst(verdicts)
    return MetricResult(
        metric=check.name,
        verdict=verdict,
        candidate=value,
        baseline=base_value,
        candidate_samples=candidate.samples,
        baseline_samples=baseline.samples if baseline is not None else None,
        message=f"{label(check)} {'; '.join(parts)} (n={candidate.samples})",
    )

"""The candidate against the baseline in words, from an analysis run's confidence sequences.

A shadow run moves no user traffic, so its verdict is the comparison itself: the shadow model
is judged better, worse, or no worse within the margin than the served one, on each metric
whose check compares with the baseline through a confidence sequence (accuracy; error and
fallback rates). Pure: the checks and a run in, words out.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from ..api.v1alpha1 import AnalysisRun, MetricCheck, MetricKind, MetricResult


class Standing(StrEnum):
    BETTER = "better"  # the whole CS of the difference lies on the good side of 0
    WORSE = "worse"  # the whole CS lies on the bad side of 0
    UNDECIDED = "undecided"  # the CS holds 0: no difference shown either way


def standing(check: MetricCheck, result: MetricResult) -> Standing | None:
    """Where the candidate stands against the baseline on one metric, or None when the
    result carries no confidence sequence of the difference."""
    proportion = check.kind == MetricKind.ACCURACY or check.is_failure_rate
    if not proportion or check.max_degradation is None:
        return None
    if result.lower is None or result.upper is None or result.baseline is None:
        return None
    # The CS is of candidate - baseline in the metric's units: for failure rates, lower is
    # better.
    good_side_lo, good_side_hi = (
        (result.lower, result.upper)
        if not check.lower_is_better
        else (-result.upper, -result.lower)
    )
    if good_side_lo > 0:
        return Standing.BETTER
    if good_side_hi < 0:
        return Standing.WORSE
    return Standing.UNDECIDED


def _phrase(check: MetricCheck, result: MetricResult, where: Standing) -> str:
    assert result.candidate is not None and result.baseline is not None
    numbers = (
        f"{result.candidate:.3f} vs {result.baseline:.3f}, difference "
        f"[{result.lower:+.3f}, {result.upper:+.3f}]"
    )
    words = {
        Standing.BETTER: "better than the baseline",
        Standing.WORSE: "worse than the baseline",
        Standing.UNDECIDED: "no different from the baseline within the evidence",
    }[where]
    return f"{words} on {check.name} ({numbers})"


def comparison(
    checks: Sequence[MetricCheck], run: AnalysisRun | None
) -> list[tuple[Standing, str]]:
    """Each compared proportion of `run`: where the candidate stands, and that in words."""
    if run is None:
        return []
    by_name = {c.name: c for c in checks}
    found = []
    for result in run.results:
        check = by_name.get(result.metric)
        where = standing(check, result) if check is not None else None
        if check is not None and where is not None:
            found.append((where, _phrase(check, result, where)))
    return found


def judged(
    checks: Sequence[MetricCheck], run: AnalysisRun | None, only: Standing | None = None
) -> str:
    """ "judged better than the baseline on accuracy (...)", or "" when nothing compares
    (with `only`, the metrics where the candidate stands so)."""
    phrases = [phrase for where, phrase in comparison(checks, run) if only in (None, where)]
    return f"judged {'; '.join(phrases)}" if phrases else ""

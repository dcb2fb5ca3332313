"""Many verdicts into one: the worst wins (Argo Rollouts' assessMetricStatus)."""

from __future__ import annotations

from collections.abc import Iterable

from ..api.v1alpha1 import MetricResult, Verdict

_SEVERITY = {Verdict.PASS: 0, Verdict.INCONCLUSIVE: 1, Verdict.FAIL: 2}


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """fail > inconclusive > pass; nothing to judge is inconclusive, never a pass."""
    found = list(verdicts)
    if not found:
        return Verdict.INCONCLUSIVE
    return max(found, key=_SEVERITY.__getitem__)


def combine(results: Iterable[MetricResult]) -> Verdict:
    """The analysis verdict over every metric's result."""
    return worst(r.verdict for r in results)

"""Count one analysis: per-metric verdicts, failed checks, missing data, and their consequences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from ..analysis import combine, evaluate, is_missing
from ..api.v1alpha1 import (
    AnalysisRun,
    MetricCheck,
    MetricResult,
    NoDataPolicy,
    Verdict,
    format_duration,
    parse_duration,
)
from .comparing import Standing, judged
from .model import MetricObservation
from .passing import ANALYSIS, Pass, failing, summary

#: How many analysis runs status keeps (the newest last).
KEPT_RUNS = 10


def index_observations(
    observations: Sequence[MetricObservation],
) -> dict[str, MetricObservation]:
    by_name: dict[str, MetricObservation] = {}
    for obs in observations:
        if obs.metric in by_name:
            raise ValueError(f"metric {obs.metric!r} observed twice in one analysis")
        by_name[obs.metric] = obs
    return by_name


def _evaluate_safely(
    check: MetricCheck, obs: MetricObservation | None, alpha: float
) -> MetricResult:
    # A provider that returns impossible numbers must not wedge the loop: the metric is
    # inconclusive (never a pass) and the message says why.
    try:
        return evaluate(check, obs, alpha)
    except ValueError as exc:
        return MetricResult(
            metric=check.name,
            verdict=Verdict.INCONCLUSIVE,
            message=f"{check.name}: invalid observation: {exc}",
        )


def record_analysis(p: Pass, observations: Sequence[MetricObservation]) -> None:
    """Judge the observations, append the run, and roll back when the limits say so."""
    spec, st = p.spec, p.status
    analysis = spec.analysis
    by_name = index_observations(observations)
    results = [_evaluate_safely(c, by_name.get(c.name), analysis.alpha) for c in analysis.metrics]
    verdict = combine(results)
    run = AnalysisRun(
        time=p.now, step=st.current_step, weight=st.weight, verdict=verdict, results=results
    )
    st.analysis = [*st.analysis, run][-KEPT_RUNS:]
    st.last_analysis_at = p.now

    missing = [c.name for c in analysis.metrics if is_missing(c, by_name.get(c.name))]
    st.no_data_since = (st.no_data_since or p.now) if missing else None

    if verdict == Verdict.FAIL:
        st.failed_checks += 1
        p.set_condition(ANALYSIS, "False", "Failed", failing(run))
        if st.failed_checks >= analysis.failure_limit:
            worse = judged(analysis.metrics, run, Standing.WORSE)
            p.roll_back(
                "AnalysisFailed",
                f"analysis failed {st.failed_checks} times (failureLimit "
                f"{analysis.failure_limit}): {failing(run)}" + (f"; {worse}" if worse else ""),
            )
            return
        return
    if verdict == Verdict.PASS:
        p.set_condition(ANALYSIS, "True", "Passed", summary(run))
        return

    if missing and st.no_data_since is not None:
        after = parse_duration(analysis.no_data.after)
        if p.now - st.no_data_since >= timedelta(seconds=after):
            why = (
                f"no data for {', '.join(missing)} since {st.no_data_since.isoformat()} "
                f"(noData.after {format_duration(after)})"
            )
            if analysis.no_data.policy == NoDataPolicy.ROLLBACK:
                p.roll_back("NoData", why)
                return
            message = f"holding: {why}"
            if p.set_condition(ANALYSIS, "Unknown", "NoData", message):
                p.event("NoData", f"{p.where()}: {message}", warning=True)
            return
    p.set_condition(ANALYSIS, "Unknown", "Inconclusive", summary(run))

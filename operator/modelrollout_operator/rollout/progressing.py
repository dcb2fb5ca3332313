"""Moving forward: step advances, manual gates, A/B verdicts, shadow verdicts, promotion.

The rule every move obeys: the weight rises only on a passing analysis taken at the current
step after the step began, and never when either of the two latest analyses failed (so a
failing verdict is followed by no increase in the same pass or the next).
"""

from __future__ import annotations

from datetime import timedelta

from ..api.v1alpha1 import (
    ExperimentPhase,
    PromotionMode,
    StrategyType,
    Verdict,
    format_duration,
    parse_duration,
)
from .comparing import judged
from .holding import holdback_applies, promote_with_scale_down, start_holdback
from .passing import ANALYSIS, PROGRESSING, Pass, failing, summary

AWAITING_PROMOTION = "AwaitingPromotion"
AWAITING_APPROVAL = "AwaitingApproval"


def recent_failure(p: Pass) -> bool:
    return any(r.verdict == Verdict.FAIL for r in p.status.analysis[-2:])


def passed_at_step(p: Pass) -> bool:
    """The latest analysis passed, at this step, since the step began, after no failure."""
    run = p.latest_run()
    started = p.status.step_started_at
    return (
        run is not None
        and run.verdict == Verdict.PASS
        and run.step == p.status.current_step
        and started is not None
        and run.time >= started
        and not recent_failure(p)
    )


def analysis_note(p: Pass) -> str:
    """Where the analysis stands, from status alone (so a re-run writes the same words)."""
    run = p.latest_run()
    cond = p.condition(ANALYSIS)
    if cond is not None and cond.reason == "NoData" and cond.status == "Unknown":
        return cond.message
    if run is not None and run.verdict == Verdict.FAIL:
        limit = p.spec.analysis.failure_limit
        return f"analysis failed ({p.status.failed_checks}/{limit}): {failing(run)}"
    return f"latest analysis: {summary(run)}"


def _hold(p: Pass, reason: str, what: str) -> None:
    message = f"{p.where()}: {what}; {analysis_note(p)}"
    if p.set_condition(PROGRESSING, "True", reason, message) and reason == AWAITING_APPROVAL:
        p.event(reason, message)
    p.status.message = message


def promote(p: Pass, why: str) -> None:
    """Promoting -> Succeeded in one pass: the candidate becomes the stable version at 100%.

    With `promotion.holdback`, HoldingBack instead (see holding.py).
    """
    if holdback_applies(p.spec):
        start_holdback(p, why)
        return
    promote_with_scale_down(p, why)


def _awaiting_promotion(p: Pass) -> str:
    return f"{p.where()}: all steps passed, waiting for `modelrollout promote`; {analysis_note(p)}"


def _all_steps_done(p: Pass) -> None:
    if p.spec.promotion.mode == PromotionMode.MANUAL:
        message = _awaiting_promotion(p)
        if p.set_condition(PROGRESSING, "True", AWAITING_PROMOTION, message):
            p.event(AWAITING_PROMOTION, message)
        p.status.message = message
        return
    promote(p, f"analysis passed: {summary(p.latest_run())}")


def _advance(p: Pass) -> None:
    st = p.status
    if st.current_step >= p.total:
        _all_steps_done(p)
        return
    nxt = p.steps[st.current_step]
    why = summary(p.latest_run())
    st.current_step = nxt.number
    st.weight = nxt.weight
    st.step_started_at = p.now
    message = f"step {nxt.number}/{p.total}: weight {nxt.weight}%, after {why}"
    p.set_condition(PROGRESSING, "True", "StepAdvanced", message)
    p.event("StepAdvanced", message)
    st.message = message


def _canary(p: Pass, approvable_step: int | None) -> None:
    st, step = p.status, p.step
    assert step is not None
    if step.gated:
        if approvable_step == step.number and st.approved_step != step.number:
            st.approved_step = step.number  # recorded, so a repeated approval is a no-op
            p.event("Approved", f"{p.where()}: manual gate approved")
        if st.approved_step != step.number:
            _hold(p, AWAITING_APPROVAL, "waiting for `modelrollout approve`")
            return
        if recent_failure(p):
            _hold(p, "Holding", "approved, but analysis failed recently: holding")
            return
        if p.seconds_in_step() <= 0:
            # Reached in this very pass: its weight must be applied before it is left, so a
            # pre-approved gate never makes a step vanish.
            _hold(p, "Approved", "approved; moving on at the next pass")
            return
        _advance(p)
        return
    if p.seconds_in_step() >= step.bake_seconds and passed_at_step(p):
        _advance(p)
        return
    _hold(p, "Analysing", f"baking {format_duration(step.bake_seconds)}")


def _ab_test(p: Pass) -> None:
    ab = p.spec.strategy.ab_test
    assert ab is not None
    elapsed = p.seconds_in_step()
    min_s, max_s = parse_duration(ab.min_duration), parse_duration(ab.max_duration)
    if elapsed >= min_s and passed_at_step(p):
        _all_steps_done(p)
        return
    if elapsed >= max_s:
        p.roll_back(
            "Deadline",
            f"no passing verdict within maxDuration {ab.max_duration} "
            f"(latest analysis: {summary(p.latest_run())})",
        )
        return
    remaining = format_duration(max(0.0, min_s - elapsed))
    wait = f"no verdict before minDuration ({remaining} left)" if elapsed < min_s else "waiting"
    _hold(p, "Analysing", f"A/B test {wait}; deadline {ab.max_duration}")


def _shadow(p: Pass) -> None:
    sh = p.spec.strategy.shadow
    assert sh is not None
    if p.seconds_in_step() >= parse_duration(sh.duration) and passed_at_step(p):
        # The verdict of a shadow run is the comparison itself (better, or no worse within
        # the margin), with the numbers behind it.
        run = p.latest_run()
        verdict = judged(p.spec.analysis.metrics, run)
        message = (
            f"candidate passed in shadow ({sh.percent}% of requests mirrored for {sh.duration}): "
            f"{verdict + ': ' if verdict else ''}{summary(run)}; "
            "user traffic never moved: it can now be canaried"
        )
        p.finish(ExperimentPhase.SUCCEEDED, "ShadowPassed", message, weight=0)
        return
    _hold(p, "Analysing", f"shadowing for {sh.duration}")


def progress(p: Pass, approvable_step: int | None) -> None:
    """Move as far as the facts allow in this pass (a fixpoint: a re-run moves no further)."""
    for _ in range(p.total + 1):
        if p.finished or p.status.phase != ExperimentPhase.PROGRESSING:
            return
        cond = p.condition(PROGRESSING)
        if cond is not None and cond.reason == AWAITING_PROMOTION:
            # The verdict is in; only `promote`, `abort` or failures move it now.
            p.status.message = _awaiting_promotion(p)
            return
        before = p.status.current_step
        strategy = p.spec.strategy.type
        if strategy == StrategyType.CANARY:
            _canary(p, approvable_step)
        elif strategy == StrategyType.AB_TEST:
            _ab_test(p)
        else:
            _shadow(p)
        if p.status.current_step == before:
            return


def deadline_of(p: Pass) -> timedelta | None:
    """Time left to the A/B test's deadline, for the requeue."""
    ab = p.spec.strategy.ab_test
    if p.spec.strategy.type != StrategyType.AB_TEST or ab is None:
        return None
    return timedelta(seconds=parse_duration(ab.max_duration) - p.seconds_in_step())

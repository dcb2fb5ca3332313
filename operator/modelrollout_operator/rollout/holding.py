"""After the promotion: the holdback window, the scale-down delay, and `undo`.

A promotion with `promotion.holdback` does not end the Experiment: the phase is HoldingBack,
the promoted version serves `100 - percent` and the previous version (spec.baseline) keeps
`percent`, sticky as every share is. The same analysis goes on between the two, with the
same sides: the promoted version is still the *candidate* of the comparison and the previous
one its *baseline*, because the question is the same ("is the new one worse than the old
one?") and a failing verdict must mean "go back". The proportions start a fresh confidence
sequence at the promotion (`holdback.startedAt`), so a regression that appears after it is
not diluted by the evidence gathered before it.

Ends of the window:
- a failing analysis (failureLimit times) rolls back: RolledBack, the previous version at 100%;
- `undo` (or `abort`) does the same at once, reason Undone;
- the window ends with no recent failure: Succeeded, the promoted version at 100%, and the
  previous version is retired;
- `promote` ends the window early (Succeeded); the previous version not Ready ends it early
  too (nothing to go back to).

Pausing stops the window's clock (`holdback.pausedAt`): nothing is counted or ended while
paused, and on resume `endsAt` moves on by the time spent paused.

Without holdback, a promotion is Succeeded at once, and the previous version stays Ready
(without traffic) for `promotion.scaleDownDelay`: until then `undo` still puts it back at
100% in one pass (the only way out of a terminal phase); then it is retired.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from ..api.v1alpha1 import (
    ExperimentPhase,
    ExperimentSpec,
    ExperimentStatus,
    HoldbackStatus,
    StrategyType,
    format_duration,
    parse_duration,
)
from .analysing import record_analysis
from .model import MetricObservation
from .passing import PROGRESSING, Pass, failing, summary
from .planning import analysis_due, next_analysis_at

HOLDING_BACK = "HoldingBack"  # the Progressing condition's reason during the window


def holdback_applies(spec: ExperimentSpec) -> bool:
    """A promotion of this spec starts a holdback window (a shadow run promotes nothing)."""
    return spec.promotion.holdback is not None and spec.strategy.type != StrategyType.SHADOW


def undo_open(status: ExperimentStatus, now: datetime) -> bool:
    """`undo` can still bring the previous version back: within the window, or the delay."""
    hb = status.holdback
    if hb is None:
        return False
    if status.phase == ExperimentPhase.HOLDING_BACK:
        return True
    return status.phase == ExperimentPhase.SUCCEEDED and now < hb.ends_at


def retire_due(status: ExperimentStatus, now: datetime) -> bool:
    """The previous version may be retired now: promoted for good and past the undo window."""
    if status.phase != ExperimentPhase.SUCCEEDED or status.weight != 100:
        return False
    hb = status.holdback
    return hb is None or now >= hb.ends_at


def retire_at(status: ExperimentStatus) -> datetime | None:
    """When the previous version of a Succeeded Experiment is to be retired (None: now/never)."""
    if status.phase != ExperimentPhase.SUCCEEDED or status.holdback is None:
        return None
    return status.holdback.ends_at


def promote_with_scale_down(p: Pass, why: str) -> None:
    """Succeeded at 100%; the previous version idles Ready for the scale-down delay."""
    spec, st = p.spec, p.status
    delay = parse_duration(spec.promotion.scale_down_delay)
    message = f"promoted at {p.where()}: {why}; the candidate serves 100% as the new baseline" + (
        f"; {spec.baseline} stays Ready for {format_duration(delay)} "
        "(`modelrollout undo` restores it), then it is retired"
        if delay > 0
        else ""
    )
    p.finish(ExperimentPhase.SUCCEEDED, "Promoted", message, weight=100)
    st.holdback = HoldbackStatus(
        previous=spec.baseline,
        percent=0,
        started_at=p.now,
        ends_at=p.now + timedelta(seconds=delay),
    )


def start_holdback(p: Pass, why: str) -> None:
    """Promoted: the previous version keeps `percent` until the window ends."""
    spec, st = p.spec, p.status
    hb = spec.promotion.holdback
    assert hb is not None
    seconds = parse_duration(hb.duration)
    where = p.where()
    st.holdback = HoldbackStatus(
        previous=spec.baseline,
        percent=hb.percent,
        started_at=p.now,
        ends_at=p.now + timedelta(seconds=seconds),
    )
    st.weight = 100 - hb.percent
    st.failed_checks = 0  # the window judges afresh
    st.no_data_since = None
    message = (
        f"promoted at {where}: {why}; {spec.candidate} serves {st.weight}% and the previous "
        f"version {spec.baseline} keeps {hb.percent}% for {format_duration(seconds)} (holdback): "
        f"a regression rolls back to it, `modelrollout undo` restores it at once"
    )
    p.set_condition(PROGRESSING, "True", HOLDING_BACK, message)
    p.enter(ExperimentPhase.HOLDING_BACK, "Promoted", message)


def undo(p: Pass, why: str) -> None:
    """The previous version back at 100% now (RolledBack, reason Undone)."""
    p.roll_back("Undone", f"{why}: the previous version {p.spec.baseline} serves 100% again")


def _end_window(p: Pass, reason: str, what: str) -> None:
    spec, st = p.spec, p.status
    hb = st.holdback
    assert hb is not None
    message = (
        f"{what}: {spec.candidate} serves 100% as the new baseline; {hb.previous} is retired "
        f"(latest analysis: {summary(p.latest_run())})"
    )
    p.finish(ExperimentPhase.SUCCEEDED, reason, message, weight=100)
    st.holdback = hb.model_copy(update={"percent": 0, "ends_at": min(hb.ends_at, p.now)})


def hold_back(p: Pass, observations: Sequence[MetricObservation] | None) -> None:
    """One pass in the HoldingBack phase."""
    st, spec, world, intent = p.status, p.spec, p.world, p.intent
    hb = st.holdback
    assert hb is not None
    if intent.undo or intent.abort:
        undo(p, "undone by user during the holdback window")
        return
    if world.candidate_problem is not None or not world.candidate_ready:
        what = "was deleted" if world.candidate_missing else "is no longer Ready"
        p.roll_back("CandidateNotReady", f"the promoted version {spec.candidate} {what}")
        return
    if world.baseline_missing or world.baseline_problem is not None or not world.baseline_ready:
        _end_window(
            p,
            "HoldbackEnded",
            f"holdback ended early: the previous version {hb.previous} is not Ready "
            "(nothing to go back to)",
        )
        return
    if intent.promote:
        _end_window(p, "HoldbackEnded", "holdback ended early by `modelrollout promote`")
        return
    if spec.paused or intent.paused:
        # The window's clock stands still while paused: a person pausing to look must not
        # come back to a window that ran out (and a previous version retired) meanwhile.
        if hb.paused_at is None:
            st.holdback = hb.model_copy(update={"paused_at": p.now})
        st.message = (
            f"paused during the holdback window: no analysis counted and the window's clock "
            f"stands still ({spec.candidate} {st.weight}%, {hb.previous} {hb.percent}%, "
            f"{format_duration(_left(hb, p.now))} left)"
        )
        return
    if hb.paused_at is not None:
        hb = _resumed(hb, p.now)
        st.holdback = hb
    if observations is not None and analysis_due(spec, st, p.now):
        record_analysis(p, observations)
        if p.finished:
            return
    latest = p.latest_run()
    recent_fail = any(r.verdict.value == "fail" for r in st.analysis[-2:])
    if p.now >= hb.ends_at:
        if recent_fail:
            st.message = (
                f"holdback window over, held until an analysis passes after the failure "
                f"({st.failed_checks}/{spec.analysis.failure_limit}): {failing(latest)}"
                if latest is not None
                else "holdback window over"
            )
            return
        _end_window(
            p,
            "HoldbackEnded",
            f"holdback window of {format_duration((hb.ends_at - hb.started_at).total_seconds())} "
            "ended cleanly",
        )
        return
    left = format_duration(_left(hb, p.now))
    note = (
        f"analysis failed ({st.failed_checks}/{spec.analysis.failure_limit}): {failing(latest)}"
        if latest is not None and recent_fail
        else f"latest analysis: {summary(latest)}"
    )
    st.message = (
        f"holding back: {spec.candidate} {st.weight}%, previous {hb.previous} {hb.percent}% "
        f"for {left} more; {note}"
    )


def _left(hb: HoldbackStatus, now: datetime) -> float:
    """Seconds of the window still to run (counted up to the pause while paused)."""
    clock = hb.paused_at if hb.paused_at is not None else now
    return max(0.0, (hb.ends_at - clock).total_seconds())


def _resumed(hb: HoldbackStatus, now: datetime) -> HoldbackStatus:
    """The window after a pause: it ends later by the time it stood still."""
    assert hb.paused_at is not None
    stood = max(timedelta(0), now - hb.paused_at)
    return hb.model_copy(update={"ends_at": hb.ends_at + stood, "paused_at": None})


def requeue_in_holdback(p: Pass, floor: float) -> float:
    """Seconds to the next useful pass: the next analysis or the window's end."""
    st, spec = p.status, p.spec
    moments: list[datetime] = []
    due = next_analysis_at(spec, st)
    if due is not None:
        moments.append(due)
    if st.holdback is not None and st.holdback.ends_at > p.now:
        moments.append(st.holdback.ends_at)
    interval = spec.analysis.interval_seconds
    if not moments:
        return max(interval, floor)
    return max(min(min((m - p.now).total_seconds() for m in moments), interval), floor)

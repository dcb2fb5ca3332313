"""The state machine: (spec, status, facts, observations, intent, now) -> (status, actions).

One pass settles everything the inputs allow, in a fixed order of precedence:

1. finished experiments stay finished (terminal phases are absorbing), except that `undo`
   within the scale-down delay of a promotion brings the previous version back;
   HoldingBack (after a promotion with holdback) has its own pass (holding.py);
2. an interrupted RollingBack / Promoting completes;
3. a candidate or baseline that can never become Ready fails the experiment;
4. `abort` rolls back; a candidate that stops being Ready mid-rollout is rolled back
   (traffic never goes to a candidate that is not Ready);
5. `promote` promotes (when the candidate is Ready);
6. pause holds everything (no analysis counted); resume continues the step clock;
7. Pending starts once both versions are Ready;
8. a due analysis is counted once (`lastAnalysisAt`), possibly rolling back;
9. the strategy moves forward as far as the facts allow (`progressing`).

Actions are derived, not scripted: SetTraffic when the routing the status calls for changed
(`desired_traffic`), always on a rollback; an event for every transition. So a re-run with the
same inputs, or a restart from persisted status, repeats nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from ..api.v1alpha1 import (
    TERMINAL_PHASES,
    ExperimentPhase,
    ExperimentSpec,
    ExperimentStatus,
    StrategyType,
)
from .analysing import record_analysis
from .holding import hold_back, requeue_in_holdback, undo, undo_open
from .model import Action, Decision, MetricObservation, UserIntent, World
from .passing import PROGRESSING, READY, Pass
from .planning import analysis_due, next_analysis_at, require_aware
from .progressing import deadline_of, progress, promote, recent_failure
from .steps import steps_of
from .traffic import desired_traffic


def _readiness(p: Pass) -> None:
    w, spec = p.world, p.spec
    if w.baseline_ready and w.candidate_ready:
        p.set_condition(
            READY, "True", "VersionsReady", f"{spec.baseline} and {spec.candidate} are Ready"
        )
    elif not w.candidate_ready:
        p.set_condition(READY, "False", "CandidateNotReady", f"{spec.candidate} is not Ready")
    else:
        p.set_condition(READY, "False", "BaselineNotReady", f"{spec.baseline} is not Ready")


def _start(p: Pass) -> None:
    st, spec = p.status, p.spec
    first = p.steps[0]
    st.started_at = p.now
    st.step_started_at = p.now
    st.current_step = 1
    st.weight = first.weight
    if spec.strategy.type == StrategyType.SHADOW:
        message = f"started: shadowing {first.shadow_percent}% of requests to {spec.candidate}"
    elif spec.strategy.type == StrategyType.AB_TEST:
        message = f"started: A/B test with {first.weight}% of traffic on {spec.candidate}"
    else:
        message = f"started: step 1/{p.total}: weight {first.weight}% on {spec.candidate}"
    p.set_condition(PROGRESSING, "True", "Started", message)
    p.enter(ExperimentPhase.PROGRESSING, "Started", message)


def _pause(p: Pass) -> None:
    message = f"paused at {p.where()}: weight held, no analysis counted"
    if p.status.phase == ExperimentPhase.PAUSED:
        p.status.message = message  # the same words on every pass: re-runs change nothing
        return
    p.set_condition(PROGRESSING, "False", "Paused", message)
    p.enter(ExperimentPhase.PAUSED, "Paused", message)


def _resume(p: Pass) -> None:
    st = p.status
    cond = p.condition(PROGRESSING)
    paused_since = (
        cond.last_transition_time if cond is not None and cond.reason == "Paused" else None
    )
    if st.step_started_at is not None:
        if paused_since is not None and paused_since <= p.now:
            # The bake continues where it stopped: paused time does not count as baking.
            st.step_started_at = st.step_started_at + (p.now - paused_since)
        else:
            st.step_started_at = p.now  # pause time unknown: bake the step afresh
    st.no_data_since = None  # data missing while paused is not the candidate's fault
    started = st.started_at is not None
    message = f"resumed at {p.where()}"
    if started:
        p.set_condition(PROGRESSING, "True", "Resumed", message)
        p.enter(ExperimentPhase.PROGRESSING, "Resumed", message)
    else:
        p.set_condition(PROGRESSING, "False", "WaitingForReady", message)
        p.enter(ExperimentPhase.PENDING, "Resumed", message)


def _not_ready_names(p: Pass) -> str:
    names = [
        name
        for name, ready in (
            (f"baseline {p.spec.baseline}", p.world.baseline_ready),
            (f"candidate {p.spec.candidate}", p.world.candidate_ready),
        )
        if not ready
    ]
    return " and ".join(names)


def _baseline_deleted(p: Pass) -> None:
    """The baseline's ModelVersion was deleted mid-rollout: nothing to roll back to.

    The candidate is the only version left. When it is Ready and the analysis has not failed
    lately, it serves everything (weight 100, not a promotion: the baseline is not retired
    and no verdict was reached); otherwise weight 0, which the router cannot apply until a
    baseline exists again (the TrafficInSync condition says so). Either way the Experiment is
    Failed: a person decides what comes next.
    """
    spec, world = p.spec, p.world
    gone = f"baseline {spec.baseline} was deleted at {p.where()}"
    if world.candidate_ready and not recent_failure(p):
        message = (
            f"{gone}: candidate {spec.candidate} is the only version left and serves 100% "
            "(not promoted: no verdict was reached); recreate the baseline and start a new "
            "Experiment, or promote the candidate with one"
        )
        p.finish(ExperimentPhase.FAILED, "BaselineDeleted", message, weight=100, warning=True)
        return
    why = "its analysis failed lately" if world.candidate_ready else "it is not Ready"
    message = (
        f"{gone}, and candidate {spec.candidate} cannot take the traffic ({why}): candidate "
        f"weight set to 0; traffic reaches no version until {spec.baseline} exists again"
    )
    p.finish(ExperimentPhase.FAILED, "BaselineDeleted", message, weight=0, warning=True)


def _run(
    p: Pass,
    observations: Sequence[MetricObservation] | None,
    approvable_step: int | None,
) -> None:
    st, spec, world, intent = p.status, p.spec, p.world, p.intent
    if st.phase == ExperimentPhase.SUCCEEDED:  # only reached with an undo in its window
        undo(p, "undone by user within the scale-down delay")
        return
    if st.phase == ExperimentPhase.HOLDING_BACK:
        hold_back(p, observations)
        return
    if st.phase == ExperimentPhase.ROLLING_BACK:
        p.roll_back("RolledBack", "completing an interrupted rollback")
        return
    if st.phase == ExperimentPhase.PROMOTING:
        promote(p, "completing an interrupted promotion")
        return
    for role, name, problem in (
        ("candidate", spec.candidate, world.candidate_problem),
        ("baseline", spec.baseline, world.baseline_problem),
    ):
        if problem is not None:
            p.finish(
                ExperimentPhase.FAILED,
                f"{role.capitalize()}Failed",
                f"{role} {name} cannot become Ready: {problem}; candidate weight set to 0",
                weight=0,
                warning=True,
            )
            return
    if st.started_at is not None and world.baseline_missing:
        _baseline_deleted(p)
        return
    if intent.abort:
        p.roll_back("Aborted", "aborted by user")
        return
    if intent.undo and st.started_at is not None:
        undo(p, "undone by user before the promotion")
        return
    _readiness(p)
    if st.started_at is not None and not world.candidate_ready:
        if world.candidate_missing:
            p.roll_back("CandidateDeleted", f"candidate {spec.candidate} was deleted")
        else:
            p.roll_back("CandidateNotReady", f"candidate {spec.candidate} is no longer Ready")
        return
    if intent.promote and world.candidate_ready:
        promote(p, "promoted by user")
        return
    if spec.paused or intent.paused:
        _pause(p)
        return
    if st.phase == ExperimentPhase.PAUSED:
        _resume(p)
    if st.phase == ExperimentPhase.PENDING:
        if not (world.candidate_ready and world.baseline_ready):
            message = f"waiting for {_not_ready_names(p)} to be Ready"
            if intent.promote:
                message += "; promotion requested: it waits for a Ready candidate"
            p.set_condition(PROGRESSING, "False", "WaitingForReady", message)
            st.message = message
            return
        _start(p)
    if not world.baseline_ready:
        st.message = f"{p.where()}: holding: baseline {spec.baseline} is not Ready"
        return
    if observations is not None and analysis_due(spec, st, p.now):
        record_analysis(p, observations)
        if p.finished:
            return
    progress(p, approvable_step)


def _requeue_after(p: Pass) -> float | None:
    st, spec = p.status, p.spec
    if st.phase in TERMINAL_PHASES:
        return None
    if st.phase == ExperimentPhase.HOLDING_BACK:
        return requeue_in_holdback(p, min(1.0, max(spec.analysis.interval_seconds, 0.1)))
    interval = spec.analysis.interval_seconds
    floor = min(1.0, max(interval, 0.1))  # never a hot loop, even with a zero interval
    if st.phase != ExperimentPhase.PROGRESSING:
        return max(interval, floor)
    moments: list[datetime] = []
    due = next_analysis_at(spec, st)
    if due is not None:
        moments.append(due)
    step = p.step
    if step is not None and st.step_started_at is not None:
        bake_end = st.step_started_at + timedelta(seconds=step.bake_seconds)
        if bake_end > p.now:
            moments.append(bake_end)
    left = deadline_of(p)
    if left is not None:
        moments.append(p.now + left)
    if not moments:
        return max(interval, floor)
    return max(min((m - p.now).total_seconds() for m in moments), floor)


def reconcile(
    spec: ExperimentSpec,
    status: ExperimentStatus,
    world: World,
    observations: Sequence[MetricObservation] | None,
    intent: UserIntent,
    now: datetime,
) -> Decision:
    """One pass of the rollout state machine: the new status and the actions to apply.

    `observations` are the metrics for `plan_observation(...)` (None when nothing was
    measured); they count only when an analysis is due, so re-running a pass never counts
    the same result twice. `now` must be timezone-aware.
    """
    require_aware(now)
    if status.phase in TERMINAL_PHASES and not (intent.undo and undo_open(status, now)):
        return Decision(status=status, actions=(), requeue_after=None)
    steps = steps_of(spec)
    st = status.model_copy(deep=True)
    st.total_steps = len(steps)
    st.baseline_version = world.baseline_version or st.baseline_version
    st.candidate_version = world.candidate_version or st.candidate_version
    p = Pass(spec=spec, status=st, world=world, intent=intent, now=now, steps=steps)
    # A bare `approve` opens the gate of the step current when the pass began, never one
    # reached during it; `approve_step` names its step.
    approvable = intent.approve_step or (st.current_step if intent.approve else None)
    _run(p, observations, approvable)
    actions: list[Action] = []
    before, after = desired_traffic(spec, status), desired_traffic(spec, st)
    if p.force_traffic or after != before:
        actions.append(after)
    actions.extend(p.events)
    return Decision(status=st, actions=tuple(actions), requeue_after=_requeue_after(p))

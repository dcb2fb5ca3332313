"""One reconcile pass in progress: the working status, and the events it has raised so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ..api.v1alpha1 import (
    AnalysisRun,
    Condition,
    ExperimentPhase,
    ExperimentSpec,
    ExperimentStatus,
    Verdict,
    set_condition,
)
from .model import EmitEvent, UserIntent, World
from .steps import Step

#: Condition types on an Experiment's status.
READY = "Ready"  # both versions can serve
PROGRESSING = "Progressing"  # the rollout is moving (False: paused, waiting, or finished)
ANALYSIS = "Analysis"  # the latest analysis passed (Unknown: inconclusive or no data)


@dataclass
class Pass:
    spec: ExperimentSpec
    status: ExperimentStatus  # a private copy, changed in place during the pass
    world: World
    intent: UserIntent
    now: datetime
    steps: list[Step]
    events: list[EmitEvent] = field(default_factory=list)
    force_traffic: bool = False  # a rollback re-states weight 0 even if it looks unchanged
    finished: bool = False

    # -- reading --------------------------------------------------------------------------

    @property
    def step(self) -> Step | None:
        n = self.status.current_step
        return self.steps[n - 1] if 1 <= n <= len(self.steps) else None

    @property
    def total(self) -> int:
        return len(self.steps)

    def where(self) -> str:
        """ "step 2/4 (weight 25%)", or "before the first step"."""
        st = self.status
        hb = st.holdback
        if hb is not None and st.phase in (ExperimentPhase.HOLDING_BACK, ExperimentPhase.SUCCEEDED):
            return f"after the promotion ({hb.previous} at {hb.percent}%)"
        if st.current_step == 0:
            return "before the first step"
        shadow = self.step.shadow_percent if self.step is not None else 0
        share = f"shadow {shadow}%" if shadow else f"weight {st.weight}%"
        return f"step {st.current_step}/{self.total} ({share})"

    def latest_run(self) -> AnalysisRun | None:
        return self.status.analysis[-1] if self.status.analysis else None

    def seconds_in_step(self) -> float:
        started = self.status.step_started_at
        return (self.now - started).total_seconds() if started is not None else 0.0

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.status.conditions if c.type == type_), None)

    # -- writing --------------------------------------------------------------------------

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        kind: Literal["Normal", "Warning"] = "Warning" if warning else "Normal"
        self.events.append(EmitEvent(reason=reason, message=message, type=kind))

    def set_condition(
        self, type_: str, status: Literal["True", "False", "Unknown"], reason: str, message: str
    ) -> bool:
        """Set a condition; True when its status or reason changed (a transition to report)."""
        old = self.condition(type_)
        new = Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=self.now,
        )
        self.status.conditions = set_condition(self.status.conditions, new)
        return old is None or old.status != status or old.reason != reason

    def enter(
        self, phase: ExperimentPhase, reason: str, message: str, warning: bool = False
    ) -> None:
        """A phase change: exactly one event, and the status message."""
        self.status.phase = phase
        self.status.message = message
        self.event(reason, message, warning)

    def finish(
        self,
        phase: ExperimentPhase,
        reason: str,
        message: str,
        *,
        weight: int,
        warning: bool = False,
    ) -> None:
        """End the experiment: a terminal phase, the final weight, one event."""
        st = self.status
        st.weight = weight
        st.finished_at = self.now
        self.force_traffic = True
        self.finished = True
        self.set_condition(PROGRESSING, "False", reason, message)
        self.enter(phase, reason, message, warning)

    def roll_back(self, reason: str, why: str) -> None:
        """Candidate to 0 in one action; RolledBack (RollingBack is only ever transient)."""
        where = self.where()
        place = where if where.startswith("after the promotion") else f"at {where}"
        message = f"rolled back {place}: {why}; candidate weight set to 0"
        self.finish(ExperimentPhase.ROLLED_BACK, reason, message, weight=0, warning=True)


def summary(run: AnalysisRun | None) -> str:
    """The numbers of an analysis run, for events and messages."""
    if run is None:
        return "no analysis yet"
    return "; ".join(r.message for r in run.results) or run.verdict.value


def failing(run: AnalysisRun) -> str:
    """The messages of the metrics that failed (or all, when none failed)."""
    bad = [r.message for r in run.results if r.verdict == Verdict.FAIL]
    return "; ".join(bad) if bad else summary(run)

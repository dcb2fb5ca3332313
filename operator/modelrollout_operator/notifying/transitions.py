"""Which transitions of a pass are worth a notification, and what each one says. Pure.

A notification is derived from the status before and after a pass and the events the engine
raised in it, so a re-run of a pass that changed nothing notifies nothing, and every driver
(kopf, local) notifies the same things.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..api.v1alpha1 import (
    AnalysisRun,
    ExperimentPhase,
    ExperimentSpec,
    ExperimentStatus,
    NotifyOn,
)
from ..rollout.model import EmitEvent

#: Event reasons that are notifications of their own.
_BY_REASON = {
    "Started": NotifyOn.STARTED,
    "StepAdvanced": NotifyOn.STEP_ADVANCED,
    "Paused": NotifyOn.PAUSED,
}


@dataclass(frozen=True)
class Notification:
    """One transition of one Experiment: its kind, and the JSON document receivers get."""

    kind: NotifyOn
    document: dict[str, Any]

    @property
    def text(self) -> str:
        """One line for chat: what happened, where, and the analysis numbers."""
        d = self.document
        head = f"[{d['namespace']}/{d['experiment']}] {self.kind.value}: {d['message']}"
        return head if len(head) <= 3000 else head[:2997] + "..."


def _run_document(run: AnalysisRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "time": run.time.isoformat(),
        "step": run.step,
        "weight": run.weight,
        "verdict": run.verdict.value,
        "metrics": [
            {
                "metric": r.metric,
                "verdict": r.verdict.value,
                "candidate": r.candidate,
                "baseline": r.baseline,
                "candidateSamples": r.candidate_samples,
                "baselineSamples": r.baseline_samples,
                "lower": r.lower,
                "upper": r.upper,
                "message": r.message,
            }
            for r in run.results
        ],
    }


def weights_of(spec: ExperimentSpec, status: ExperimentStatus) -> dict[str, int]:
    """Each ModelVersion's share of user traffic per status."""
    w = status.weight
    if status.phase == ExperimentPhase.SUCCEEDED and w == 100:
        return {spec.baseline: 0, spec.candidate: 100}
    return {spec.baseline: 100 - w, spec.candidate: w}


def document(
    kind: NotifyOn,
    *,
    name: str,
    namespace: str,
    spec: ExperimentSpec,
    status: ExperimentStatus,
    reason: str,
    message: str,
    now: datetime,
) -> dict[str, Any]:
    """The generic webhook's JSON body (docs/contracts.md, "Notifications")."""
    hb = status.holdback
    return {
        "kind": kind.value,
        "reason": reason,
        "time": now.isoformat(),
        "experiment": name,
        "namespace": namespace,
        "model": spec.model,
        "baseline": spec.baseline,
        "candidate": spec.candidate,
        "phase": status.phase.value,
        "step": status.current_step,
        "totalSteps": status.total_steps,
        "weights": weights_of(spec, status),
        "message": message,
        "failedChecks": status.failed_checks,
        "failureLimit": spec.analysis.failure_limit,
        "analysis": _run_document(status.analysis[-1] if status.analysis else None),
        "holdback": None
        if hb is None
        else {
            "previous": hb.previous,
            "percent": hb.percent,
            "startedAt": hb.started_at.isoformat(),
            "endsAt": hb.ends_at.isoformat(),
        },
    }


def _kind(
    old: ExperimentStatus, new: ExperimentStatus, events: Sequence[EmitEvent]
) -> list[tuple[NotifyOn, str, str]]:
    """(kind, reason, message) of each transition of one pass, in order."""
    out: list[tuple[NotifyOn, str, str]] = []
    reasons = {e.reason: e.message for e in events}
    for event in events:
        kind = _BY_REASON.get(event.reason)
        if kind is not None:
            out.append((kind, event.reason, event.message))
    phase_changed = new.phase != old.phase
    last = events[-1] if events else None
    reason, message = (last.reason, last.message) if last else ("", new.message)
    if phase_changed and new.phase == ExperimentPhase.ROLLED_BACK:
        kind = NotifyOn.UNDONE if "Undone" in reasons else NotifyOn.ROLLED_BACK
        out.append((kind, reason, message))
    elif phase_changed and new.phase == ExperimentPhase.FAILED:
        out.append((NotifyOn.FAILED, reason, message))
    elif phase_changed and new.phase == ExperimentPhase.HOLDING_BACK:
        out.append((NotifyOn.PROMOTED, reason, message))
    elif phase_changed and new.phase == ExperimentPhase.SUCCEEDED:
        if old.phase == ExperimentPhase.HOLDING_BACK:
            out.append((NotifyOn.HOLDBACK_ENDED, reason, message))
        elif "ShadowPassed" in reasons:
            out.append((NotifyOn.SUCCEEDED, reason, message))
        else:
            out.append((NotifyOn.PROMOTED, reason, message))
    elif new.failed_checks > old.failed_checks and new.analysis:
        # A failed analysis that did not (yet) roll back: the numbers, before it does.
        why = "; ".join(r.message for r in new.analysis[-1].results if r.verdict.value == "fail")
        text = f"analysis failed ({new.failed_checks}/limit): {why or new.message}"
        out.append((NotifyOn.ANALYSIS_FAILED, "AnalysisFailed", text))
    return out


def notifications_for(
    *,
    name: str,
    namespace: str,
    spec: ExperimentSpec,
    old: ExperimentStatus,
    new: ExperimentStatus,
    events: Sequence[EmitEvent],
    now: datetime,
) -> list[Notification]:
    """The notifications one pass calls for (none when nothing moved)."""
    out = []
    for kind, reason, message in _kind(old, new, events):
        if kind == NotifyOn.ANALYSIS_FAILED:
            message = message.replace("/limit)", f"/{spec.analysis.failure_limit})")
        out.append(
            Notification(
                kind,
                document(
                    kind,
                    name=name,
                    namespace=namespace,
                    spec=spec,
                    status=new,
                    reason=reason,
                    message=message,
                    now=now,
                ),
            )
        )
    return out

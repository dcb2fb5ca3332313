"""The data that crosses the engine's boundary: facts in, a new status and actions out.

`Measurement` and `MetricObservation` are defined in `analysis.observations` (the decisions
read them, and `analysis` sits below `rollout` in the layers) and re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ..analysis.observations import Measurement, MetricObservation
from ..api.v1alpha1 import ExperimentStatus


@dataclass(frozen=True)
class ObservationPlan:
    """What to measure now: which metrics, for which versions, over which window."""

    metrics: tuple[str, ...]
    baseline_version: str
    candidate_version: str
    # Proportions are tested on everything since the candidate first got traffic (an
    # always-valid test looks at cumulative evidence); rate-like metrics use their own window.
    since: datetime
    # A shadow run: the candidate only sees mirrored copies, so its accuracy is joined from
    # its shadow predictions (the baseline's from the answers it served).
    shadow: bool = False


@dataclass(frozen=True)
class World:
    """Facts about the cluster the engine may not look up itself."""

    baseline_ready: bool
    candidate_ready: bool
    baseline_version: str | None = None  # Triton version numbers, as the gateway labels metrics
    candidate_version: str | None = None
    candidate_problem: str | None = None  # the candidate can never become Ready (Rejected, Failed)
    baseline_problem: str | None = None
    # The ModelVersion object does not exist (not created yet, or deleted). Before the start
    # that means waiting; mid-rollout a deleted version ends the Experiment.
    baseline_missing: bool = False
    candidate_missing: bool = False


@dataclass(frozen=True)
class UserIntent:
    """What people asked for by hand (spec.paused, annotations, or the `modelrollout` CLI)."""

    paused: bool = False
    approve: bool = False  # pass the current manual gate (one-shot: clear it once applied)
    promote: bool = False  # promote now, skipping the remaining steps
    abort: bool = False  # roll back now
    # Bring the previous version back at 100% (RolledBack, reason Undone): while progressing
    # (as abort), in the holdback window, or within the scale-down delay after a promotion.
    undo: bool = False
    # Pass the manual gate of this step (1-based) once it is reached. Unlike a bare `approve`,
    # it names what was approved, so a re-delivered intent never opens a later gate.
    approve_step: int | None = None


@dataclass(frozen=True)
class SetTraffic:
    """Route `candidate_weight` percent to the candidate (the rest to the baseline).

    `shadow_percent` mirrors that share to the candidate. `promoted` means the candidate is the
    new baseline: the router makes it the stable version at 100 percent.
    """

    candidate_weight: int
    shadow_percent: int = 0
    promoted: bool = False
    kind: Literal["set-traffic"] = "set-traffic"


@dataclass(frozen=True)
class EmitEvent:
    """A Kubernetes Event on the Experiment (every phase change is one)."""

    reason: str
    message: str
    type: Literal["Normal", "Warning"] = "Normal"
    kind: Literal["emit-event"] = "emit-event"


Action = SetTraffic | EmitEvent

__all__ = [
    "Action",
    "Decision",
    "EmitEvent",
    "Measurement",
    "MetricObservation",
    "ObservationPlan",
    "SetTraffic",
    "UserIntent",
    "World",
]


@dataclass(frozen=True)
class Decision:
    """The engine's answer: the status to persist, what to do, and when to look again."""

    status: ExperimentStatus
    actions: tuple[Action, ...] = field(default_factory=tuple)
    requeue_after: float | None = None  # seconds until the next pass is useful

"""The traffic an Experiment's status calls for: what drivers apply and re-sync."""

from __future__ import annotations

from ..api.v1alpha1 import ExperimentPhase, ExperimentSpec, ExperimentStatus
from .model import SetTraffic
from .steps import step_at, steps_of

_LIVE = frozenset({ExperimentPhase.PROGRESSING, ExperimentPhase.PAUSED})


def desired_traffic(spec: ExperimentSpec, status: ExperimentStatus) -> SetTraffic:
    """The routing this status means, for drivers to re-apply after a restart.

    The engine emits SetTraffic only when this changes; a driver that lost its routing (a new
    gateway replica, an operator restart) re-syncs with this. It reads the status only, so it
    never routes to a candidate the engine has not decided to route to.
    """
    phase = status.phase
    if phase in (ExperimentPhase.PROMOTING,) or (
        phase in (ExperimentPhase.SUCCEEDED, ExperimentPhase.FAILED) and status.weight == 100
    ):
        # Succeeded at 100: promoted. Failed at 100: the baseline was deleted mid-rollout and
        # the candidate is the only version left (it serves alone, as after a promotion).
        return SetTraffic(candidate_weight=100, promoted=True)
    if phase == ExperimentPhase.HOLDING_BACK:
        # Promoted, the previous version keeps its holdback share (as the table's baseline).
        return SetTraffic(candidate_weight=status.weight)
    if phase not in _LIVE or status.started_at is None:
        return SetTraffic(candidate_weight=0)
    step = step_at(steps_of(spec), status.current_step)
    shadow = step.shadow_percent if step is not None else 0
    return SetTraffic(candidate_weight=status.weight, shadow_percent=shadow)

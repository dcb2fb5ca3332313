"""The rollout engine: pure functions over plain data (no kopf, no HTTP, no clock reads).

One pass for one Experiment, run by the operator (kopf timer), the local demo driver and
the tests alike:

    plan = plan_observation(spec, status, world, now)    # what to measure, or None
    observations = provider.observe(plan)                 # I/O, elsewhere
    decision = reconcile(spec, status, world, observations, intent, now)
    for action in decision.actions: ...                   # I/O, elsewhere
    write decision.status

SetTraffic is emitted when the routing changes; after a restart a driver re-syncs with
`desired_traffic(spec, status)`. See `model.py` for the data that crosses the boundary and
`reconciling.py` for the order of precedence inside a pass.
"""

from .model import (
    Action,
    Decision,
    EmitEvent,
    Measurement,
    MetricObservation,
    ObservationPlan,
    SetTraffic,
    UserIntent,
    World,
)
from .planning import analysis_due, next_analysis_at, plan_observation
from .reconciling import reconcile
from .steps import Step, steps_of
from .traffic import desired_traffic

__all__ = [
    "Action",
    "Decision",
    "EmitEvent",
    "Measurement",
    "MetricObservation",
    "ObservationPlan",
    "SetTraffic",
    "Step",
    "UserIntent",
    "World",
    "analysis_due",
    "desired_traffic",
    "next_analysis_at",
    "plan_observation",
    "reconcile",
    "steps_of",
]

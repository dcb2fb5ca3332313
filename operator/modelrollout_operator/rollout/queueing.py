"""At most one active Experiment per model and namespace: who goes first (pure).

Two Experiments on one model would each write the model's routing from their own state (the
weights of one undoing the other's). So an Experiment starts only when no other Experiment on
the same model in its namespace is active, and of those waiting, the oldest
(creationTimestamp, then name) starts first; the others stay Pending, with a condition that
names the Experiment they wait for (handlers/driving.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..api.v1alpha1 import TERMINAL_PHASES, ExperimentPhase

#: Condition type of a Pending Experiment waiting for another on its model.
WAITING = "Waiting"


@dataclass(frozen=True, slots=True)
class Entry:
    """What queueing reads of an Experiment: its name, model, phase and creation time."""

    name: str
    model: str
    phase: str
    created: str  # RFC 3339: text order is time order; "" when the server gave none

    @property
    def active(self) -> bool:
        """Started and not finished: it writes the model's routing."""
        return self.phase != ExperimentPhase.PENDING.value and self.phase not in {
            p.value for p in TERMINAL_PHASES
        }

    @property
    def pending(self) -> bool:
        return self.phase == ExperimentPhase.PENDING.value


def blocker(me: Entry, others: Iterable[Entry]) -> str | None:
    """The Experiment `me` must wait for, or None when it may start (or already has).

    An active one on the same model comes first (the first by name when, from before this
    rule, several are); else the oldest Pending one that was created before `me`.
    """
    if not me.pending:
        return None
    rivals = [o for o in others if o.model == me.model and o.name != me.name]
    active = sorted(o.name for o in rivals if o.active)
    if active:
        return active[0]
    earlier = sorted(
        (o for o in rivals if o.pending and (o.created, o.name) < (me.created, me.name)),
        key=lambda o: (o.created, o.name),
    )
    return earlier[0].name if earlier else None


def entry_of(body: dict[str, object]) -> Entry | None:
    """An Entry from an Experiment object as the API returns it; None when it has no model."""
    meta = body.get("metadata")
    spec = body.get("spec")
    status = body.get("status")
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        return None
    model = spec.get("model")
    if not isinstance(model, str) or not model:
        return None
    phase = status.get("phase") if isinstance(status, dict) else None
    return Entry(
        name=str(meta.get("name", "")),
        model=model,
        phase=phase if isinstance(phase, str) and phase else ExperimentPhase.PENDING.value,
        created=str(meta.get("creationTimestamp") or ""),
    )

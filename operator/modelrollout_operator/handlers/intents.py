"""What people asked for by hand: spec.paused and the one-shot annotations. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..rollout.model import UserIntent

APPROVE = "modelrollout.dev/approve"
PROMOTE = "modelrollout.dev/promote"
ABORT = "modelrollout.dev/abort"
UNDO = "modelrollout.dev/undo"  # the previous version back at 100% (within the undo window)
ONE_SHOT = (APPROVE, PROMOTE, ABORT, UNDO)


def _set(annotations: Mapping[str, Any], key: str) -> bool:
    value = annotations.get(key)
    return value is not None and str(value).strip().lower() not in ("", "false", "0", "no")


def _step(annotations: Mapping[str, Any], key: str) -> int | None:
    """`modelrollout.dev/approve: "2"` approves step 2 only (safe to deliver twice)."""
    value = str(annotations.get(key, "")).strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def read_intent(paused: bool, annotations: Mapping[str, Any]) -> UserIntent:
    approve_step = _step(annotations, APPROVE)
    return UserIntent(
        paused=paused,
        approve=approve_step is None and _set(annotations, APPROVE),
        approve_step=approve_step,
        promote=_set(annotations, PROMOTE),
        abort=_set(annotations, ABORT),
        undo=_set(annotations, UNDO),
    )


def consumed(annotations: Mapping[str, Any]) -> dict[str, None]:
    """A merge patch removing the one-shot annotations that were present (applied once)."""
    return {k: None for k in ONE_SHOT if k in annotations}

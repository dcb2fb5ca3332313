"""`modelrollout pause|resume|approve|promote|abort|undo EXPERIMENT [-n NS]`: manual control.

pause/resume patch `spec.paused`; approve/promote/abort/undo set a one-shot annotation that
the operator applies on its next pass and then removes (the same as `kubectl annotate`).
`undo` is refused here when the window is over (the previous version is retired by then).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..api.v1alpha1 import ExperimentPhase, ExperimentStatus
from ..k8s.client import EXPERIMENTS, Connection, KubeClient, KubeError
from ..rollout.holding import undo_open
from ..settings import OperatorSettings
from .main import registry

ANNOTATIONS = {
    "approve": "modelrollout.dev/approve",
    "promote": "modelrollout.dev/promote",
    "abort": "modelrollout.dev/abort",
    "undo": "modelrollout.dev/undo",
}
_STATUS_FIELDS = {f.alias or k for k, f in ExperimentStatus.model_fields.items()}
HELP = {
    "pause": "hold an Experiment at its current weight (spec.paused: true)",
    "resume": "let a paused Experiment go on (spec.paused: false)",
    "approve": "pass the current step's manual gate",
    "promote": "promote the candidate now, skipping the remaining steps",
    "abort": "roll the candidate back now (weight 0)",
    "undo": "put the previous version back at 100%% (in the holdback window or the "
    "scale-down delay after a promotion)",
}


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", metavar="EXPERIMENT", help="name of the Experiment")
    parser.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")


def undo_refusal(raw_status: dict[str, Any], now: datetime) -> str | None:
    """Why `undo` cannot work on this status (None: it can)."""
    try:
        status = ExperimentStatus.model_validate(
            {k: v for k, v in raw_status.items() if k in _STATUS_FIELDS}
        )
    except ValidationError:
        return None  # let the operator judge a status this client cannot read
    if status.phase in (ExperimentPhase.ROLLED_BACK, ExperimentPhase.FAILED):
        return f"nothing to undo: the Experiment is {status.phase.value}"
    if status.phase == ExperimentPhase.SUCCEEDED and not undo_open(status, now):
        hb = status.holdback
        when = f" at {hb.ends_at.isoformat()}" if hb is not None else ""
        return (
            f"the undo window closed{when}: the previous version is retired; roll it out "
            "again with a new Experiment"
        )
    if status.phase == ExperimentPhase.PENDING:
        return "nothing to undo: the Experiment has not started"
    return None


def control_patch(verb: str, current_step: int | None = None) -> dict[str, Any]:
    """The merge patch that expresses `verb` on an Experiment.

    `approve` names the step it approves, so an approval that arrives late never opens the
    gate of a later step.
    """
    if verb in ("pause", "resume"):
        return {"spec": {"paused": verb == "pause"}}
    if verb == "approve" and current_step:
        return {"metadata": {"annotations": {ANNOTATIONS[verb]: str(current_step)}}}
    if verb in ANNOTATIONS:
        return {"metadata": {"annotations": {ANNOTATIONS[verb]: "true"}}}
    raise ValueError(f"unknown control verb {verb!r}; use {', '.join(HELP)}")


async def _apply(verb: str, name: str, namespace: str, settings: OperatorSettings) -> int:
    client = KubeClient(Connection.discover(settings))
    try:
        experiment = await client.get(EXPERIMENTS, namespace, name)
        if experiment is None:
            print(f"modelrollout {verb}: Experiment {namespace}/{name} not found", file=sys.stderr)
            return 1
        status = experiment.get("status") or {}
        step = status.get("currentStep")
        refused = undo_refusal(status, datetime.now(UTC)) if verb == "undo" else None
        if refused:
            print(f"modelrollout undo: {namespace}/{name}: {refused}", file=sys.stderr)
            return 1
        await client.patch(EXPERIMENTS, namespace, name, control_patch(verb, step))
    except KubeError as exc:
        print(f"modelrollout {verb}: {exc}", file=sys.stderr)
        return 1
    finally:
        await client.close()
    print(f"experiment.modelrollout.dev/{name} {verb} requested")
    return 0


def _command(verb: str) -> None:
    @registry.command(verb, help=HELP[verb], arguments=_arguments)
    def run(args: argparse.Namespace) -> int:
        settings = OperatorSettings()
        namespace = args.namespace or settings.default_namespace
        return asyncio.run(_apply(verb, args.experiment, namespace, settings))


for _verb in HELP:
    _command(_verb)

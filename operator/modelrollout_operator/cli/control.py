"""`modelrollout pause|resume|approve|promote|abort EXPERIMENT [-n NS]`: manual control.

pause/resume patch `spec.paused`; approve/promote/abort set a one-shot annotation that the
operator applies on its next pass and then removes (the same as `kubectl annotate`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ..k8s.client import EXPERIMENTS, Connection, KubeClient, KubeError
from ..settings import OperatorSettings
from .main import registry

ANNOTATIONS = {
    "approve": "modelrollout.dev/approve",
    "promote": "modelrollout.dev/promote",
    "abort": "modelrollout.dev/abort",
}
HELP = {
    "pause": "hold an Experiment at its current weight (spec.paused: true)",
    "resume": "let a paused Experiment go on (spec.paused: false)",
    "approve": "pass the current step's manual gate",
    "promote": "promote the candidate now, skipping the remaining steps",
    "abort": "roll the candidate back now (weight 0)",
}


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", metavar="EXPERIMENT", help="name of the Experiment")
    parser.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")


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
        step = (experiment.get("status") or {}).get("currentStep")
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

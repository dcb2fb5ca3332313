"""Subcommands handed to the other components' command lines.

`modelrollout train|data ...` runs the trainer and `modelrollout gateway ...` the gateway,
in this process. Their packages are imported only when asked for, so the operator's image
needs neither torch nor onnxruntime, and says so clearly when one is missing.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

from .main import registry

#: `modelrollout data <verb>` -> the trainer's subcommand.
DATA_VERBS = {"synth": "synth", "build": "build-dataset", "fetch": "fetch"}

_EXTRAS = {"modelrollout_trainer": "trainer", "modelrollout_inference": "inference"}


def _entry_point(package: str, command: str) -> Callable[[Sequence[str]], int] | None:
    try:
        module = importlib.import_module(f"{package}.cli")
    except ImportError as exc:
        extra = _EXTRAS.get(package, "all")
        print(
            f"modelrollout {command}: cannot load {package}.cli ({exc}); "
            f"install it with: pip install 'model-rollout[{extra}]'",
            file=sys.stderr,
        )
        return None
    main = getattr(module, "main", None)
    if not callable(main):
        print(f"modelrollout {command}: {package}.cli has no main()", file=sys.stderr)
        return None
    return cast(Callable[[Sequence[str]], int], main)


def _hand_over(package: str, command: str, argv: list[str]) -> int:
    main = _entry_point(package, command)
    if main is None:
        return 1
    try:
        return int(main(argv) or 0)
    except SystemExit as stop:  # an argparse inside exits on --help and bad arguments
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)


@registry.passthrough("train", help="train a model version (the trainer's `train`)")
def train(argv: list[str]) -> int:
    return _hand_over("modelrollout_trainer", "train", ["train", *argv])


@registry.passthrough("data", help="datasets: synth | build | fetch (the trainer's tools)")
def data(argv: list[str]) -> int:
    verbs = " | ".join(DATA_VERBS)
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: modelrollout data {{{verbs}}} ... (see modelrollout data VERB --help)")
        return 0
    if not argv or argv[0] not in DATA_VERBS:
        got = f": unknown verb {argv[0]!r}" if argv else ""
        print(f"usage: modelrollout data {{{verbs}}} ...{got}", file=sys.stderr)
        return 2
    return _hand_over("modelrollout_trainer", "data", [DATA_VERBS[argv[0]], *argv[1:]])


@registry.passthrough("gateway", help="run the inference gateway (modelrollout-gateway)")
def gateway(argv: list[str]) -> int:
    return _hand_over("modelrollout_inference", "gateway", argv)

"""Subcommands handed to the other components' command lines.

`modelrollout train|data ...` runs the trainer and `modelrollout gateway ...` the gateway,
in this process. Their packages are imported only when asked for, so the operator's image
needs neither torch nor onnxruntime, and says so clearly when one is missing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from .main import registry

#: `modelrollout data <verb>` -> the trainer's subcommand.
DATA_VERBS = {"synth": "synth", "build": "build-dataset", "fetch": "fetch"}

Main = Callable[[Sequence[str]], int]


def _unavailable(package: str, extra: str, command: str, exc: ImportError) -> int:
    print(
        f"modelrollout {command}: cannot load {package}.cli ({exc}); "
        f"install it with: pip install 'model-rollout[{extra}]'",
        file=sys.stderr,
    )
    return 1


# Plain import statements inside the functions (not importlib): the architecture contract
# allows exactly these two imports across components, and import-linter must see them.
def _trainer(command: str, argv: list[str]) -> int:
    try:
        from modelrollout_trainer.cli import main
    except ImportError as exc:
        return _unavailable("modelrollout_trainer", "trainer", command, exc)
    return _run(main, argv)


def _gateway(argv: list[str]) -> int:
    try:
        from modelrollout_inference.cli import main
    except ImportError as exc:
        return _unavailable("modelrollout_inference", "inference", "gateway", exc)
    return _run(main, argv)


def _run(main: Main, argv: list[str]) -> int:
    try:
        return int(main(argv) or 0)
    except SystemExit as stop:  # an argparse inside exits on --help and bad arguments
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)


@registry.passthrough("train", help="train a model version (the trainer's `train`)")
def train(argv: list[str]) -> int:
    return _trainer("train", ["train", *argv])


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
    return _trainer("data", [DATA_VERBS[argv[0]], *argv[1:]])


@registry.passthrough("gateway", help="run the inference gateway (modelrollout-gateway)")
def gateway(argv: list[str]) -> int:
    return _gateway(argv)

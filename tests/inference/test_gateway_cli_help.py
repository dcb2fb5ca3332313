"""`modelrollout-gateway serve --help` and `prepare-triton --help`: every option has a line."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from modelrollout_inference import cli


def _subcommand(name: str) -> argparse.ArgumentParser:
    (sub,) = [a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction)]
    parser: argparse.ArgumentParser = sub.choices[name]
    return parser


@pytest.mark.parametrize("command", ["serve", "prepare-triton"])
def test_every_option_has_help(command: str) -> None:
    options = [a for a in _subcommand(command)._actions if a.option_strings]
    missing = [a.option_strings[-1] for a in options if not (a.help or "").strip()]
    assert len(options) > 5 and missing == []


def test_serve_help_prints_a_line_for_each_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modelrollout_inference.cli", "serve", "--help"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    text = " ".join(result.stdout.split())
    for action in _subcommand("serve")._actions:
        if action.option_strings and action.help:
            assert action.option_strings[-1] in text
            assert " ".join(action.help.split())[:30] in text
    assert "MODELROLLOUT_GATEWAY_" in text

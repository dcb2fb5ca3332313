"""`modelrollout demo`: the whole rollout loop on this machine, no cluster needed."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import structlog

from ..errors import ModelRolloutError
from ..local.demo import DemoOptions, run_demo
from .main import registry

# Shipped inside the package (examples/demo in a checkout links here), so a wheel runs the demo.
_PACKAGED_EXAMPLES = Path(__file__).resolve().parents[1] / "local" / "examples"


def default_examples() -> Path:
    """`examples/demo` of the working directory (the user's edits), else the packaged copy."""
    here = Path.cwd() / "examples" / "demo"
    return here if here.is_dir() else _PACKAGED_EXAMPLES


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fast", action="store_true", help="smaller data and half the intervals (tests, CI)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep datasets, models and logs here (default: a temp dir)"
    )
    parser.add_argument(
        "--examples",
        type=Path,
        default=None,
        help="folder of the ModelVersion/Experiment YAML (default: examples/demo)",
    )
    parser.add_argument(
        "--summary-json", type=Path, help="write the machine-readable outcome to this file"
    )
    parser.add_argument(
        "--timeline",
        type=Path,
        help="where to draw the PNG (default: demo-timeline.png in --workdir, else here)",
    )
    parser.add_argument(
        "--rate", type=float, default=150.0, help="requests per second sent (default 150)"
    )
    parser.add_argument(
        "--feedback-delay",
        type=float,
        default=1.0,
        help="seconds before each label is posted (default 1)",
    )
    parser.add_argument(
        "--scenario",
        choices=["default", "continuous"],
        default="default",
        help="default: a bad candidate rolled back, a good one promoted; continuous: the live "
        "data drifts and the Model's loop retrains on its feedback, canaries and promotes",
    )
    parser.add_argument(
        "--metrics",
        choices=["auto", "prometheus", "counters"],
        default="auto",
        help="auto: a real Prometheus when `prometheus` is on PATH, else the gateway's counters",
    )


def _quiet_logs(verbosity: int) -> None:
    """Warnings only by default (-v info, -vv debug), on stderr: stdout is the demo's story."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


@registry.command(
    "demo",
    help="run the whole loop locally: a bad candidate rolled back, a good one promoted",
    arguments=_arguments,
)
def demo(args: argparse.Namespace) -> int:
    if args.rate <= 0:
        print("modelrollout demo: --rate must be positive", file=sys.stderr)
        return 2
    if args.feedback_delay < 0:
        print("modelrollout demo: --feedback-delay must not be negative", file=sys.stderr)
        return 2
    _quiet_logs(args.verbose)
    options = DemoOptions(
        examples=args.examples or default_examples(),
        workdir=args.workdir,
        fast=args.fast,
        summary_json=args.summary_json,
        timeline=args.timeline,
        rate=args.rate,
        feedback_delay=args.feedback_delay,
        metrics=args.metrics,
        scenario=args.scenario,
    )
    try:
        return run_demo(options, say=lambda line: print(line, flush=True))
    except ModelRolloutError as error:
        print(f"modelrollout demo: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "modelrollout demo: interrupted; every process it started was stopped", file=sys.stderr
        )
        return 130

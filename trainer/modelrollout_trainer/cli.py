"""`modelrollout-trainer`: the command line of the training job (docs/contracts.md §3).

`main(argv)` returns the exit code instead of exiting, so the operator's `modelrollout`
CLI can dispatch `modelrollout train ...` and `modelrollout data synth ...` to it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import commands, logs
from .schema import LABEL_COLUMN, Task


def _hidden(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not widths or any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"expected positive layer widths, got {text!r}")
    return widths


def _add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train", help="train, gate, export and publish one model version")
    p.add_argument("--dataset", required=True, help="CSV, JSONL or Parquet; local path or s3://")
    p.add_argument("--model", required=True, help="model name (Triton model directory)")
    p.add_argument("--version", required=True, type=int, help="positive integer version")
    p.add_argument("--output", required=True, help="repository root: local directory or s3://")
    p.add_argument("--task", choices=[t.value for t in Task], default=Task.BINARY.value)
    p.add_argument("--label-column", default=LABEL_COLUMN)
    p.add_argument(
        "--features",
        default="scoring",
        help="'scoring' (the 39 declared columns), 'all', or a comma list",
    )
    p.add_argument("--min-accuracy", type=float, help="gate: minimum test accuracy")
    p.add_argument("--min-roc-auc", type=float, help="gate: minimum test ROC AUC (binary)")
    p.add_argument("--max-log-loss", type=float, help="gate: maximum test log loss")
    p.add_argument("--max-ece", type=float, help="gate: maximum test calibration error")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--hidden", type=_hidden, default=(128, 64), help="layer widths, e.g. 128,64")
    p.add_argument("--patience", type=int, default=5, help="early-stopping patience in epochs")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, init and shuffling")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default min(CPUs, 4))")
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.5,
        help="regression: |prediction - label| that counts as correct",
    )
    p.add_argument("--max-batch-size", type=int, default=1024, help="Triton max_batch_size")
    p.add_argument("--quiet", action="store_true", help="no progress lines or metrics table")
    p.add_argument(
        "--termination-log",
        default=str(commands.TERMINATION_LOG),
        help="written when it exists (Kubernetes)",
    )
    p.set_defaults(handler=commands.run_train)


def _add_synth(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("synth", help="write a synthetic tabular scoring dataset")
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--output", required=True, help=".csv, .jsonl or .parquet; local or s3://")
    p.add_argument("--seed", type=int, default=0, help="seeds the sample")
    p.add_argument("--rule-seed", type=int, default=0, help="seeds the hidden labelling rule")
    p.add_argument(
        "--label-noise", type=float, default=0.0, help="probability of flipping each label (0..0.5)"
    )
    p.add_argument(
        "--shift",
        type=float,
        default=0.0,
        help="invert labels for the segment ctx_0 < SHIFT (0..1)",
    )
    p.set_defaults(handler=commands.run_synth)


def _add_build(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "build-dataset", help="join the gateway's prediction log and feedback into a training set"
    )
    p.add_argument(
        "--log",
        action="append",
        dest="logs",
        default=[],
        help="a prediction-log directory, .jsonl file or s3:// prefix (repeatable)",
    )
    p.add_argument("--model", required=True)
    p.add_argument(
        "--version",
        action="append",
        dest="versions",
        help="only predictions of this version (repeatable)",
    )
    p.add_argument("--output", required=True, help=".csv, .jsonl or .parquet; local or s3://")
    p.add_argument(
        "--feature-names",
        default="auto",
        help="'auto' (scoring names for 39 features, else f_0..), 'generic', or a comma list",
    )
    p.add_argument(
        "--include-unlabelled",
        action="store_true",
        help="keep rows with no feedback yet (empty label)",
    )
    p.add_argument("--base", help="a dataset prepended to the log's rows (same columns)")
    p.add_argument("--since", help="only predictions made from this RFC 3339 time on")
    p.add_argument("--until", help="only predictions made before this RFC 3339 time")
    p.add_argument(
        "--min-labelled",
        type=int,
        default=0,
        help="fail (exit 2) with fewer labelled rows from the log",
    )
    p.add_argument(
        "--termination-log",
        default=str(commands.TERMINATION_LOG),
        help="the result is written there too when it exists (Kubernetes)",
    )
    p.set_defaults(handler=commands.run_build)


def _add_fetch(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fetch", help="download an artifact, refusing a sha256 mismatch")
    p.add_argument("--uri", required=True, help="local path or s3:// URI of the artifact")
    p.add_argument("--dest", required=True, help="local file to write")
    p.add_argument("--sha256", help="expected sha256 (default: the one recorded at upload)")
    p.set_defaults(handler=commands.run_fetch)


def _add_evaluate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("evaluate", help="score a dataset with an ONNX model (ONNX Runtime)")
    p.add_argument("--model-uri", required=True, help="model.onnx: local path or s3://")
    p.add_argument("--dataset", required=True)
    p.add_argument("--sha256", help="verify the model first")
    p.add_argument("--task", choices=[t.value for t in Task], default=Task.BINARY.value)
    p.add_argument("--label-column", default=LABEL_COLUMN)
    p.add_argument("--features", default="scoring")
    p.add_argument("--tolerance", type=float, default=0.5)
    p.set_defaults(handler=commands.run_evaluate)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "modelrollout-trainer",
        description="Train, validate and publish ML models for model-rollout.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logs (-vv)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_synth, _add_build, _add_fetch, _add_evaluate):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as stop:  # argparse exits on --help and on bad arguments (code 2)
        return stop.code if isinstance(stop.code, int) else 2
    logs.configure(args.verbose, args.log_format == "json")
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())

"""`modelrollout-gateway prepare-triton ...`: the init container's command line (contracts.md §5).

Exit codes: 0 prepared; 2 bad arguments or an unusable config.pbtxt; 3 the artifact's sha256
is not the ModelVersion's (never serve it); 1 anything else (a fetch that may work on retry).
The reason is the last line on stderr and, where the kubelet made one, the termination-message
file, so the operator can put it in the ModelVersion's status.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..backends.fetching import ArtifactError, Sha256Mismatch
from .configuring import Batching, ConfigError
from .preparing import Preparation, prepare_repository

PREPARE_COMMAND = "prepare-triton"
TERMINATION_LOG = Path("/dev/termination-log")
TERMINATION_LOG_LIMIT = 4096  # the kubelet keeps at most this many bytes
EXIT_BAD_INPUT = 2
EXIT_SHA256_MISMATCH = 3


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _sha256(text: str) -> str:
    if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise argparse.ArgumentTypeError("must be 64 hex digits")
    return text.lower()


def add_prepare_parser(commands: Any) -> None:
    """Register the subcommand on `modelrollout-gateway`'s subparsers."""
    p = commands.add_parser(
        PREPARE_COMMAND,
        help="fetch and verify one version and write a one-version Triton model repository",
    )
    p.add_argument("--model", required=True, help="the model's name (its directory)")
    p.add_argument("--version", required=True, type=_positive, help="the version to write")
    p.add_argument("--artifact-uri", required=True, help="model.onnx by path or s3:// URI")
    p.add_argument(
        "--artifact-sha256",
        required=True,
        type=_sha256,
        help="refuse the artifact unless it has this hash",
    )
    p.add_argument("--config-uri", required=True, help="the repository's config.pbtxt")
    p.add_argument("--output", required=True, type=Path, help="the model repository to write")
    p.add_argument(
        "--max-batch-size",
        type=_not_negative,
        default=0,
        help="Triton max_batch_size (0: no batching)",
    )
    p.add_argument(
        "--dynamic-batching",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="let Triton batch concurrent requests",
    )
    p.add_argument(
        "--max-queue-delay-us",
        type=_not_negative,
        default=100,
        help="longest wait (microseconds) for a dynamic batch to fill",
    )
    p.add_argument(
        "--termination-log",
        type=Path,
        default=TERMINATION_LOG,
        help="where to write the reason of a failure (only if the file exists)",
    )


def prepare_main(arguments: argparse.Namespace) -> int:
    job = Preparation(
        model=arguments.model,
        version=arguments.version,
        artifact_uri=arguments.artifact_uri,
        sha256=arguments.artifact_sha256,
        config_uri=arguments.config_uri,
        output=arguments.output,
        batching=Batching(
            max_batch_size=arguments.max_batch_size,
            dynamic=arguments.dynamic_batching,
            max_queue_delay_microseconds=arguments.max_queue_delay_us,
        ),
    )
    try:
        target = prepare_repository(job)
    except Sha256Mismatch as exc:
        return _fail(arguments.termination_log, EXIT_SHA256_MISMATCH, f"artifact refused: {exc}")
    except ConfigError as exc:
        return _fail(arguments.termination_log, EXIT_BAD_INPUT, f"unusable config.pbtxt: {exc}")
    except (ArtifactError, OSError) as exc:
        return _fail(arguments.termination_log, 1, f"cannot prepare: {exc}")
    print(f"{PREPARE_COMMAND}: {job.model} version {job.version} ready at {target}")
    return 0


def _fail(termination_log: Path, code: int, reason: str) -> int:
    print(f"{PREPARE_COMMAND}: {reason}", file=sys.stderr)
    if termination_log.exists():
        data = reason.encode("utf-8")[:TERMINATION_LOG_LIMIT]
        try:
            termination_log.write_bytes(data)
        except OSError as exc:
            print(f"{PREPARE_COMMAND}: cannot write {termination_log}: {exc}", file=sys.stderr)
    return code

"""Failures of the trainer, each tied to the exit code the operator reads (docs/contracts.md §3)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_BAD_INPUT = 2
EXIT_GATE_FAILED = 3
EXIT_PARITY_FAILED = 4
# Not in the contract's train codes: `fetch` refusing an artifact whose sha256 does not match.
EXIT_INTEGRITY_FAILED = 5
# Storage (S3) unreachable or failing with 5xx for longer than the retries inside the process:
# the Job retries it (podFailurePolicy Ignore: it does not use up backoffLimit).
EXIT_STORAGE_UNAVAILABLE = 6


class TrainerError(Exception):
    """Base of the trainer's own failures; `exit_code` is what the CLI returns."""

    exit_code = EXIT_OTHER


class UsageError(TrainerError):
    """Bad command-line arguments (a value out of range, an unknown option combination)."""

    exit_code = EXIT_BAD_INPUT


class DatasetError(TrainerError):
    """A dataset that cannot be trained on; the message names the column (and row)."""

    exit_code = EXIT_BAD_INPUT


class ParityError(TrainerError):
    """ONNX Runtime does not reproduce the PyTorch outputs within tolerance."""

    exit_code = EXIT_PARITY_FAILED


class IntegrityError(TrainerError):
    """An artifact's sha256 does not match the expected one."""

    exit_code = EXIT_INTEGRITY_FAILED


class StorageError(TrainerError):
    """A local path or S3 object could not be read or written."""

    exit_code = EXIT_OTHER


class StorageUnavailable(StorageError):
    """Storage stayed unreachable (or answered 5xx/throttling) through every retry: transient."""

    exit_code = EXIT_STORAGE_UNAVAILABLE

"""Choosing the torch device and a sensible number of CPU threads."""

from __future__ import annotations

import os

import torch

from .errors import UsageError

# Beyond a few threads a small MLP gets slower from synchronisation, not faster.
_MAX_DEFAULT_THREADS = 4


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def configure_threads(threads: int | None) -> int:
    """Set torch's intra-op threads: the given number, else min(usable CPUs, 4)."""
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be positive, got {threads}")
    count = threads or min(available_cpus(), _MAX_DEFAULT_THREADS)
    torch.set_num_threads(count)
    return count


def select_device(requested: str) -> torch.device:
    """`auto` takes CUDA when present, CPU otherwise; `cuda` without a GPU is a usage error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available")
        return torch.device("cuda")
    if requested == "cpu":
        return torch.device("cpu")
    raise UsageError(f"--device must be auto, cpu or cuda, got {requested!r}")

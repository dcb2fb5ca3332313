"""Child processes that never outlive the test run that started them."""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1
# Looked up once, in the parent: a preexec_fn runs between fork and exec, where a dlopen (the
# loader's lock held by another thread at fork time, e.g. gRPC's) can hang the child forever.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def die_with_parent() -> None:
    """A `preexec_fn`: the kernel sends SIGKILL to the child when the test process dies.

    Servers start in their own session so tests can stop their whole group; without this, a
    test run killed by a timeout would leave them running (seen: operators spinning for an
    hour after an interrupted run).
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL))

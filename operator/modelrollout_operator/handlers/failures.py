"""How a failed pass is logged: one line for the network's hiccups, a traceback for bugs.

A slow or restarting API server fails hundreds of passes at once; a traceback for each would
flood the log and spend the CPU the next passes need. The next pass retries either way.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx

from ..k8s.client import KubeError

TRANSIENT: tuple[type[BaseException], ...] = (
    TimeoutError,
    aiohttp.ClientError,
    httpx.HTTPError,
    KubeError,
)


def is_transient(exc: BaseException) -> bool:
    """A failure of the world (timeouts, refused connections, API errors), not of the code."""
    return isinstance(exc, TRANSIENT)


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def log_failed_pass(log: Any, event: str, exc: BaseException, **fields: Any) -> None:
    if is_transient(exc):
        log.warning(event, error=describe(exc), **fields)
    else:
        log.exception(event, **fields)

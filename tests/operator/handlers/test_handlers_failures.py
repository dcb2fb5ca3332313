"""Failed passes: one warning line for the world's hiccups, a traceback for the code's bugs."""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.handlers.failures import describe, is_transient, log_failed_pass
from modelrollout_operator.k8s.client import Conflict, KubeError


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.calls.append(("warning", event, fields))

    def exception(self, event: str, **fields: Any) -> None:
        self.calls.append(("exception", event, fields))


@pytest.mark.parametrize(
    "exc",
    [TimeoutError(), aiohttp.ClientConnectionError("refused"), httpx.ConnectError("refused"),
     KubeError(503, "unavailable"), Conflict(409, "exists")],
)  # fmt: skip
def test_network_and_api_failures_are_one_warning_line(exc: BaseException) -> None:
    log = Recorder()
    log_failed_pass(log, "experiment.pass_failed", exc, name="e")
    assert log.calls == [
        ("warning", "experiment.pass_failed", {"error": describe(exc), "name": "e"})
    ]


@pytest.mark.parametrize("exc", [KeyError("phase"), ValueError("bad"), AssertionError()])
def test_bugs_keep_their_traceback(exc: BaseException) -> None:
    log = Recorder()
    log_failed_pass(log, "experiment.pass_failed", exc, name="e")
    assert [c[0] for c in log.calls] == ["exception"]
    assert not is_transient(exc)


def test_describe_names_the_type_even_without_a_message() -> None:
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(KubeError(500, "boom")) == "KubeError: HTTP 500: boom"


@given(st.integers(min_value=400, max_value=599), st.text(max_size=40))
def test_every_api_error_is_transient(status: int, message: str) -> None:
    assert is_transient(KubeError(status, message))

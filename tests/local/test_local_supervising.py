"""Process supervision: whole process groups stopped, failures told with the child's output."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from modelrollout_operator.local.supervising import ProcessFailed, Supervisor, free_port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes (its parent has not reaped it yet)
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_for(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


def test_an_exception_stops_the_child_and_its_grandchildren(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = f"sleep 60 & echo $! > {pid_file}; wait"
    with pytest.raises(RuntimeError, match="boom"), Supervisor(tmp_path / "logs") as supervisor:
        child = supervisor.start("shell", ["sh", "-c", script])
        grandchild = int(_wait_for(pid_file))
        assert _alive(child.pid) and _alive(grandchild)
        raise RuntimeError("boom")
    assert not _alive(child.pid)
    assert not _alive(grandchild)
    assert supervisor.children == []


def test_a_child_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = (
        "import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"pathlib.Path({str(ready)!r}).write_text('1'); time.sleep(60)"
    )
    with Supervisor(tmp_path / "logs", stop_timeout=0.5) as supervisor:
        child = supervisor.start("stubborn", [sys.executable, "-c", code])
        _wait_for(ready)
    assert child.process.returncode == -9


def test_jobs_run_side_by_side_and_report_code_and_output(tmp_path: Path) -> None:
    with Supervisor(tmp_path / "logs") as supervisor:
        results = supervisor.run(
            [("ok", ["sh", "-c", "echo hello"]), ("bad", ["sh", "-c", "echo oops >&2; exit 3"])],
            timeout=30,
        )
    assert results[0] == (0, "hello\n")
    assert results[1] == (3, "oops\n")


def test_a_job_past_its_timeout_is_stopped_and_named(tmp_path: Path) -> None:
    with Supervisor(tmp_path / "logs") as supervisor:
        started = time.monotonic()
        with pytest.raises(ProcessFailed, match="slow did not finish within 1s"):
            supervisor.run([("slow", ["sleep", "30"])], timeout=1)
        assert time.monotonic() - started < 10
        assert supervisor.children == []


def test_waiting_for_a_server_that_died_fails_fast_with_its_output(tmp_path: Path) -> None:
    with Supervisor(tmp_path / "logs") as supervisor:
        child = supervisor.start("broken", ["sh", "-c", "echo cannot bind >&2; exit 7"])
        started = time.monotonic()
        with pytest.raises(ProcessFailed, match=r"(?s)code 7.*cannot bind"):
            supervisor.wait_http(child, f"http://127.0.0.1:{free_port()}/", timeout=30)
        assert time.monotonic() - started < 5

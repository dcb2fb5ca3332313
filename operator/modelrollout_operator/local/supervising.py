"""Process supervision: every child in its own process group, all of them stopped on the way out.

The demo starts a gateway, maybe a Prometheus, and trainer jobs. Each runs in a new session
(its own process group), so stopping it also stops whatever it spawned; `Supervisor` is a
context manager whose exit stops every group still alive, on success, on an exception and on
Ctrl-C alike.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
import structlog

from ..errors import ModelRolloutError

log = structlog.get_logger(__name__)


class ProcessFailed(ModelRolloutError, RuntimeError):
    """A supervised process exited when it should not have, or never became ready."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """One supervised process and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 20) -> str:
        """The last lines of the child's output, to say why it failed."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Starts children in their own process groups and stops every one of them on exit."""

    def __init__(self, log_dir: Path, stop_timeout: float = 5.0) -> None:
        self.log_dir = log_dir
        self.stop_timeout = stop_timeout
        self.children: list[Child] = []

    def __enter__(self) -> Supervisor:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        """Start `argv` in a new session; stdout and stderr go to `<log_dir>/<name>.log`."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as out:
            process = subprocess.Popen(  # argv is ours, never a shell
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,  # its own process group: stop it and its children
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        log.debug("started", name=name, pid=process.pid, argv=list(argv))
        return child

    def run(
        self,
        jobs: Sequence[tuple[str, Sequence[str]]],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> list[tuple[int, str]]:
        """Run (name, argv) jobs side by side to completion; (exit code, output) of each."""
        children = [self.start(name, argv, env=env) for name, argv in jobs]
        deadline = time.monotonic() + timeout
        try:
            for child in children:
                try:
                    child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    raise ProcessFailed(
                        f"{child.name} did not finish within {timeout:.0f}s"
                    ) from None
        finally:
            for child in children:
                self.stop(child)  # a no-op for those that finished; also their stray children
        return [
            (child.process.returncode, child.log_path.read_text(encoding="utf-8", errors="replace"))
            for child in children
        ]

    def wait_http(
        self,
        child: Child,
        url: str,
        *,
        timeout: float,
        ready: Callable[[httpx.Response], bool] | None = None,
    ) -> None:
        """Poll `url` until it answers 200 (and `ready` agrees); fail fast if the child dies."""
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if not child.alive():
                    raise ProcessFailed(
                        f"{child.name} exited with code {child.process.returncode} before it "
                        f"was ready:\n{child.tail()}"
                    )
                try:
                    response = client.get(url)
                    if response.status_code == 200 and (ready is None or ready(response)):
                        return
                    last_error = f"HTTP {response.status_code}"
                except httpx.HTTPError as error:
                    last_error = str(error) or type(error).__name__
                time.sleep(0.1)
        raise ProcessFailed(
            f"{child.name} was not ready at {url} within {timeout:.0f}s ({last_error}):\n"
            f"{child.tail()}"
        )

    def stop(self, child: Child) -> None:
        """SIGTERM the child's process group, SIGKILL it when it does not leave in time."""
        if child in self.children:
            self.children.remove(child)
        if child.process.poll() is not None:
            return  # it finished on its own (the jobs here leave no children behind)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, sig)
            try:
                child.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("did not stop on SIGTERM, killing", name=child.name, pid=child.pid)
                continue
            break
        # Grandchildren that outlived their parent still carry its process group id.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        log.debug("stopped", name=child.name, pid=child.pid, code=child.process.returncode)

    def stop_all(self) -> None:
        """Stop every child, the last started first (the gateway before what it depends on)."""
        for child in reversed(list(self.children)):
            self.stop(child)

    def check_alive(self) -> None:
        """Raise when a long-running child has died under us."""
        for child in self.children:
            if not child.alive():
                raise ProcessFailed(
                    f"{child.name} exited unexpectedly with code {child.process.returncode}:\n"
                    f"{child.tail()}"
                )

"""Child processes of the benchmark, each in its own process group, stopped by that group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]
ROOT = BENCHMARKS.parent


class Child:
    """`python -m <module>` that prints its URL on its first stdout line."""

    def __init__(self, module: str, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCHMARKS), str(ROOT)])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=None,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().decode().strip()
        if not first.startswith("http"):
            self.stop()
            raise RuntimeError(f"{module} did not start (first line {first!r})")
        self.url = first

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

"""A real Prometheus server (Debian's binary) scraping a prometheus-client exporter we drive.

`GatewayMetrics` exports the gateway's contract metrics (docs/contracts.md §1) for chosen
versions; tests move its counters to play traffic, feedback and latency per version.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from tests.support.processes import die_with_parent

PROMETHEUS = shutil.which("prometheus")
SKIP_REASON = "the prometheus binary is not installed (apt-get install prometheus)"
BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayMetrics:
    """The gateway's request and feedback metrics, driven by hand."""

    def __init__(self, model: str, namespace: str = "default") -> None:
        self.model = model
        self.namespace = namespace  # the namespace the model is routed for (contracts.md §1)
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "modelrollout_requests",
            "",
            ["namespace", "model", "version", "route", "code"],
            registry=r,
        )
        self.duration = Histogram(
            "modelrollout_request_duration_seconds",
            "",
            ["namespace", "model", "version", "route"],
            buckets=BUCKETS,
            registry=r,
        )
        self.feedback = Counter(
            "modelrollout_feedback", "", ["namespace", "model", "version"], registry=r
        )
        self.correct = Counter(
            "modelrollout_feedback_correct", "", ["namespace", "model", "version"], registry=r
        )
        self.port = free_port()
        self._server: Any = None

    def start(self) -> None:
        self._server = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)

    def stop(self) -> None:
        if isinstance(self._server, tuple):
            server, thread = self._server
            server.shutdown()
            thread.join(timeout=2)

    def touch(self, version: str, route: str) -> None:
        """Create a version's series at zero, so increase() sees its first events."""
        # Only successes: like the real gateway, a 5xx series exists once an error happened.
        self.requests.labels(self.namespace, self.model, version, route, "200")
        self.duration.labels(self.namespace, self.model, version, route)
        self.feedback.labels(self.namespace, self.model, version)
        self.correct.labels(self.namespace, self.model, version)

    def serve(
        self,
        version: str,
        route: str,
        *,
        requests: int,
        correct: int,
        latency: float = 0.02,
        errors: int = 0,
    ) -> None:
        """`requests` answered (with labels fed back, `correct` of them right)."""
        self.requests.labels(self.namespace, self.model, version, route, "200").inc(
            requests - errors
        )
        if errors:
            self.requests.labels(self.namespace, self.model, version, route, "500").inc(errors)
        hist = self.duration.labels(self.namespace, self.model, version, route)
        for _ in range(requests):
            hist.observe(latency)
        self.feedback.labels(self.namespace, self.model, version).inc(requests)
        self.correct.labels(self.namespace, self.model, version).inc(correct)


class PrometheusServer:
    """`prometheus` on 127.0.0.1 with a temporary TSDB, scraping `targets` every second.

    The one launcher the test suites share (gateway, operator, dashboards).
    """

    def __init__(
        self, targets: list[str], target_labels: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        if PROMETHEUS is None:
            raise RuntimeError(SKIP_REASON)
        self.targets = targets
        # Labels the scrape adds to a target's series, as Kubernetes service discovery adds
        # `namespace` (e.g. {"127.0.0.1:9001": {"namespace": "ml"}}).
        self.target_labels = dict(target_labels or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = tempfile.TemporaryDirectory(prefix="prom-")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        root = Path(self._dir.name)
        config = root / "prometheus.yml"
        plain = [t for t in self.targets if t not in self.target_labels]
        groups: list[dict[str, Any]] = [{"targets": plain}] if plain else []
        groups += [
            {"targets": [t], "labels": dict(self.target_labels[t])}
            for t in self.targets
            if t in self.target_labels
        ]
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "scrape_configs": [{"job_name": "gateway", "static_configs": groups}],
                }
            )  # YAML is a superset of JSON
        )
        assert PROMETHEUS is not None
        self._proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:  # it could not start (e.g. its port was taken)
                raise RuntimeError(f"prometheus exited with code {self._proc.returncode}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("prometheus did not become ready in 60 s")

    def series(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """The result of an instant query (at `at`, a Unix time, or now); a failed query fails."""
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = at
        body = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=10).json()
        assert body["status"] == "success", (
            f"{promql}: {body.get('errorType')}: {body.get('error')}"
        )
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait_for_series(self, query: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = httpx.get(f"{self.url}/api/v1/query", params={"query": query}).json()
            if body.get("data", {}).get("result"):
                return
            time.sleep(0.25)
        raise RuntimeError(f"no series for {query} after {timeout} s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._proc = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()


@contextlib.contextmanager
def running_prometheus(
    targets: list[str], target_labels: Mapping[str, Mapping[str, str]] | None = None
) -> Iterator[PrometheusServer]:
    """A started server, stopped afterwards; skips the test when the binary is missing."""
    if PROMETHEUS is None:
        pytest.skip(SKIP_REASON)
    server = PrometheusServer(targets, target_labels)
    server.start()
    try:
        yield server
    finally:
        server.close()

"""Triton's /metrics page (port 8002) as Triton writes it, for a real Prometheus to scrape.

A Triton server cannot run here, so this serves the text exposition of the families the
analysis and dashboards read, in Triton's own format (names without `_total`, `reason` on
failures since 24.x, the request summary with `--metrics-config=summary_latencies=true`),
from counters and quantiles the test sets. One page is one Triton pod.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAILURE_REASONS = ("REJECTED", "CANCELED", "BACKEND", "OTHER")
QUANTILES = ("0.5", "0.9", "0.95", "0.99", "0.999")


class TritonMetricsPage:
    """Counters and latency quantiles of one Triton pod, per (model, version)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.success: dict[tuple[str, str], float] = defaultdict(float)
        self.failure: dict[tuple[str, str, str], float] = defaultdict(float)
        self.duration_us: dict[tuple[str, str], float] = defaultdict(float)
        self.quantiles_us: dict[tuple[str, str], dict[str, float]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._stop_traffic = threading.Event()
        self._thread: threading.Thread | None = None

    def declare(self, model: str, version: str) -> None:
        """A loaded version: Triton exports its series at 0 (failures per reason too)."""
        with self._lock:
            self.success[(model, version)] += 0
            self.duration_us[(model, version)] += 0
            for reason in FAILURE_REASONS:
                self.failure[(model, version, reason)] += 0

    def serve(
        self,
        model: str,
        version: str,
        *,
        succeeded: int,
        failed: int = 0,
        reason: str = "BACKEND",
        latency_us: float = 1000.0,
        quantiles_us: dict[str, float] | None = None,
    ) -> None:
        with self._lock:
            self.success[(model, version)] += succeeded
            self.failure[(model, version, reason)] += failed
            self.duration_us[(model, version)] += latency_us * (succeeded + failed)
            if quantiles_us is not None:
                self.quantiles_us[(model, version)] = dict(quantiles_us)

    def text(self) -> str:
        with self._lock:
            lines = [
                "# HELP nv_inference_request_success Number of successful inference requests, "
                "all batch sizes",
                "# TYPE nv_inference_request_success counter",
            ]
            lines += [
                f'nv_inference_request_success{{model="{m}",version="{v}"}} {n}'
                for (m, v), n in sorted(self.success.items())
            ]
            lines += [
                "# HELP nv_inference_request_failure Number of failed inference requests, "
                "all batch sizes",
                "# TYPE nv_inference_request_failure counter",
            ]
            lines += [
                f'nv_inference_request_failure{{model="{m}",reason="{r}",version="{v}"}} {n}'
                for (m, v, r), n in sorted(self.failure.items())
            ]
            lines += [
                "# HELP nv_inference_request_duration_us Cumulative inference request duration "
                "in microseconds (includes cached requests)",
                "# TYPE nv_inference_request_duration_us counter",
            ]
            lines += [
                f'nv_inference_request_duration_us{{model="{m}",version="{v}"}} {us}'
                for (m, v), us in sorted(self.duration_us.items())
            ]
            lines += [
                "# HELP nv_inference_request_summary_us Summary of inference request duration "
                "in microseconds (includes cached requests)",
                "# TYPE nv_inference_request_summary_us summary",
            ]
            for (m, v), count in sorted(self.success.items()):
                total = count + sum(
                    n for (fm, fv, _), n in self.failure.items() if (fm, fv) == (m, v)
                )
                sel = f'model="{m}",version="{v}"'
                lines.append(f"nv_inference_request_summary_us_count{{{sel}}} {total}")
                lines.append(
                    f"nv_inference_request_summary_us_sum{{{sel}}} {self.duration_us[(m, v)]}"
                )
                for q, us in sorted(self.quantiles_us.get((m, v), {}).items()):
                    lines.append(f'nv_inference_request_summary_us{{{sel},quantile="{q}"}} {us}')
        return "\n".join(lines) + "\n"

    def drive(self, model: str, versions: dict[str, tuple[int, int]], period: float = 0.25) -> None:
        """Keep traffic flowing in a thread: per version (succeeded, failed) each `period` s."""
        stop = self._stop_traffic

        def run() -> None:
            while not stop.wait(period):
                for version, (ok, failed) in versions.items():
                    self.serve(model, version, succeeded=ok, failed=failed,
                               quantiles_us={"0.5": 800.0 * int(version), "0.99": 4000.0 * int(version)})  # fmt: skip

        threading.Thread(target=run, daemon=True).start()

    def start(self) -> int:
        """Serve on 127.0.0.1 (a free port, returned)."""
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = page.text().encode()
                self.send_response(200 if self.path == "/metrics" else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._stop_traffic.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

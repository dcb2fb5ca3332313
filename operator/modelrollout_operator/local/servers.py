"""The local servers: the gateway (embedded ONNX Runtime) and, when installed, Prometheus.

Both bind 127.0.0.1 on a free port and run under the `Supervisor`. The gateway is started
through its own console entry point (`python -m modelrollout_inference.cli`), never imported.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .supervising import Child, Supervisor, free_port

PROMETHEUS_ENV = "MODELROLLOUT_DEMO_PROMETHEUS"  # a path to the binary, or "off"


@dataclass(frozen=True)
class Gateway:
    url: str
    admin_token: str
    child: Child


@dataclass(frozen=True)
class Prometheus:
    url: str
    child: Child


def start_gateway(
    supervisor: Supervisor,
    repository: Path,
    *,
    ready_timeout: float = 60.0,
    prediction_log: Path | None = None,
) -> Gateway:
    """The gateway on a free port; `prediction_log`: the directory it writes its log to."""
    port = free_port()
    token = secrets.token_urlsafe(24)
    env = dict(os.environ)
    env.update(
        {
            "MODELROLLOUT_GATEWAY_ADMIN_TOKEN": token,
            # the feedback delay is seconds: keep remembered predictions for a few minutes only
            "MODELROLLOUT_GATEWAY_FEEDBACK_TTL_SECONDS": "300",
            "MODELROLLOUT_GATEWAY_ORT_INTRA_OP_THREADS": "1",
        }
    )
    argv = [
        sys.executable,
        "-m",
        "modelrollout_inference.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model-repository",
        str(repository),
        "--log-level",
        "warning",
    ]
    if prediction_log is not None:
        prediction_log.mkdir(parents=True, exist_ok=True)
        argv += ["--prediction-log-dir", str(prediction_log)]
    child = supervisor.start("gateway", argv, env=env)
    url = f"http://127.0.0.1:{port}"
    supervisor.wait_http(child, f"{url}/v2/health/ready", timeout=ready_timeout)
    return Gateway(url, token, child)


def find_prometheus() -> str | None:
    """The `prometheus` binary to use, or None (then the gateway's counters are read)."""
    chosen = os.environ.get(PROMETHEUS_ENV)
    if chosen is not None:
        return None if chosen.lower() in ("", "off", "none", "0") else chosen
    return shutil.which("prometheus")


def prometheus_config(gateway_target: str, scrape_interval: float) -> str:
    """A scrape config for the one gateway (pure)."""
    interval = f"{max(1, round(scrape_interval))}s"
    return (
        "global:\n"
        f"  scrape_interval: {interval}\n"
        f"  evaluation_interval: {interval}\n"
        "scrape_configs:\n"
        "  - job_name: modelrollout-gateway\n"
        f"    scrape_interval: {interval}\n"
        f"    scrape_timeout: {interval}\n"
        "    static_configs:\n"
        f"      - targets: ['{gateway_target}']\n"
    )


def start_prometheus(
    supervisor: Supervisor,
    binary: str,
    gateway_url: str,
    workdir: Path,
    *,
    scrape_interval: float = 1.0,
    ready_timeout: float = 30.0,
) -> Prometheus:
    directory = workdir / "prometheus"
    (directory / "tsdb").mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(
        prometheus_config(gateway_url.removeprefix("http://"), scrape_interval), encoding="utf-8"
    )
    port = free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]
    child = supervisor.start("prometheus", argv)
    url = f"http://127.0.0.1:{port}"
    supervisor.wait_http(child, f"{url}/-/ready", timeout=ready_timeout)
    return Prometheus(url, child)

"""Helpers for the gateway tests: a real ONNX model repository, a served gateway, Prometheus.

Imported by conftest.py (which puts this folder on sys.path: pytest runs in importlib mode).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from modelrollout_inference.serving.app import GatewayApp
from modelrollout_inference.serving.gateway import Gateway
from modelrollout_inference.settings import GatewaySettings
from tests.support.onnx_models import write_linear_model

FEATURES = 39
MODEL = "scorer"
# The admin API is off unless enabled with a token: test gateways enable it, as local mode does.
ADMIN_TOKEN = "test-admin-token"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def with_admin(settings: GatewaySettings) -> GatewaySettings:
    if settings.admin_token is not None:
        return settings
    return settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})


@dataclass(frozen=True)
class LabelledData:
    features: np.ndarray  # float32 [N, 39]
    labels: np.ndarray  # int [N]


def true_weights() -> np.ndarray:
    return np.random.default_rng(7).normal(size=FEATURES).astype(np.float32)


def version_weights(version: int) -> np.ndarray:
    """Version 1 knows the true weights; version 2 has a third of them flipped (worse)."""
    weights = true_weights().copy()
    if version == 2:
        weights[: FEATURES // 3] *= -1
    return weights


def write_model(path: Path, weights: np.ndarray, bias: float = 0.0) -> None:
    """features[-1,39] -> MatMul -> Add -> Sigmoid -> score[-1,1], as the trainer exports."""
    write_linear_model(path, weights, bias)


CONFIG_PBTXT = """name: "{model}"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ {{ name: "features" data_type: TYPE_FP32 dims: [ -1, {features} ] }} ]
output [ {{ name: "score" data_type: TYPE_FP32 dims: [ -1, 1 ] }} ]
"""


def build_repository(root: Path, model: str = MODEL) -> Path:
    for version in (1, 2):
        write_model(root / model / str(version) / "model.onnx", version_weights(version))
    (root / model / "config.pbtxt").write_text(CONFIG_PBTXT.format(model=model, features=FEATURES))
    return root


def accuracy_of(version: int, data: LabelledData) -> float:
    scores = 1 / (1 + np.exp(-(data.features @ version_weights(version))))
    return float(np.mean((scores >= 0.5).astype(np.int64) == data.labels))


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """A bare ASGI app (a misbehaving backend) served by uvicorn on 127.0.0.1; its base URL."""
    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class RunningGateway:
    url: str  # http://127.0.0.1:PORT
    address: str  # 127.0.0.1:PORT, as tritonclient wants it
    gateway: Gateway
    server: uvicorn.Server


@contextlib.contextmanager
def serve_gateway(
    settings: GatewaySettings, app: GatewayApp | None = None
) -> Iterator[RunningGateway]:
    """The real ASGI app on uvicorn (uvloop + httptools) in a thread, on a free port."""
    app = app or GatewayApp(Gateway(with_admin(settings)))
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("gateway did not start")
        time.sleep(0.01)
    try:
        yield RunningGateway(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", app.gateway, server)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def put_table(running: RunningGateway, table: dict[str, object]) -> httpx.Response:
    return httpx.put(
        f"{running.url}/admin/routing/{table['model']}", json=table, headers=ADMIN, timeout=10
    )


def two_version_table(
    candidate_weight: int, generation: int = 1, **extra: object
) -> dict[str, object]:
    return {
        "model": MODEL,
        "versions": [
            {
                "version": "1",
                "weight": 100 - candidate_weight,
                "role": "baseline",
                "backend": {"kind": "onnxruntime"},
            },
            {
                "version": "2",
                "weight": candidate_weight,
                "role": "candidate",
                "backend": {"kind": "onnxruntime"},
            },
        ],
        "stickyBy": "x-user-id",
        "shadow": None,
        "correctness": {"kind": "binary", "output": "score", "threshold": 0.5},
        "timeoutSeconds": 1.0,
        "generation": generation,
        **extra,
    }


def metric_value(url: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


# -- Prometheus --------------------------------------------------------------------------------

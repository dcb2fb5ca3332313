"""Fixtures for the gateway tests; the helpers live in gateway_helpers.py."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).parent))

from gateway_helpers import (
    FEATURES,
    LabelledData,
    RunningGateway,
    build_repository,
    serve_gateway,
    true_weights,
    with_admin,
)

from modelrollout_inference.settings import GatewaySettings
from tests.support.prometheus import PrometheusServer, running_prometheus


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repository(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def labelled() -> LabelledData:
    rng = np.random.default_rng(11)
    features = rng.normal(size=(2000, FEATURES)).astype(np.float32)
    logits = features @ true_weights() + rng.normal(scale=1.0, size=2000)
    return LabelledData(features, (logits > 0).astype(np.int64))


@pytest.fixture
def gateway_settings(model_repository: Path) -> GatewaySettings:
    return with_admin(GatewaySettings(model_repository=model_repository))


@pytest.fixture
def running(gateway_settings: GatewaySettings) -> Iterator[RunningGateway]:
    with serve_gateway(gateway_settings) as running:
        yield running


@pytest.fixture
def prometheus_factory() -> Callable[[list[str]], AbstractContextManager[PrometheusServer]]:
    return running_prometheus


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3").create_bucket(Bucket="logs")
    try:
        yield endpoint
    finally:
        server.stop()

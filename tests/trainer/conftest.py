"""Fixtures of the trainer tests: a real S3 endpoint (moto server on 127.0.0.1) and data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from modelrollout_trainer.synthesizing import SynthSpec, synthesize


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 client on the moto server, with the environment set as a Job's would be."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return boto3.client("s3", endpoint_url=moto_endpoint)


@pytest.fixture(scope="session")
def small_frame() -> pd.DataFrame:
    return synthesize(SynthSpec(rows=4000, seed=11))


@pytest.fixture
def small_csv(tmp_path: Path, small_frame: pd.DataFrame) -> Path:
    path = tmp_path / "small.csv"
    small_frame.to_csv(path, index=False)
    return path

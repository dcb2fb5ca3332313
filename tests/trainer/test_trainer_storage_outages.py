"""A briefly unreachable S3 endpoint is waited out; one that stays down is exit code 6, which
the Job retries (not 2, which fails the ModelVersion for good as a bad dataset)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from modelrollout_operator.resources.manifests import NON_RETRIABLE_EXIT_CODES, RETRIABLE_EXIT_CODES
from modelrollout_trainer.cli import main
from modelrollout_trainer.errors import EXIT_STORAGE_UNAVAILABLE, StorageUnavailable
from modelrollout_trainer.storage import download_file, upload_file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Endpoint:
    """A moto S3 server on a fixed port that can go away and come back (its data stays)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port)
        self.up = False

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port)
        self._server.start()
        self.up = True

    def stop(self) -> None:
        if self.up:
            self._server.stop()
            self.up = False

    def back_after(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.start)
        timer.start()
        return timer


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    ep = Endpoint()
    ep.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", ep.url)
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    boto3.client("s3", endpoint_url=ep.url).create_bucket(Bucket="data")
    yield ep
    ep.stop()


def test_an_endpoint_down_for_a_moment_is_waited_out(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELROLLOUT_STORAGE_RETRY_SECONDS", "30")
    source = tmp_path / "a.txt"
    source.write_text("hello")
    endpoint.stop()
    timer = endpoint.back_after(1.5)
    try:
        upload_file(source, "s3://data/a.txt")
    finally:
        timer.join()
    download_file("s3://data/a.txt", tmp_path / "b.txt")
    assert (tmp_path / "b.txt").read_text() == "hello"


def test_an_endpoint_that_stays_down_is_storage_unavailable_after_the_budget(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELROLLOUT_STORAGE_RETRY_SECONDS", "1")
    endpoint.stop()
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="storage unavailable"):
        download_file("s3://data/missing.csv", tmp_path / "x.csv")
    assert time.monotonic() - started < 30


def test_a_missing_object_is_not_retried(endpoint: Endpoint, tmp_path: Path) -> None:
    from modelrollout_trainer.errors import StorageError

    with pytest.raises(StorageError) as caught:
        download_file("s3://data/nope.csv", tmp_path / "x.csv")
    assert not isinstance(caught.value, StorageUnavailable)


def test_training_with_storage_down_exits_with_the_retriable_code_not_bad_dataset(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = pd.DataFrame({"x": [0.1 * i for i in range(60)], "label": [i % 2 for i in range(60)]})
    local = tmp_path / "d.csv"
    frame.to_csv(local, index=False)
    upload_file(local, "s3://data/d.csv")
    monkeypatch.setenv("MODELROLLOUT_STORAGE_RETRY_SECONDS", "1")
    endpoint.stop()
    code = main(
        ["train", "--dataset", "s3://data/d.csv", "--model", "m", "--version", "1",
         "--output", str(tmp_path / "repo"), "--epochs", "1"]
    )  # fmt: skip
    assert code == EXIT_STORAGE_UNAVAILABLE
    assert code not in NON_RETRIABLE_EXIT_CODES and code in RETRIABLE_EXIT_CODES

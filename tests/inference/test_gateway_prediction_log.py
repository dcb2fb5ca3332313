"""The prediction log: rotated JSONL, flushed on shutdown, joined by request id; S3 upload."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
import orjson
import pytest
from gateway_helpers import MODEL, LabelledData, free_socket, metric_value, serve_gateway

from modelrollout_inference.logging.records import timestamp
from modelrollout_inference.logging.writer import CURRENT, PredictionLogWriter
from modelrollout_inference.settings import GatewaySettings
from tests.support.processes import die_with_parent

CLOSED = re.compile(r"^predictions-\d{8}T\d{12}Z-\d+\.jsonl$")


def _records(directory: Path) -> list[dict[str, object]]:
    return [
        orjson.loads(line)
        for path in sorted(directory.iterdir())
        for line in path.read_bytes().splitlines()
    ]


def test_predictions_and_labels_are_logged_rotated_and_flushed(
    tmp_path: Path, model_repository: Path, labelled: LabelledData
) -> None:
    directory = tmp_path / "log"
    settings = GatewaySettings(
        model_repository=model_repository,
        prediction_log_dir=directory,
        prediction_log_max_bytes=4000,
    )
    with serve_gateway(settings) as running:
        for i in range(20):
            row = labelled.features[i : i + 1]
            body = {
                "id": f"r{i}",
                "inputs": [
                    {
                        "name": "features",
                        "datatype": "FP32",
                        "shape": [1, 39],
                        "data": row.ravel().tolist(),
                    }
                ],
            }
            assert (
                httpx.post(
                    f"{running.url}/v2/models/{MODEL}/versions/1/infer", json=body
                ).status_code
                == 200
            )
        feedback = [{"id": f"r{i}", "label": int(labelled.labels[i])} for i in range(0, 20, 2)]
        assert (
            httpx.post(f"{running.url}/v2/models/{MODEL}/feedback", json=feedback).json()["joined"]
            == 10
        )
    names = sorted(p.name for p in directory.iterdir())
    assert CURRENT not in names  # closed on shutdown
    assert len(names) > 1 and all(CLOSED.match(n) for n in names), names  # rotated by size
    records = _records(directory)
    predictions = {r["requestId"]: r for r in records if r["kind"] == "prediction"}
    labels = [r for r in records if r["kind"] == "feedback"]
    assert len(predictions) == 20 and len(labels) == 10
    first = predictions["r0"]
    assert first["version"] == "1" and first["route"] == "stable" and first["model"] == MODEL
    assert (
        first["inputs"]["features"][0][:3]
        == pytest.approx(  # type: ignore[index]
            labelled.features[0, :3].tolist()
        )
    )
    score = first["outputs"]["score"][0][0]  # type: ignore[index]
    label = next(r for r in labels if r["requestId"] == "r0")
    assert label["correct"] == ((score >= 0.5) == bool(labelled.labels[0]))
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", str(first["time"]))


def test_closed_files_are_uploaded_to_s3_then_deleted_locally(tmp_path: Path, s3: str) -> None:
    deleted: list[str] = []
    writer = PredictionLogWriter(
        tmp_path, max_bytes=200, s3_uri="s3://logs/gateway/a", on_delete=deleted.append
    )
    writer.start()
    for i in range(10):
        writer.submit(lambda i=i: {"kind": "prediction", "requestId": str(i), "pad": "x" * 50})
    writer.close()
    s3_client = boto3.client("s3")
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket="logs")["Contents"])
    assert len(keys) >= 3
    assert list(tmp_path.iterdir()) == []  # confirmed uploads leave the volume
    assert deleted == ["uploaded"] * len(keys)
    uploaded = [
        orjson.loads(line)["requestId"]
        for key in keys
        for line in s3_client.get_object(Bucket="logs", Key=key)["Body"].read().splitlines()
    ]
    assert sorted(uploaded, key=int) == [str(i) for i in range(10)]


def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    dropped = []
    writer = PredictionLogWriter(tmp_path, max_bytes=10_000, queue_size=2, on_drop=dropped.append)
    # Not started: nothing drains the queue.
    for i in range(5):
        writer.submit(lambda i=i: {"n": i})
    assert dropped == ["queue_full"] * 3


def test_timestamp_format() -> None:
    assert timestamp(0.123) == "1970-01-01T00:00:00.123Z"


def _wait(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_the_log_never_exceeds_its_size_cap_and_deletes_oldest_first(tmp_path: Path) -> None:
    deleted: list[str] = []
    sizes: list[float] = []
    writer = PredictionLogWriter(
        tmp_path,
        max_bytes=1000,
        max_total_bytes=3000,
        on_delete=deleted.append,
        on_size=sizes.append,
    )
    writer.start()
    for i in range(200):  # ~100 bytes each: ~20 KB into a 3 KB cap
        writer.submit(lambda i=i: {"kind": "prediction", "requestId": str(i), "pad": "x" * 60})
        if i % 20 == 0:
            _wait(lambda: writer._queue.empty())
            on_disk = sum(p.stat().st_size for p in tmp_path.iterdir())
            assert on_disk <= 3000
    writer.close()
    on_disk = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert on_disk <= 3000 and max(sizes) <= 3000
    assert deleted and set(deleted) == {"size_cap"}
    kept = sorted(int(r["requestId"]) for r in _records(tmp_path))  # type: ignore[call-overload]
    assert kept == list(range(kept[0], 200))  # the newest records stay, the oldest went first
    assert sizes[-1] == on_disk


def test_the_log_writes_again_after_its_directory_was_removed(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    writer = PredictionLogWriter(directory, max_bytes=10_000)
    writer.start()
    writer.submit(lambda: {"n": 1})
    _wait(lambda: (directory / CURRENT).exists() and (directory / CURRENT).stat().st_size > 0)
    shutil.rmtree(directory)
    writer.submit(lambda: {"n": 2})
    _wait(lambda: (directory / CURRENT).exists() and (directory / CURRENT).stat().st_size > 0)
    writer.close()
    assert [r["n"] for r in _records(directory)] == [2]
    assert writer._thread.is_alive() is False and writer.error is None


def _tmpfs_works() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt && umount /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _tmpfs_works(), reason="needs root and unshare -m to mount a tmpfs")
def test_a_full_volume_is_counted_reported_not_ready_and_recovered(
    tmp_path: Path, model_repository: Path, labelled: LabelledData
) -> None:
    """A real ENOSPC: the gateway runs in its own mount namespace on a 256 KiB tmpfs; the test
    reaches that tmpfs through /proc/<pid>/root to fill it and to free it again."""
    mount = tmp_path / "volume"
    mount.mkdir()
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    script = (
        f"mount -t tmpfs -o size=256k tmpfs {mount} && exec {sys.executable} -m "
        f"modelrollout_inference.cli serve --host 127.0.0.1 --port {port} "
        f"--model-repository {model_repository} --prediction-log-dir {mount}/log"
    )
    child = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        start_new_session=True,
        preexec_fn=die_with_parent,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _ready(url) == 200, timeout=60)
        inside = Path(f"/proc/{child.pid}/root") / str(mount).lstrip("/")
        filler = inside / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # fill the tmpfs to the last page
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.close(fd)
        body = {
            "inputs": [
                {
                    "name": "features",
                    "datatype": "FP32",
                    "shape": [1, 39],
                    "data": labelled.features[0].tolist(),
                }
            ]
        }
        for _ in range(5):  # answers go on while the log cannot write
            assert httpx.post(f"{url}/v2/models/{MODEL}/infer", json=body).status_code == 200
        _wait(lambda: _ready(url) == 503)
        reason = httpx.get(f"{url}/v2/health/ready").json()["error"]
        assert "prediction log cannot write" in reason and "No space left" in reason
        for _ in range(5):
            assert httpx.post(f"{url}/v2/models/{MODEL}/infer", json=body).status_code == 200
        assert (
            metric_value(url, "modelrollout_prediction_log_dropped_total", reason="write_error")
            >= 5
        )
        filler.unlink()  # space returns
        _wait(lambda: _ready(url) == 200)
        assert (
            httpx.post(f"{url}/v2/models/{MODEL}/infer", json={**body, "id": "after"}).status_code
            == 200
        )
        _wait(lambda: b'"after"' in (inside / "log" / CURRENT).read_bytes())
        for line in (inside / "log" / CURRENT).read_bytes().splitlines():
            orjson.loads(line)  # no torn line was left behind
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(10)


def _ready(url: str) -> int:
    try:
        return httpx.get(f"{url}/v2/health/ready", timeout=2).status_code
    except httpx.HTTPError:
        return 0

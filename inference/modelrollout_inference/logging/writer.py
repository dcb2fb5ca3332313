"""The prediction-log writer: a thread off the request path, size-rotated files.

The request path only enqueues (numpy arrays stay arrays until the thread serialises them).
A full queue drops the record and counts it rather than slowing answers. The open file is
`predictions-current.jsonl`; a full one is renamed `predictions-<UTC timestamp>-<n>.jsonl` and,
when configured, uploaded to S3 by the same thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import orjson
import structlog

log = structlog.get_logger(__name__)

CURRENT = "predictions-current.jsonl"
_STOP = object()

Record = Callable[[], dict[str, Any]]


class PredictionLogWriter:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        queue_size: int = 100_000,
        s3_uri: str | None = None,
        on_drop: Callable[[], None] = lambda: None,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._on_drop = on_drop
        self._s3 = urlsplit(s3_uri) if s3_uri else None
        self._sequence = 0
        self._file: IO[bytes] | None = None
        self._size = 0
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # A current file left by a crash is closed first, so it is never appended to twice.
        if (self.directory / CURRENT).exists():
            self._rotate()
        self._thread.start()

    def submit(self, record: Record) -> None:
        """Enqueue a record builder; it runs on the writer thread."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._on_drop()

    def close(self, timeout: float = 10.0) -> None:
        """Flush every queued record, close and rename the current file."""
        if not self._thread.is_alive():
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            self._write(item)
            # Drain what is already queued before flushing: one flush per burst.
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._finish()
                    return
                self._write(item)
            if self._file is not None:
                self._file.flush()
        self._finish()

    def _write(self, item: object) -> None:
        try:
            assert callable(item)
            line = orjson.dumps(item(), option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        except Exception:  # one bad record must not stop the log
            log.exception("prediction log record failed")
            return
        if self._file is None:
            self._file = (self.directory / CURRENT).open("ab")
            self._size = self._file.tell()
        self._file.write(line)
        self._size += len(line)
        if self._size >= self.max_bytes:
            self._rotate()

    def _finish(self) -> None:
        if self._file is not None or (self.directory / CURRENT).exists():
            self._rotate()

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        current = self.directory / CURRENT
        if not current.exists() or current.stat().st_size == 0:
            current.unlink(missing_ok=True)
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._sequence += 1
        closed = self.directory / f"predictions-{stamp}-{self._sequence}.jsonl"
        current.rename(closed)
        self._size = 0
        if self._s3 is not None:
            self._upload(closed)

    def _upload(self, path: Path) -> None:
        assert self._s3 is not None
        import boto3  # lazily: only when S3 upload is configured

        prefix = self._s3.path.strip("/")
        key = f"{prefix}/{path.name}" if prefix else path.name
        for attempt in range(3):
            try:
                boto3.client("s3").upload_file(str(path), self._s3.netloc, key)
                log.info("prediction log uploaded", file=path.name, bucket=self._s3.netloc, key=key)
                return
            except Exception as exc:  # keep the file; retry a little, then leave it on disk
                log.warning("prediction log upload failed", file=path.name, error=str(exc))
                time.sleep(0.5 * (attempt + 1))

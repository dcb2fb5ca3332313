"""The prediction-log writer: a thread off the request path, size-rotated files on a bounded volume.

The request path only enqueues (numpy arrays stay arrays until the thread serialises them).
A full queue drops the record and counts it rather than slowing answers. The open file is
`predictions-current.jsonl`; a full one is renamed `predictions-<UTC timestamp>-<n>.jsonl` and,
when configured, uploaded to S3 by the same thread, then deleted once the upload is confirmed.

The volume never fills: past `max_total_bytes` the oldest closed files are deleted (counted
`size_cap`), uploaded or not. A write that fails (ENOSPC, the directory removed) does not end
the thread: the batch is kept and retried with a backoff, `error` says why (the gateway reports
not-ready), and records submitted meanwhile are dropped and counted (`write_error`). Writing
resumes by itself when space returns; a half-written line is cut off, so every line stays JSON.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import structlog

log = structlog.get_logger(__name__)

CURRENT = "predictions-current.jsonl"
CLOSED_GLOB = "predictions-2*.jsonl"  # closed names start with the UTC year
_STOP = object()
_BATCH = 1024  # records written (and retried) together
_RETRY_FIRST, _RETRY_MAX = 0.05, 2.0

Record = Callable[[], dict[str, Any]]


def _ignore(_: str) -> None:
    return None


def _ignore_size(_: float) -> None:
    return None


class PredictionLogWriter:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        max_total_bytes: int | None = None,
        queue_size: int = 100_000,
        s3_uri: str | None = None,
        on_drop: Callable[[str], None] = _ignore,
        on_delete: Callable[[str], None] = _ignore,
        on_size: Callable[[float], None] = _ignore_size,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.max_total_bytes = max_total_bytes or 16 * max_bytes
        if self.max_total_bytes < 2 * max_bytes:
            raise ValueError("max_total_bytes must be at least twice max_bytes")
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._on_drop = on_drop
        self._on_delete = on_delete
        self._on_size = on_size
        self._s3 = urlsplit(s3_uri) if s3_uri else None
        self._sequence = 0
        self._fd: int | None = None
        self._size = 0  # bytes in the current file
        self._closed: list[tuple[Path, int]] = []  # oldest first
        self._unuploaded: list[Path] = []
        # Why the log cannot write, or None. Read by the gateway's readiness.
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Files left by an earlier process count against the cap (and are still uploaded).
        for path in sorted(self.directory.glob(CLOSED_GLOB)):
            self._closed.append((path, path.stat().st_size))
            if self._s3 is not None:
                self._unuploaded.append(path)
        # A current file left by a crash is closed first, so it is never appended to twice.
        if (self.directory / CURRENT).exists():
            self._rotate()
        self._report_size()
        self._thread.start()

    def submit(self, record: Record) -> None:
        """Enqueue a record builder; it runs on the writer thread."""
        if self.error is not None:
            self._on_drop("write_error")
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._on_drop("queue_full")

    def close(self, timeout: float = 10.0) -> None:
        """Flush every queued record, close and rename the current file."""
        if not self._thread.is_alive():
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)

    @property
    def total_bytes(self) -> int:
        return self._size + sum(size for _, size in self._closed)

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        pending: list[bytes] = []
        stopping = False
        backoff = _RETRY_FIRST
        while True:
            if not pending and not stopping:
                item = self._queue.get()
                if item is _STOP:
                    break
                self._serialise(item, pending)
            while len(pending) < _BATCH and not stopping:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                else:
                    self._serialise(item, pending)
            if pending:
                pending = self._write(pending)
            if not pending:
                backoff = _RETRY_FIRST
                if stopping:
                    break
                continue
            if stopping:  # no more retries: what could not be written is dropped, counted
                for _ in pending:
                    self._on_drop("write_error")
                break
            time.sleep(backoff)
            backoff = min(backoff * 2, _RETRY_MAX)
        with contextlib.suppress(OSError):
            self._finish()

    def _serialise(self, item: object, into: list[bytes]) -> None:
        try:
            assert callable(item)
            into.append(orjson.dumps(item(), option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        except Exception:  # one bad record must not stop the log
            log.exception("prediction log record failed")

    def _write(self, lines: list[bytes]) -> list[bytes]:
        """Write a batch, rotating at `max_bytes`; returns what could not be written (and sets
        `error`), or an empty list."""
        lines = self._make_room(lines)
        while lines:
            room = self.max_bytes - self._size
            cut, size = 0, 0
            while cut < len(lines) and (cut == 0 or size < room):
                size += len(lines[cut])
                cut += 1
            if not self._write_chunk(b"".join(lines[:cut])):
                return lines
            lines = lines[cut:]
        return []

    def _write_chunk(self, data: bytes) -> bool:
        try:
            fd = self._open()
            good = self._size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, good)  # no half line stays behind
                raise
        except OSError as exc:
            self._fail(exc)
            return False
        self._size += len(data)
        if self.error is not None:
            log.warning("prediction log writing again", directory=str(self.directory))
            self.error = None
        if self._size >= self.max_bytes:
            try:
                self._rotate()
            except OSError as exc:
                # The records are written: the rotation is retried at the next write. Not an
                # `error`: nothing would clear it until a record is written, and none would be
                # (records are dropped while there is an error).
                log.warning("prediction log rotation failed", error=str(exc))
                self._close_fd()
        self._report_size()
        return True

    def _open(self) -> int:
        if self._fd is not None:
            # A directory removed under an open file: writes would go to an unlinked inode.
            if os.fstat(self._fd).st_nlink > 0:
                return self._fd
            self._close_fd()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.directory / CURRENT, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = os.fstat(self._fd).st_size
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _fail(self, exc: OSError) -> None:
        message = f"{exc.strerror or type(exc).__name__} ({self.directory})"
        if self.error is None:
            log.error("prediction log cannot write", error=message)
        self.error = message
        self._close_fd()
        # Files of ours that vanished with their directory no longer count against the cap.
        self._closed = [(path, size) for path, size in self._closed if path.exists()]

    def _make_room(self, lines: list[bytes]) -> list[bytes]:
        """Delete the oldest closed files until the batch fits the cap; drop what still can't."""
        incoming = sum(len(line) for line in lines)
        while self._closed and self.total_bytes + incoming > self.max_total_bytes:
            path, _ = self._closed.pop(0)
            with contextlib.suppress(OSError):
                path.unlink()
            if path in self._unuploaded:
                self._unuploaded.remove(path)
            self._on_delete("size_cap")
            log.warning("prediction log file deleted to stay under the cap", file=path.name)
        kept = []
        room = self.max_total_bytes - self.total_bytes
        for line in lines:
            if len(line) <= room:
                kept.append(line)
                room -= len(line)
            else:
                self._on_drop("size_cap")
        return kept

    def _finish(self) -> None:
        if self._fd is not None or (self.directory / CURRENT).exists():
            self._rotate()
        self._report_size()

    def _rotate(self) -> None:
        self._close_fd()
        current = self.directory / CURRENT
        if not current.exists() or current.stat().st_size == 0:
            current.unlink(missing_ok=True)
            self._size = 0
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._sequence += 1
        closed = self.directory / f"predictions-{stamp}-{self._sequence}.jsonl"
        size = current.stat().st_size
        current.rename(closed)
        self._size = 0
        self._closed.append((closed, size))
        if self._s3 is not None:
            self._unuploaded.append(closed)
            self._upload_pending()

    def _upload_pending(self) -> None:
        """Upload closed files oldest first; a confirmed upload deletes the local file."""
        for path in list(self._unuploaded):
            if not self._upload(path):
                return  # S3 unreachable: the rest waits for the next rotation
            self._unuploaded.remove(path)
            with contextlib.suppress(OSError):
                path.unlink()
            self._closed = [(p, s) for p, s in self._closed if p != path]
            self._on_delete("uploaded")

    def _upload(self, path: Path) -> bool:
        assert self._s3 is not None
        import boto3  # lazily: only when S3 upload is configured

        prefix = self._s3.path.strip("/")
        key = f"{prefix}/{path.name}" if prefix else path.name
        for attempt in range(3):
            try:
                boto3.client("s3").upload_file(str(path), self._s3.netloc, key)
                log.info("prediction log uploaded", file=path.name, bucket=self._s3.netloc, key=key)
                return True
            except Exception as exc:  # keep the file; retry a little, then at the next rotation
                log.warning("prediction log upload failed", file=path.name, error=str(exc))
                time.sleep(0.5 * (attempt + 1))
        return False

    def _report_size(self) -> None:
        self._on_size(float(self.total_bytes))

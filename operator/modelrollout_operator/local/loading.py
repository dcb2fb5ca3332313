"""Labelled traffic through the real HTTP protocol: KServe v2 infer, then delayed feedback.

Sticky users (the `x-user-id` header) send rows drawn from a held-out sample of the clean
distribution; the ground truth of each answered request is posted to
`/v2/models/{model}/feedback` after a delay, in batches, as a labelling pipeline would.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import heapq
import itertools
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import structlog

from ..errors import ModelRolloutError

log = structlog.get_logger(__name__)

VERSION_HEADER = "x-model-version"


class TrafficError(ModelRolloutError, ValueError):
    """The traffic sample cannot be used (missing file, no label column, ragged rows)."""


@dataclass(frozen=True)
class TrafficSample:
    """Rows to send (`features`, float32 [N, F]) and their ground truth (`labels`, [N])."""

    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        if self.features.ndim != 2 or len(self.features) != len(self.labels):
            raise TrafficError(
                f"features {self.features.shape} and labels {self.labels.shape} do not match"
            )
        if len(self.labels) == 0:
            raise TrafficError("the traffic sample has no rows")


def read_sample(path: Path, label_column: str = "label") -> TrafficSample:
    """A CSV traffic sample: every column but `label_column` is a feature, in file order
    (the order the trainer's `synth` writes and its `scoring` feature set expects)."""
    if not path.is_file():
        raise TrafficError(f"traffic sample not found: {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise TrafficError(f"{path} is empty")
        if label_column not in header:
            raise TrafficError(f"{path} has no {label_column!r} column (columns: {header[:5]}...)")
        label_at = header.index(label_column)
        rows = [row for row in reader if row]
    if not rows:
        raise TrafficError(f"{path} has a header but no rows")
    try:
        table = np.asarray(rows, dtype=np.float64)
    except ValueError as error:
        raise TrafficError(f"{path}: not a numeric table: {error}") from error
    if table.ndim != 2 or table.shape[1] != len(header):
        raise TrafficError(f"{path}: rows do not all have {len(header)} columns")
    features = np.delete(table, label_at, axis=1).astype(np.float32)
    return TrafficSample(features, table[:, label_at].astype(np.int64))


@dataclass
class TrafficStats:
    """What the clients saw: answers per version, failures, labels sent."""

    answered: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    feedback_sent: int = 0
    feedback_failed: int = 0
    latencies: list[float] = field(default_factory=list)  # client-side seconds, a bounded sample

    def client_p99(self) -> float | None:
        if not self.latencies:
            return None
        return float(np.quantile(np.asarray(self.latencies), 0.99))


@dataclass(frozen=True)
class LoadProfile:
    rate: float  # requests per second, all users together
    users: int = 2000
    feedback_delay: float = 1.0  # seconds between the answer and its label
    concurrency: int = 8
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.users < 1 or self.concurrency < 1:
            raise TrafficError(
                f"a load profile needs rate > 0, users >= 1, concurrency >= 1: {self}"
            )
        if self.feedback_delay < 0:
            raise TrafficError(f"feedback delay must not be negative: {self.feedback_delay}")


def infer_body(request_id: str, row: npt.NDArray[np.float32]) -> dict[str, Any]:
    """A KServe v2 JSON inference request for one row."""
    return {
        "id": request_id,
        "inputs": [
            {
                "name": "features",
                "shape": [1, len(row)],
                "datatype": "FP32",
                "data": [float(x) for x in row],
            }
        ],
    }


class LoadGenerator:
    """Sends `profile.rate` requests per second until stopped, then flushes pending labels."""

    _LATENCY_KEEP = 20_000

    def __init__(
        self,
        base_url: str,
        model: str,
        sample: TrafficSample,
        profile: LoadProfile,
        *,
        sticky_header: str = "x-user-id",
        seed: int = 0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.sample = sample
        self.profile = profile
        self.sticky_header = sticky_header
        self.stats = TrafficStats()
        self._random = random.Random(seed)
        self._pending: list[tuple[float, int, str, int]] = []  # (due, seq, request id, label)
        self._seq = itertools.count()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._next_slot = 0.0

    async def start(self) -> None:
        limits = httpx.Limits(max_connections=self.profile.concurrency + 2)
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=self.profile.timeout, limits=limits
        )
        self._next_slot = time.monotonic()
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"load-{i}")
            for i in range(self.profile.concurrency)
        ]
        self._tasks.append(asyncio.create_task(self._labeller(), name="feedback"))

    async def stop(self) -> TrafficStats:
        """Stop sending, post every pending label now, close the client."""
        self._stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._client is not None:
            await self._flush(due_before=float("inf"))
            await self._client.aclose()
            self._client = None
        return self.stats

    def switch(self, sample: TrafficSample) -> None:
        """Send rows of `sample` from now on (live data drifting), labelled by its truth."""
        self.sample = sample

    async def _pace(self) -> None:
        # One shared schedule for every worker: the rate holds whatever the concurrency.
        slot = max(self._next_slot, time.monotonic() - 1.0)  # no burst after a stall
        self._next_slot = slot + 1.0 / self.profile.rate
        delay = slot - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _worker(self) -> None:
        assert self._client is not None
        url = f"/v2/models/{self.model}/infer"
        while not self._stopping.is_set():
            await self._pace()
            if self._stopping.is_set():
                return
            sample = self.sample  # one sample per request: `switch` may replace it meanwhile
            index = self._random.randrange(len(sample.labels))
            user = f"user-{self._random.randrange(self.profile.users)}"
            request_id = uuid.uuid4().hex
            started = time.perf_counter()
            try:
                response = await self._client.post(
                    url,
                    json=infer_body(request_id, sample.features[index]),
                    headers={self.sticky_header: user},
                )
            except httpx.HTTPError as error:
                self.stats.failed += 1
                log.debug("request failed", error=str(error))
                continue
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                self.stats.failed += 1
                log.debug("request refused", code=response.status_code, body=response.text[:200])
                continue
            self.stats.answered[response.headers.get(VERSION_HEADER, "?")] += 1
            if len(self.stats.latencies) < self._LATENCY_KEEP:
                self.stats.latencies.append(elapsed)
            due = time.monotonic() + self.profile.feedback_delay
            heapq.heappush(
                self._pending, (due, next(self._seq), request_id, int(sample.labels[index]))
            )

    async def _labeller(self) -> None:
        while not self._stopping.is_set():
            await self._flush(due_before=time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=0.1)

    async def _flush(self, due_before: float) -> None:
        assert self._client is not None
        batch: list[dict[str, Any]] = []
        while self._pending and self._pending[0][0] <= due_before:
            _, _, request_id, label = heapq.heappop(self._pending)
            batch.append({"id": request_id, "label": label})
        if not batch:
            return
        try:
            response = await self._client.post(
                f"/v2/models/{self.model}/feedback", json={"feedback": batch}
            )
            ok = response.status_code == 200
        except httpx.HTTPError as error:
            log.debug("feedback failed", error=str(error))
            ok = False
        if ok:
            self.stats.feedback_sent += len(batch)
        else:
            self.stats.feedback_failed += len(batch)

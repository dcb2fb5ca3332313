"""Where predictions wait for their label: one small protocol, two stores.

`MemoryStore` keeps them in this process (local mode, the demo, one replica). `RedisStore` keeps
them in any Redis-compatible server (>= 6.2, for GETDEL), so a label joins whichever replica
receives it, and a replica restart loses nothing. A record lives under its key for the TTL; a
label takes it with an atomic get-and-delete, so it is joined once however often it is posted.

Routed and shadow predictions of one request have their own keys (`Slot`): a label joins both.
Keys and records are pure functions (`record_key`, `encode`, `decode`), tested on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import orjson
import structlog
from pydantic import TypeAdapter

from ..routing.table import Correctness
from ..tensors import Array

log = structlog.get_logger(__name__)

Slot = Literal["routed", "shadow"]
Clock = Callable[[], float]

# Why a label found nothing: the reasons of `modelrollout_feedback_dropped_total`.
JOINED, EXPIRED, EVICTED, UNKNOWN = "joined", "expired", "evicted", "unknown"


class StoreUnavailable(Exception):
    """The store cannot be reached; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Prediction:
    model: str
    version: str
    route: str
    output: Array | None  # the output named by `correctness`, None when the model lacks it
    correctness: Correctness
    time: float  # wall-clock seconds: replicas share the store, so they share this clock


@dataclass(frozen=True, slots=True)
class Key:
    model: str
    request_id: str
    slot: Slot = "routed"


@dataclass(frozen=True, slots=True)
class Taken:
    prediction: Prediction | None
    reason: str  # JOINED when `prediction` is set, else why not


class PredictionStore(Protocol):
    """What the gateway needs from a store; every method may raise StoreUnavailable."""

    kind: str

    async def put(self, key: Key, prediction: Prediction) -> None:
        """Remember a prediction for the TTL."""

    async def take(self, keys: Sequence[Key]) -> list[Taken]:
        """Remove and return each key's prediction (atomically per key), or why there is none."""

    async def put_back(self, key: Key, prediction: Prediction) -> None:
        """Return a taken prediction (a bad label: a corrected one may follow); it keeps its
        original time, so it still expires when it would have."""

    async def close(self) -> None: ...


# -- pure parts ---------------------------------------------------------------------------------


def record_key(prefix: str, key: Key) -> str:
    """`<prefix><slot>:<len(model)>:<model>:<request id>`: unambiguous for any model name."""
    return f"{prefix}{key.slot}:{len(key.model)}:{key.model}:{key.request_id}"


_CORRECTNESS: TypeAdapter[Correctness] = TypeAdapter(Correctness)


def encode(prediction: Prediction) -> bytes:
    output = prediction.output
    return orjson.dumps(
        {
            "model": prediction.model,
            "version": prediction.version,
            "route": prediction.route,
            "time": prediction.time,
            "correctness": prediction.correctness.model_dump(by_alias=True),
            "shape": None if output is None else list(output.shape),
            "output": None if output is None else output.ravel().tolist(),
        }
    )


def decode(raw: bytes) -> Prediction:
    document = orjson.loads(raw)
    shape, values = document["shape"], document["output"]
    output = None if shape is None else np.asarray(values, dtype=np.float64).reshape(shape)
    return Prediction(
        model=document["model"],
        version=document["version"],
        route=document["route"],
        output=output,
        correctness=_CORRECTNESS.validate_python(document["correctness"]),
        time=float(document["time"]),
    )


def is_expired(prediction: Prediction, now: float, ttl_seconds: float) -> bool:
    return now - prediction.time > ttl_seconds


# -- in memory ----------------------------------------------------------------------------------


class MemoryStore:
    """Bounded by age and count: the oldest are evicted past `max_entries`, entries older than
    `ttl_seconds` expire. A short tombstone list remembers why an id is gone, so a late label is
    counted as expired or evicted, not unknown."""

    kind = "memory"

    def __init__(self, *, max_entries: int, ttl_seconds: float, clock: Clock = time.time) -> None:
        if max_entries <= 0 or ttl_seconds <= 0:
            raise ValueError("max_entries and ttl_seconds must be positive")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._live: OrderedDict[Key, Prediction] = OrderedDict()
        self._gone: OrderedDict[Key, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._live)

    async def put(self, key: Key, prediction: Prediction) -> None:
        self.put_now(key, prediction)

    def put_now(self, key: Key, prediction: Prediction) -> None:
        self._live[key] = prediction
        self._live.move_to_end(key)
        if key in self._gone:
            del self._gone[key]
        self._expire(self._clock())
        while len(self._live) > self.max_entries:
            old, _ = self._live.popitem(last=False)
            self._bury(old, EVICTED)

    async def take(self, keys: Sequence[Key]) -> list[Taken]:
        return [self.take_now(key) for key in keys]

    def take_now(self, key: Key) -> Taken:
        now = self._clock()
        self._expire(now)
        prediction = self._live.pop(key, None)
        if prediction is not None:
            # A put-back entry sits behind younger ones, so the head sweep can miss it: check.
            if is_expired(prediction, now, self.ttl_seconds):
                return Taken(None, EXPIRED)
            return Taken(prediction, JOINED)
        return Taken(None, self._gone.pop(key, UNKNOWN))

    async def put_back(self, key: Key, prediction: Prediction) -> None:
        if is_expired(prediction, self._clock(), self.ttl_seconds):
            self._bury(key, EXPIRED)
            return
        self.put_now(key, prediction)

    async def close(self) -> None:
        return None

    def _expire(self, now: float) -> None:
        horizon = now - self.ttl_seconds
        while self._live:
            key, oldest = next(iter(self._live.items()))
            if oldest.time >= horizon:
                break
            self._live.popitem(last=False)
            self._bury(key, EXPIRED)

    def _bury(self, key: Key, reason: str) -> None:
        self._gone[key] = reason
        while len(self._gone) > self.max_entries:
            self._gone.popitem(last=False)


# -- Redis --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Op:
    command: str  # "set" | "getdel"
    name: str
    value: bytes = b""
    milliseconds: int = 0
    only_new: bool = False
    future: asyncio.Future[Any] | None = None


class RedisStore:
    """Records under `SET key value PX ttl`, labels take them with `GETDEL`.

    A single Redis or Redis-compatible server (>= 6.2, scripting on); not Redis Cluster: a
    batch's keys go to one server in one script call.

    Concurrent calls are coalesced: while one pipeline is on the wire, new commands queue and go
    out together in the next, so a busy gateway sends few round trips. Records live
    `expired_grace_seconds` past the TTL so that a late label is counted `expired` (then
    `unknown`); Redis cannot tell `evicted` (its own maxmemory policy) from `unknown`.

    After a failure the store is considered down for `retry_seconds`: calls fail at once instead
    of each waiting for a timeout, and the next call after that tries again.
    """

    kind = "redis"

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: float,
        password: str | None = None,
        timeout_seconds: float = 0.25,
        expired_grace_seconds: float | None = None,
        retry_seconds: float = 0.5,
        prefix: str = "modelrollout:",
        clock: Clock = time.time,
    ) -> None:
        import redis.asyncio  # lazily: the memory store needs no client
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.ttl_seconds = ttl_seconds
        grace = ttl_seconds / 4 if expired_grace_seconds is None else expired_grace_seconds
        self._keep_ms = max(1, round((ttl_seconds + grace) * 1000))
        self._timeout = timeout_seconds
        self._retry_seconds = retry_seconds
        self._prefix = prefix
        self._clock = clock
        self._where = _redacted(url)
        self._redis = redis.asyncio.Redis.from_url(
            url,
            password=password,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            max_connections=16,
            # One immediate retry: a connection left stale by a server restart is replaced at
            # once; a server that is down fails fast (the breaker below keeps calls from waiting).
            retry=Retry(NoBackoff(), 1),
        )
        self._pending: list[_Op] = []
        self._flusher: asyncio.Task[None] | None = None
        self._down_until = 0.0
        self._last_error = ""

    async def put(self, key: Key, prediction: Prediction) -> None:
        await self._submit(_Op("set", record_key(self._prefix, key), encode(prediction)))

    async def put_back(self, key: Key, prediction: Prediction) -> None:
        # It lives as long as it would have: past the TTL a later label finds it expired.
        left = prediction.time + self._keep_ms / 1000 - self._clock()
        if left <= 0:
            return
        value = encode(prediction)
        milliseconds = max(1, round(left * 1000))
        # NX: a prediction re-recorded meanwhile under the same key wins.
        await self._submit(
            _Op("set", record_key(self._prefix, key), value, milliseconds, only_new=True)
        )

    async def take(self, keys: Sequence[Key]) -> list[Taken]:
        # Futures, not tasks: one batch of commands, awaited in order.
        futures = [self._enqueue(_Op("getdel", record_key(self._prefix, key))) for key in keys]
        for future in futures:  # the first failure is raised; the others are seen, not logged
            future.add_done_callback(_seen)
        raws = [await future for future in futures]
        now = self._clock()
        taken = []
        for raw in raws:
            if raw is None:
                taken.append(Taken(None, UNKNOWN))
                continue
            prediction = decode(raw)
            if is_expired(prediction, now, self.ttl_seconds):
                taken.append(Taken(None, EXPIRED))
            else:
                taken.append(Taken(prediction, JOINED))
        return taken

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                return bool(await self._redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        await self._redis.aclose()

    # -- coalescing -------------------------------------------------------------------------

    async def _submit(self, op: _Op) -> None:
        await self._submit_op(op)

    async def _submit_op(self, op: _Op) -> Any:
        return await self._enqueue(op)

    def _enqueue(self, op: _Op) -> asyncio.Future[Any]:
        if self._clock() < self._down_until:
            raise StoreUnavailable(self._unavailable())
        if op.command == "set" and not op.milliseconds:
            op.milliseconds = self._keep_ms
        op.future = asyncio.get_running_loop().create_future()
        self._pending.append(op)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return op.future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with asyncio.timeout(self._timeout * 4):
                    results = await self._send(batch)
            except Exception as exc:  # connection refused, timeout, server gone: all "down"
                self._down_until = self._clock() + self._retry_seconds
                self._last_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
                log.warning("feedback store unreachable", store=self._where, error=self._last_error)
                failure = StoreUnavailable(self._unavailable())
                for op in batch:
                    assert op.future is not None
                    if not op.future.done():
                        op.future.set_exception(failure)
                continue
            for op, result in zip(batch, results, strict=True):
                assert op.future is not None
                if op.future.done():
                    continue
                if isinstance(result, Exception):
                    op.future.set_exception(StoreUnavailable(f"redis {op.command}: {result}"))
                else:
                    op.future.set_result(result)

    async def _send(self, batch: list[_Op]) -> list[Any]:
        """The batch as (at most) two script calls in one round trip: per-command overhead in
        the client, not the server, is what a pipeline of single commands costs."""
        sets = [op for op in batch if op.command == "set"]
        takes = [op for op in batch if op.command == "getdel"]
        pipe = self._redis.pipeline(transaction=False)
        if sets:
            arguments: list[Any] = []
            for op in sets:
                arguments += [op.value, op.milliseconds, 1 if op.only_new else 0]
            pipe.eval(_SET_MANY, len(sets), *(op.name for op in sets), *arguments)
        if takes:
            pipe.eval(_GETDEL_MANY, len(takes), *(op.name for op in takes))
        answers = await pipe.execute(raise_on_error=False)
        by_op: dict[int, Any] = {}
        position = 0
        for group in (sets, takes):
            if not group:
                continue
            answer = answers[position]
            position += 1
            for index, op in enumerate(group):
                if isinstance(answer, Exception):
                    by_op[id(op)] = answer
                else:
                    by_op[id(op)] = None if op.command == "set" else answer[index]
        return [by_op[id(op)] for op in batch]

    def _unavailable(self) -> str:
        return f"the prediction store (redis at {self._where}) is unavailable: {self._last_error}"


def _seen(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


# Atomic per key, as SET PX [NX] and GETDEL are; one call for a whole batch.
_SET_MANY = """
for i, key in ipairs(KEYS) do
  local value, ms, nx = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  if nx == '1' then
    redis.call('SET', key, value, 'PX', ms, 'NX')
  else
    redis.call('SET', key, value, 'PX', ms)
  end
end
return #KEYS
"""
_GETDEL_MANY = """
local taken = {}
for i, key in ipairs(KEYS) do
  taken[i] = redis.call('GETDEL', key)
end
return taken
"""


def _redacted(url: str) -> str:
    """The URL without credentials, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url

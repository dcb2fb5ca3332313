"""Delivering notifications in the background: a bounded queue, retries with back-off.

`Notifier.submit` never waits and never raises: a pass hands over what it decided and goes
on. A worker resolves signing secrets, builds each request and sends it; a receiver that is
down or slow is retried with exponential back-off (at most `attempts` tries) while the
others are served, with at most `max_in_flight` deliveries at once. When the queue is full the
notification is dropped and counted: a pass is never held up by a receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx
import structlog

from ..api.v1alpha1 import Notify, SecretKeyRef, Webhook, WebhookFormat
from .signing import body_of, headers_of
from .targets import receivers
from .transitions import Notification

log = structlog.get_logger(__name__)

#: Reads a Secret key (the namespace of the Experiment, the reference); None: not found.
SecretReader = Callable[[str, SecretKeyRef], Awaitable[bytes | None]]
#: Counts a delivery's result: (kind, result) with result sent|failed|dropped|retried.
Counter = Callable[[str, str], None]


@dataclass(frozen=True)
class _Item:
    namespace: str
    notify: Notify | None
    notification: Notification


class Notifier:
    """One per operator process (and per local run)."""

    def __init__(
        self,
        *,
        defaults: Sequence[Webhook] = (),
        read_secret: SecretReader | None = None,
        count: Counter = lambda kind, result: None,
        queue_size: int = 1000,
        timeout: float = 5.0,
        attempts: int = 5,
        backoff: float = 1.0,
        backoff_cap: float = 60.0,
        max_in_flight: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.defaults = list(defaults)
        self._read_secret = read_secret
        self._count = count
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=queue_size)
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._slots = asyncio.Semaphore(max_in_flight)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._worker: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    # -- the pass's side ----------------------------------------------------------------

    def wanted(self, notify: Notify | None) -> bool:
        return bool(self.defaults) or (notify is not None and bool(notify.webhooks))

    def submit(self, namespace: str, notify: Notify | None, notification: Notification) -> None:
        """Queue a notification; never waits, never raises (a full queue drops and counts)."""
        if not self.wanted(notify):
            return
        self._ensure_started()
        try:
            self._queue.put_nowait(_Item(namespace, notify, notification))
        except asyncio.QueueFull:
            self._count(notification.kind.value, "dropped")
            log.warning("notify.dropped", kind=notification.kind.value, reason="queue full",
                        experiment=notification.document.get("experiment"))  # fmt: skip

    @property
    def pending(self) -> int:
        """Notifications queued or being delivered."""
        return self._queue.qsize() + len(self._deliveries)

    async def drain(self, timeout: float) -> bool:
        """Wait until everything queued was delivered or given up (tests, shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.pending and loop.time() < deadline:
            await asyncio.sleep(0.02)
        return not self.pending

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for task in list(self._deliveries):
            task.cancel()
        for task in list(self._deliveries):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
        self._worker = self._client = None

    # -- the background's side --------------------------------------------------------------

    def _ensure_started(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        if self._client is None:  # built here, not in submit: it takes a while (TLS context)
            self._client = httpx.AsyncClient(
                timeout=self._timeout, transport=self._transport, follow_redirects=False
            )
        while True:
            item = await self._queue.get()
            try:
                for hook in receivers(item.notify, self.defaults, item.notification.kind):
                    await self._slots.acquire()  # bounded: the queue fills up behind it
                    task = asyncio.get_running_loop().create_task(self._deliver(item, hook))
                    self._deliveries.add(task)
                    task.add_done_callback(self._finished)
            finally:
                self._queue.task_done()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        self._slots.release()

    async def _secret(self, namespace: str, hook: Webhook) -> bytes | None:
        ref = hook.secret_key_ref
        if ref is None or hook.format != WebhookFormat.GENERIC:
            return None
        if self._read_secret is None:
            raise LookupError("no Secret reader configured")
        secret = await self._read_secret(namespace, ref)
        if secret is None:
            raise LookupError(f"Secret {namespace}/{ref.name} has no key {ref.key!r}")
        return secret

    async def _deliver(self, item: _Item, hook: Webhook) -> None:
        kind = item.notification.kind.value
        assert self._client is not None
        delay = self._backoff
        error = ""
        for attempt in range(1, self._attempts + 1):
            try:
                secret = await self._secret(item.namespace, hook)
                body = body_of(item.notification, hook.format)
                response = await self._client.post(
                    hook.url, content=body, headers=headers_of(item.notification, body, secret)
                )
                if response.status_code < 300:
                    self._count(kind, "sent")
                    return
                error = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                    break  # the receiver refuses this request: retrying will not change it
            except (httpx.HTTPError, LookupError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            except Exception as exc:  # a reader's API error: retried like the rest
                error = f"{type(exc).__name__}: {exc}"[:300]
            if attempt < self._attempts:
                self._count(kind, "retried")
                await asyncio.sleep(delay * (0.5 + random.random()))  # jitter
                delay = min(self._backoff_cap, delay * 2)
        self._count(kind, "failed")
        log.warning("notify.failed", kind=kind, experiment=item.notification.document.get(
            "experiment"), receiver=_host(hook.url), error=error)  # fmt: skip


def _host(url: str) -> str:
    """The receiver's host for logs (never the path: Slack's URLs carry their token there)."""
    return httpx.URL(url).host

"""The HTTP face: a lean ASGI app (no framework) speaking KServe v2 plus admin and metrics.

A framework router and request objects cost tens of microseconds per request, more than the
embedded model itself; this dispatches on split path segments and reads headers once.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

import orjson
import structlog
from pydantic import ValidationError

from ..errors import (
    BadRequest,
    GatewayError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from ..feedback.stores import StoreUnavailable
from ..protocol.decoding import decode_infer_request
from ..protocol.encoding import BINARY_CONTENT_TYPE, JSON_CONTENT_TYPE, encode_infer_response
from ..routing.sources import TableSourceError, check_no_fetching
from ..routing.table import RoutingTable
from .feedbacking import parse_feedback, record_feedback
from .gateway import Gateway

log = structlog.get_logger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Background = Callable[[], Coroutine[Any, Any, None]]
# A /v2 route's handler: (app, model or "", version or None, scope, receive, send, started).
V2Handler = Callable[
    ["GatewayApp", str, str | None, Scope, Receive, Send, float], Coroutine[Any, Any, None]
]


class Service(Protocol):
    """A server beside HTTP in the same loop (gRPC): started once the gateway is ready."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# Bodies above this are decoded in a worker thread, a few at a time: decoding a large JSON body
# holds the loop for long, and each decode multiplies its body's size in memory.
OFF_LOOP_BYTES = 1024 * 1024
LARGE_DECODES = 2

SERVER_METADATA = orjson.dumps(
    {"name": "modelrollout-gateway", "version": "0.1.0", "extensions": ["binary_tensor_data"]}
)


class GatewayApp:
    def __init__(
        self,
        gateway: Gateway,
        background: list[Background] | None = None,
        services: Sequence[Service] = (),
    ) -> None:
        self.gateway = gateway
        self._background = background or []
        self._services = list(services)
        self._tasks: list[asyncio.Task[None]] = []
        # The admin API exists only when enabled with a token (local mode makes one), and never
        # on a server of one version (the operator's `runtime: onnxruntime` pods).
        token = gateway.settings.admin_token
        secret = token.get_secret_value().encode() if token else b""
        self._admin_token = secret if secret and gateway.settings.model is None else None
        feedback_token = gateway.settings.feedback_token
        self._feedback_token = (
            feedback_token.get_secret_value().encode() if feedback_token else None
        )
        self._large_decodes = asyncio.Semaphore(LARGE_DECODES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.gateway.start()
                    for service in self._services:
                        await service.start()
                    self._tasks = [asyncio.create_task(job()) for job in self._background]
                except Exception as exc:
                    log.exception("gateway failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                for service in reversed(self._services):
                    await service.stop()
                await self.gateway.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        parts = scope["path"].strip("/").split("/")
        try:
            if parts[0] == "v2":
                await self._v2(method, parts, scope, receive, send, started)
            elif parts == ["metrics"] and method == "GET":
                await _respond(
                    send,
                    200,
                    self.gateway.metrics.exposition(),
                    b"text/plain; version=0.0.4; charset=utf-8",
                )
            elif parts[0] == "admin" and parts[1:2] == ["routing"]:
                await self._admin(method, parts[2:], scope, receive, send)
            else:
                raise NotFound(f"no route for {method} {scope['path']}")
        except GatewayError as exc:
            await _error(send, exc.status, exc.message)
        except Exception:  # nothing a request does may take the process down
            log.exception("request failed", path=scope["path"])
            await _error(send, 500, "internal error in the gateway")

    async def _v2(
        self,
        method: str,
        parts: list[str],
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
    ) -> None:
        route = match_v2(method, parts)
        if route is None:
            raise NotFound(f"no route for {method} {scope['path']}")
        handler, model_at, version_at = route
        model = self.gateway.resolve(parts[model_at]) if model_at else ""
        version = parts[version_at] if version_at else None
        await handler(self, model, version, scope, receive, send, started)

    async def _server_metadata(
        self, _model: str, _version: str | None, _scope: Scope, _r: Receive, send: Send, _t: float
    ) -> None:
        await _respond(send, 200, SERVER_METADATA)

    async def _live(
        self, _model: str, _version: str | None, _scope: Scope, _r: Receive, send: Send, _t: float
    ) -> None:
        await _respond(send, 200, b"")

    async def _ready(
        self, _model: str, _version: str | None, _scope: Scope, _r: Receive, send: Send, _t: float
    ) -> None:
        if self.gateway.ready:
            return await _respond(send, 200, b"")
        await _error(send, 503, self.gateway.not_ready_reason() or "not ready")

    async def _model_ready(
        self, model: str, version: str | None, _scope: Scope, _r: Receive, send: Send, _t: float
    ) -> None:
        _, backend = await self.gateway.backend_for(model, version)
        if backend.is_ready():
            return await _respond(send, 200, b"")
        await _error(send, 503, f"model '{model}' is not ready")

    async def _model_metadata(
        self, model: str, version: str | None, _scope: Scope, _r: Receive, send: Send, _t: float
    ) -> None:
        await self._metadata(model, version, send)

    async def _model_feedback(
        self, model: str, _v: str | None, scope: Scope, receive: Receive, send: Send, _t: float
    ) -> None:
        await self._feedback(model, scope, receive, send)

    async def _infer(
        self,
        model: str,
        version: str | None,
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
    ) -> None:
        headers = _headers(scope)
        if not self.gateway.knows(model):
            raise NotFound(f"unknown model '{model}'")
        settings = self.gateway.settings
        raw_length = headers.get("inference-header-content-length")
        try:
            header_length = int(raw_length) if raw_length is not None else None
        except ValueError:
            raise BadRequest(
                f"Inference-Header-Content-Length {raw_length!r} is not an integer"
            ) from None
        json_limit = settings.max_json_bytes
        if header_length is None:  # all JSON: refused before reading when it says it is too big
            _refuse_declared(headers, json_limit, "JSON body")
        elif header_length > json_limit:
            raise PayloadTooLarge(
                f"JSON part of {header_length} bytes exceeds the limit of {json_limit}"
            )
        body = await _read_body(receive, headers, settings.max_request_bytes)
        if header_length is None and len(body) > json_limit:
            raise PayloadTooLarge(
                f"JSON body of {len(body)} bytes exceeds the limit of {json_limit} bytes; "
                "send large tensors with the binary tensor extension"
            )
        fallback_id = headers.get("x-request-id")
        if len(body) > OFF_LOOP_BYTES:
            async with self._large_decodes:
                request = await asyncio.to_thread(
                    decode_infer_request, body, header_length, fallback_id
                )
        else:
            request = decode_infer_request(body, header_length, fallback_id)
        answer = await self.gateway.infer(model, version, request, headers, started)
        payload, json_length = encode_infer_response(
            model=model, version=answer.version, request=request, outputs=answer.outputs
        )
        extra = [
            (b"x-request-id", request.request_id.encode()),
            (b"x-model-version", answer.version.encode()),
            (b"x-model-route", answer.route.encode()),
        ]
        if json_length is None:
            await _respond(send, 200, payload, JSON_CONTENT_TYPE, extra)
        else:
            extra.append((b"inference-header-content-length", str(json_length).encode()))
            await _respond(send, 200, payload, BINARY_CONTENT_TYPE, extra)

    async def _feedback(self, model: str, scope: Scope, receive: Receive, send: Send) -> None:
        counted = self.gateway.metrics.feedback_requests
        try:
            status, body = await self._join_feedback(model, scope, receive)
        except GatewayError as exc:
            # Unknown model names are not label values: one series for all of them.
            counted.labels(model if self.gateway.knows(model) else "", str(exc.status)).inc()
            raise
        counted.labels(model, str(status)).inc()
        await _respond(send, status, body)

    async def _join_feedback(self, model: str, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        headers = _headers(scope)
        if self._feedback_token is not None:
            given = headers.get("authorization", "").removeprefix("Bearer ").encode()
            if not hmac.compare_digest(given, self._feedback_token):
                raise Unauthorized("feedback needs 'Authorization: Bearer <feedback token>'")
        if not self.gateway.knows(model):
            raise NotFound(f"unknown model '{model}'")
        limit = self.gateway.settings.max_json_bytes
        _refuse_declared(headers, limit, "feedback body")
        document = _json(await _read_body(receive, headers, limit))
        try:
            result = await record_feedback(
                model,
                parse_feedback(document),
                store=self.gateway.store,
                metrics=self.gateway.metrics,
                prediction_log=self.gateway.prediction_log,
            )
        except StoreUnavailable as exc:
            raise Unavailable(f"{exc}; no label of this request was recorded: retry") from exc
        status = 400 if result["errors"] and not result["joined"] else 200
        return status, orjson.dumps(result)

    async def _metadata(self, model: str, version: str | None, send: Send) -> None:
        _, backend = await self.gateway.backend_for(model, version)
        document = {
            "name": model,
            "versions": self.gateway.versions_of(model),
            "platform": "onnxruntime_onnx",
            "inputs": [spec.as_metadata() for spec in backend.inputs],
            "outputs": [spec.as_metadata() for spec in backend.outputs],
        }
        await _respond(send, 200, orjson.dumps(document))

    async def _admin(
        self, method: str, rest: list[str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        if self._admin_token is None:  # off: as if there were no such route
            raise NotFound(f"no route for {method} {scope['path']}")
        headers = _headers(scope)
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self._admin_token
        ):
            raise Unauthorized("admin endpoints need 'Authorization: Bearer <token>'")
        tables = self.gateway.tables
        if not rest and method == "GET":
            body = b"[" + b",".join(a.table.to_json().encode() for a in tables.values()) + b"]"
            return await _respond(send, 200, body)
        if len(rest) != 1:
            raise NotFound(f"no admin route for {method} {scope['path']}")
        model = rest[0]
        if method == "GET":
            if model not in tables:
                raise NotFound(f"no routing table for model '{model}'")
            return await _respond(send, 200, tables[model].table.to_json().encode())
        if method == "PUT":
            body = await _read_body(receive, headers, self.gateway.settings.max_request_bytes)
            try:
                table = RoutingTable.model_validate_json(body)
            except ValidationError as exc:
                raise BadRequest(f"invalid routing table: {_pydantic_message(exc)}") from None
            if table.model != model:
                raise BadRequest(f"table is for model '{table.model}', the path names '{model}'")
            try:
                check_no_fetching(table)
            except TableSourceError as exc:
                raise BadRequest(str(exc)) from None
            applied = await self.gateway.apply(table, source="admin")
            return await _respond(send, 200, orjson.dumps({"applied": applied}))
        if method == "DELETE":
            if not await self.gateway.remove(model):
                raise NotFound(f"no routing table for model '{model}'")
            return await _respond(send, 200, orjson.dumps({"removed": True}))
        raise NotFound(f"no admin route for {method} {scope['path']}")


# KServe v2 routes, declared: (method, path pattern, handler). In a pattern `{model}` and
# `{version}` match one segment each; every other segment must match exactly. Patterns are
# compiled into a dict keyed by (method, segment count), each entry a short list of literal
# checks, so a request costs one dict lookup and a few string compares (as the hand-written
# branches did).
V2_ROUTES: tuple[tuple[str, str, V2Handler], ...] = (
    ("GET", "/v2", GatewayApp._server_metadata),
    ("GET", "/v2/health/live", GatewayApp._live),
    ("GET", "/v2/health/ready", GatewayApp._ready),
    ("POST", "/v2/models/{model}/infer", GatewayApp._infer),
    ("POST", "/v2/models/{model}/versions/{version}/infer", GatewayApp._infer),
    ("POST", "/v2/models/{model}/feedback", GatewayApp._model_feedback),
    ("GET", "/v2/models/{model}", GatewayApp._model_metadata),
    ("GET", "/v2/models/{model}/versions/{version}", GatewayApp._model_metadata),
    ("GET", "/v2/models/{model}/ready", GatewayApp._model_ready),
    ("GET", "/v2/models/{model}/versions/{version}/ready", GatewayApp._model_ready),
)

# (literal segments as (index, text), handler, index of {model} or 0, of {version} or 0)
_Compiled = tuple[tuple[tuple[int, str], ...], V2Handler, int, int]


def _compile(
    routes: Sequence[tuple[str, str, V2Handler]],
) -> dict[tuple[str, int], list[_Compiled]]:
    table: dict[tuple[str, int], list[_Compiled]] = {}
    for method, pattern, handler in routes:
        segments = pattern.strip("/").split("/")
        literals = tuple(
            (i, segment)
            for i, segment in enumerate(segments)
            if segment not in ("{model}", "{version}")
        )
        model_at = segments.index("{model}") if "{model}" in segments else 0
        version_at = segments.index("{version}") if "{version}" in segments else 0
        table.setdefault((method, len(segments)), []).append(
            (literals, handler, model_at, version_at)
        )
    return table


_V2_TABLE = _compile(V2_ROUTES)


def match_v2(method: str, parts: list[str]) -> tuple[V2Handler, int, int] | None:
    """The route for a split /v2 path: (handler, index of the model, of the version; 0: none)."""
    for literals, handler, model_at, version_at in _V2_TABLE.get((method, len(parts)), ()):
        for i, text in literals:
            if parts[i] != text:
                break
        else:
            return handler, model_at, version_at
    return None


def _refuse_declared(headers: dict[str, str], limit: int, what: str) -> None:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"{what} of {declared} bytes exceeds the limit of {limit} bytes")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


async def _read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes exceeds the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None


def _pydantic_message(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'table'}: {error['msg']}"
        for error in exc.errors()
    )


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON_CONTENT_TYPE,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if extra:
        headers += extra
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, status: int, message: str) -> None:
    await _respond(send, status, orjson.dumps({"error": message}))

"""An in-memory Kubernetes API over real HTTP that fails on command, and a Prometheus that lies.

The API server keeps what kmock's emulator lacks and the faults need: a resourceVersion that
grows with every write and a 409 when a write names an older one (optimistic concurrency),
uids, the status subresource kept apart from the rest, and faults queued per verb and
resource: an HTTP error (500, 409, ...), a stall past the client's timeout (before or after
the write is applied: a timeout does not say which), or every write failing from the n-th
on (the process "dies" between two writes). The operator talks to it with its real
`KubeClient`, so the HTTP path is exercised as in a cluster.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


@dataclass
class Fault:
    """Fail the next `times` requests that match (method, plural, subresource)."""

    method: str
    plural: str
    subresource: str | None = None
    status: int = 500
    stall: float = 0.0  # seconds to hang before answering (past the client timeout: a timeout)
    applied: bool = False  # apply the write before failing (the answer is lost, not the write)
    times: int = 1

    def matches(self, method: str, plural: str, subresource: str | None) -> bool:
        return (
            self.times > 0
            and self.method == method
            and self.plural == plural
            and (self.subresource is None or self.subresource == subresource)
        )


@dataclass
class Request:
    method: str
    plural: str
    namespace: str
    name: str | None
    subresource: str | None
    body: Any
    answered: int


@dataclass
class FaultyApi:
    """The state and the fault plan; `url` once started."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    log: list[Request] = field(default_factory=list)
    url: str = ""
    # Every write fails (HTTP 500) once this many more writes were applied: a dead process.
    writes_left: int | None = None
    on_write: Callable[[Request], None] | None = None  # each applied write, as it lands
    _versions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    # -- the plan ----------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        plural: str,
        *,
        subresource: str | None = None,
        status: int = 500,
        stall: float = 0.0,
        applied: bool = False,
        times: int = 1,
    ) -> Fault:
        fault = Fault(method, plural, subresource, status, stall, applied, times)
        self.faults.append(fault)
        return fault

    def writes(self, plural: str | None = None) -> list[Request]:
        return [
            r
            for r in self.log
            if r.method in WRITES and r.answered < 300 and (plural is None or r.plural == plural)
        ]

    # -- objects -----------------------------------------------------------------------------

    def put(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object directly (the test plays a person or the cluster)."""
        body = copy.deepcopy(body)
        meta = body.setdefault("metadata", {})
        meta.setdefault("namespace", namespace)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta["resourceVersion"] = str(next(self._versions))
        self.objects[(plural, namespace, meta["name"])] = body
        return body

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, namespace, name))

    def remove(self, plural: str, namespace: str, name: str) -> None:
        self.objects.pop((plural, namespace, name), None)

    def of(self, plural: str) -> list[dict[str, Any]]:
        return [o for (p, _, _), o in self.objects.items() if p == plural]

    # -- the server --------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _parse(path: str) -> tuple[str, str, str | None, str | None]:
        parts = [p for p in path.split("/") if p]
        # /api/v1/namespaces/NS/PLURAL[/NAME[/SUB]] or /apis/G/V/namespaces/NS/PLURAL[/...]
        start = 2 if parts[0] == "api" else 3
        if len(parts) <= start + 2 or parts[start] != "namespaces":
            raise web.HTTPNotFound(text=json.dumps({"message": f"unsupported path {path}"}))
        namespace, plural = parts[start + 1], parts[start + 2]
        rest = parts[start + 3 :]
        name = rest[0] if rest else None
        sub = rest[1] if len(rest) > 1 else None
        return namespace, plural, name, sub

    async def _handle(self, request: web.Request) -> web.Response:
        namespace, plural, name, sub = self._parse(request.path)
        body = await request.json() if request.can_read_body else None
        record = Request(request.method, plural, namespace, name, sub, body, 0)
        self.log.append(record)
        fault = next((f for f in self.faults if f.matches(request.method, plural, sub)), None)
        if fault is None and request.method in WRITES and self.writes_left is not None:
            if self.writes_left <= 0:
                record.answered = 500
                return _error(500, "the operator process is dead (injected)")
            self.writes_left -= 1
        if fault is not None:
            fault.times -= 1
            if fault.applied:
                self._serve(request.method, plural, namespace, name, sub, body, record)
            if fault.stall:
                await asyncio.sleep(fault.stall)
            record.answered = fault.status
            return _error(fault.status, f"injected fault: HTTP {fault.status}")
        return self._serve(request.method, plural, namespace, name, sub, body, record)

    def _serve(
        self,
        method: str,
        plural: str,
        namespace: str,
        name: str | None,
        sub: str | None,
        body: Any,
        record: Request,
    ) -> web.Response:
        key = (plural, namespace, name or "")
        current = self.objects.get(key)
        if method == "GET" and name is None:
            items = [o for (p, ns, _), o in self.objects.items() if p == plural and ns == namespace]
            return self._ok(record, {"kind": "List", "items": items})
        if method == "GET":
            return self._ok(record, current) if current else self._missing(record, key)
        if method == "POST":
            meta = (body or {}).get("metadata", {})
            if (plural, namespace, meta.get("name")) in self.objects:
                record.answered = 409
                return _error(409, f"{plural} {meta.get('name')!r} already exists")
            created = self.put(plural, namespace, body)
            if self.on_write is not None:
                self.on_write(record)
            return self._ok(record, created, 201)
        if method == "DELETE":
            if current is None:
                return self._missing(record, key)
            del self.objects[key]
            if self.on_write is not None:
                self.on_write(record)
            return self._ok(record, {"status": "Success"})
        if method == "PATCH":
            if current is None:
                return self._missing(record, key)
            wanted = ((body or {}).get("metadata") or {}).get("resourceVersion")
            have = current["metadata"]["resourceVersion"]
            if wanted is not None and wanted != have:
                record.answered = 409
                return _error(
                    409,
                    f"Operation cannot be fulfilled on {plural} {name!r}: the object has been "
                    "modified; please apply your changes to the latest version and try again",
                )
            patch = copy.deepcopy(body or {})
            if isinstance(patch.get("metadata"), dict):
                patch["metadata"].pop("resourceVersion", None)
            if sub == "status":
                patch = {"status": patch.get("status")} if "status" in patch else {}
            else:
                patch.pop("status", None)  # the status subresource owns status
            updated = merge_patch(current, patch)
            updated["metadata"]["resourceVersion"] = str(next(self._versions))
            self.objects[key] = updated
            if self.on_write is not None:
                self.on_write(record)
            return self._ok(record, updated)
        record.answered = 405
        return _error(405, f"{method} not supported")

    @staticmethod
    def _ok(record: Request, data: Any, status: int = 200) -> web.Response:
        record.answered = status
        return web.json_response(data, status=status)

    @staticmethod
    def _missing(record: Request, key: tuple[str, str, str]) -> web.Response:
        record.answered = 404
        return _error(404, f"{key[0]} {key[2]!r} not found")


def _error(status: int, message: str) -> web.Response:
    reason = {409: "Conflict", 404: "NotFound"}.get(status, "InternalError")
    return web.json_response(
        {
            "kind": "Status",
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": status,
        },
        status=status,
    )


@dataclass
class FakePrometheus:
    """`/api/v1/query` answering `answer(query)`: a value, or a whole body (garbage on purpose).

    `stall` seconds before each answer (past the provider's timeout: a stalled Prometheus).
    """

    answer: Callable[[str], Any] = lambda query: "0"
    stall: float = 0.0
    queries: list[str] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/query", self._query)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _query(self, request: web.Request) -> web.Response:
        query = request.query.get("query", "")
        self.queries.append(query)
        if self.stall:
            await asyncio.sleep(self.stall)
        answer = self.answer(query)
        if isinstance(answer, web.Response):
            return answer
        if isinstance(answer, str):  # a sample value
            answer = {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, answer]}]},
            }
        return web.json_response(answer)

"""The API front: TLS on 127.0.0.1, in front of kmock's KubernetesEmulator.

Every request goes through what kube-apiserver does on the way to storage: authentication
(bearer tokens, `authn`), authorization (RBAC, `rbac`), admission on writes (`admission`),
then it is proxied to the emulator, responses (watch streams included) streamed back as they
come. Refusals are Kubernetes `Status` objects with kube-apiserver's codes and wording.

Writes to a custom resource with a status subresource are isolated as the API server isolates
them (the emulator does not): a write to the main resource leaves `status` alone, a write to
`/status` changes only `status`.

`records` keeps who did what with which outcome, so a test can read the dynamic record of an
operator's requests (and a failure can name the request that was refused).
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from . import patches
from .admission import Admission, AdmissionDenied, AdmissionRequest
from .authn import ServiceAccount, TokenAuthenticator
from .rbac import Authorizer, forbidden_message, qualified_resource
from .requestinfo import RequestInfo, parse
from .schemas import CustomResource
from .tls import ClusterTLS

#: Request headers that travel to the emulator; the rest (Authorization above all) stay here.
_FORWARDED_REQUEST_HEADERS = ("Accept", "Content-Type", "User-Agent")
_FORWARDED_RESPONSE_HEADERS = ("Content-Type", "Warning")


@dataclass(frozen=True)
class ApiEndpoint:
    """Where a pod finds the API (KUBERNETES_SERVICE_HOST / _PORT)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"


@dataclass(frozen=True)
class Record:
    """One request as the front saw it."""

    user: str
    verb: str
    resource: str  # `experiments/status`, or the path of a non-resource request
    api_group: str
    namespace: str
    name: str
    code: int
    message: str = ""
    reason: str = ""  # the Status reason of a refusal: Unauthorized, Forbidden, Conflict, ...


def status_body(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    """A `Status` object, as the API server answers a failure."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def _status_response(code: int, reason: str, message: str, **details: Any) -> web.Response:
    return web.json_response(status_body(code, reason, message, **details), status=code)


@dataclass
class ApiFront:
    """The front; `start()` binds `host` (127.0.0.1, or ::1) on a free port, `stop()` closes it."""

    backend_url: str
    tls: ClusterTLS
    authn: TokenAuthenticator
    authorizer: Authorizer
    custom_resources: Mapping[tuple[str, str, str], CustomResource]
    #: The cluster's namespaces and their labels. The emulator serves no Namespace objects, so
    #: the front answers their reads (get, list, watch) itself; PodSecurity reads the labels.
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    host: str = "127.0.0.1"
    records: list[Record] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    _port: int = 0
    _kinds: dict[tuple[str, str], str | None] = field(default_factory=dict)
    #: Requests whose body admission rewrote into a merge patch (by request id).
    _content_types: dict[int, str] = field(default_factory=dict)
    _version: int = 0
    #: Writes one at a time: read, check, forward (the emulator has no optimistic locking).
    _writes: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def endpoint(self) -> ApiEndpoint:
        return ApiEndpoint(self.host, self._port)

    @property
    def admission(self) -> Admission:
        return Admission(
            self.authorizer, self.custom_resources, self._resolve_resource, self._namespace_labels
        )

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            base_url=self.backend_url.rstrip("/"),
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            auto_decompress=False,
        )
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2)
        await self._runner.setup()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._port = int(sock.getsockname()[1])
        site = web.SockSite(self._runner, sock, ssl_context=self.tls.server_context())
        await site.start()

    async def stop(self) -> None:
        # The emulator side first: open watch streams end, so their handlers return.
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- the request path ---------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        account = self.authn.authenticate(request.headers.get("Authorization"))
        info = parse(request.method, request.path, request.query)
        if account is None:
            self._record("", info, 401, "Unauthorized")
            return _status_response(401, "Unauthorized", "Unauthorized")
        if not self.authorizer.allows(account, info):
            return self._forbidden(account, info)
        if info.resource_request and not info.api_group and info.resource == "namespaces":
            return await self._serve_namespaces(request, account, info)
        body = await request.read()
        if not (info.resource_request and info.verb in ("create", "update", "patch")):
            return await self._proxy(request, account, info, body)
        async with self._writes:
            try:
                body = await self._admit(request, account, info, body)
            except AdmissionDenied as exc:
                self._record(account.username, info, exc.code, exc.message, exc.reason)
                return _status_response(exc.code, exc.reason, exc.message)
            except patches.PatchError as exc:
                self._record(account.username, info, 400, str(exc))
                return _status_response(400, "BadRequest", str(exc))
            return await self._proxy(request, account, info, body)

    def _forbidden(self, account: ServiceAccount, info: RequestInfo) -> web.Response:
        reason = forbidden_message(account, info)
        if info.resource_request:
            what = qualified_resource(info)
            prefix = f'{what} "{info.name}" is forbidden' if info.name else f"{what} is forbidden"
            message = f"{prefix}: {reason}"
            details = {"name": info.name, "group": info.api_group, "kind": info.resource}
        else:
            message, details = f"forbidden: {reason}", {}
        self._record(account.username, info, 403, message)
        return _status_response(403, "Forbidden", message, **details)

    def _record(
        self, user: str, info: RequestInfo, code: int, message: str = "", reason: str = ""
    ) -> None:
        self.records.append(
            Record(
                user=user,
                verb=info.verb,
                resource=info.resource_and_subresource if info.resource_request else info.path,
                api_group=info.api_group,
                namespace=info.namespace,
                name=info.name,
                code=code,
                message=message,
                reason=reason,
            )
        )

    async def _admit(
        self, request: web.Request, account: ServiceAccount, info: RequestInfo, body: bytes
    ) -> bytes:
        """Admission of a write; the body to forward (as a merge patch for any patch type).

        On create the object gets what the API server gives it and the emulator does not:
        uid, creationTimestamp, generation, resourceVersion (and CRD defaults). Every write
        bumps resourceVersion, and a write that names an outdated one is a 409 conflict.
        """
        content_type = request.headers.get("Content-Type", "application/json")
        crd = self.admission.custom_resource(info)
        if info.verb == "create":
            obj = patches.parse_body(content_type, body)
            if not isinstance(obj, dict):
                raise patches.PatchError("the body is not an object")
            meta = obj.setdefault("metadata", {})
            if info.namespace:
                meta.setdefault("namespace", info.namespace)
            stored = await self.admission.admit(AdmissionRequest(info, account, obj, None))
            stored.setdefault("metadata", {}).update(
                uid=str(uuid.uuid4()),
                creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                generation=1,
                resourceVersion=self._next_version(),
            )
            return json.dumps(stored).encode()
        current = await self._get_json(self._object_path(info))
        if current is None:
            return body  # the emulator answers 404
        change = patches.parse_body(content_type, body)
        if isinstance(change, dict):
            self._check_version(info, current, change)
        if crd is not None and crd.status_subresource:
            change = _isolate_status(change, info.subresource == "status")
        if info.verb == "update":
            obj = change
        else:
            change = patches.without_absent_version_tests(current, change)
            try:
                obj = patches.apply(current, content_type, change)
            except patches.PatchTestFailed as exc:
                # Optimistic concurrency (kopf's `test` of resourceVersion): 422, as kube.
                raise AdmissionDenied(422, "Conflict", str(exc)) from exc
        if not isinstance(obj, dict):
            raise patches.PatchError("the result is not an object")
        await self.admission.admit(AdmissionRequest(info, account, obj, current))
        # The emulator merges dicts only: every patch goes as the merge patch of its result.
        forwarded = patches.merge_diff(current, obj)
        forwarded.setdefault("metadata", {})["resourceVersion"] = self._next_version()
        self._content_types[id(request)] = patches.MERGE
        return json.dumps(forwarded).encode()

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _check_version(self, info: RequestInfo, current: Any, change: dict[str, Any]) -> None:
        wanted = (change.get("metadata") or {}).get("resourceVersion")
        stored = (current.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and stored is not None and str(wanted) != str(stored):
            raise AdmissionDenied(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {qualified_resource(info)} "{info.name}": '
                "the object has been modified; please apply your changes to the latest version "
                "and try again",
            )

    def _object_path(self, info: RequestInfo) -> str:
        base = f"/api/{info.api_version}" if not info.api_group else (
            f"/apis/{info.api_group}/{info.api_version}"
        )  # fmt: skip
        if info.namespace and info.resource != "namespaces":
            base += f"/namespaces/{info.namespace}"
        return f"{base}/{info.resource}/{info.name}"

    async def _proxy(
        self, request: web.Request, account: ServiceAccount, info: RequestInfo, body: bytes
    ) -> web.StreamResponse:
        if self._session is None or self._session.closed:
            return _status_response(503, "ServiceUnavailable", "the API front is stopping")
        headers = {
            k: request.headers[k] for k in _FORWARDED_REQUEST_HEADERS if k in request.headers
        }
        if id(request) in self._content_types:
            headers["Content-Type"] = self._content_types.pop(id(request))
        try:
            async with self._session.request(
                request.method,
                request.path,
                params=request.query,
                data=body or None,
                headers=headers,
            ) as upstream:
                self._record(account.username, info, upstream.status)
                response = web.StreamResponse(status=upstream.status)
                for name in _FORWARDED_RESPONSE_HEADERS:
                    if name in upstream.headers:
                        response.headers[name] = upstream.headers[name]
                if info.verb == "watch":
                    response.enable_chunked_encoding()
                await response.prepare(request)
                # Chunk by chunk as they come: a watch stream is one long response.
                try:
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                    await response.write_eof()
                except (ConnectionResetError, aiohttp.ClientError):
                    pass  # the client went away (a watcher stopped), or the front is stopping
                return response
        except aiohttp.ClientConnectionError as exc:  # the emulator is gone (teardown)
            self._record(account.username, info, 503, str(exc))
            return _status_response(
                503, "ServiceUnavailable", f"the emulator is unreachable: {exc}"
            )

    # --- namespaces, from the front's own table ------------------------------------------

    def _namespace(self, name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(self.namespaces[name])},
            "status": {"phase": "Active"},
        }

    async def _serve_namespaces(
        self, request: web.Request, account: ServiceAccount, info: RequestInfo
    ) -> web.StreamResponse:
        name = info.name or info.namespace
        if info.verb == "get":
            if name not in self.namespaces:
                self._record(account.username, info, 404)
                return _status_response(404, "NotFound", f'namespaces "{name}" not found')
            self._record(account.username, info, 200)
            return web.json_response(self._namespace(name))
        if info.verb == "list":
            self._record(account.username, info, 200)
            items = [self._namespace(n) for n in sorted(self.namespaces)]
            return web.json_response(
                {"apiVersion": "v1", "kind": "NamespaceList", "metadata": {}, "items": items}
            )
        if info.verb == "watch":
            self._record(account.username, info, 200)
            response = web.StreamResponse(status=200)
            response.content_type = "application/json"
            response.enable_chunked_encoding()
            await response.prepare(request)
            try:
                for n in sorted(self.namespaces):
                    event = {"type": "ADDED", "object": self._namespace(n)}
                    await response.write(json.dumps(event).encode() + b"\n")
                while self._session is not None and not self._session.closed:
                    await asyncio.sleep(0.5)  # namespaces do not change while a test runs
            except ConnectionResetError:
                pass
            return response
        self._record(account.username, info, 405)
        return _status_response(
            405, "MethodNotAllowed", f"the in-pod harness does not {info.verb} namespaces"
        )

    async def _namespace_labels(self, namespace: str) -> Mapping[str, str]:
        return self.namespaces.get(namespace, {})

    # --- lookups in the cluster, for admission -------------------------------------------

    async def _get_json(self, path: str) -> Any:
        assert self._session is not None
        async with self._session.get(path, headers={"Accept": "application/json"}) as resp:
            if resp.status == 404:
                return None
            resp.raise_for_status()
            return await resp.json(content_type=None)

    async def _resolve_resource(self, api_version: str, kind: str) -> str | None:
        key = (api_version, kind)
        if key not in self._kinds:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            found = await self._get_json(path)
            self._kinds[key] = next(
                (
                    r["name"]
                    for r in (found or {}).get("resources", [])
                    if r.get("kind") == kind and "/" not in r.get("name", "")
                ),
                None,
            )
        return self._kinds[key]


def _isolate_status(change: Any, to_status: bool) -> Any:
    """The part of a write the API server keeps: only `status` on /status, never it elsewhere."""

    def is_status(path: str) -> bool:
        return path == "/status" or path.startswith("/status/")

    if isinstance(change, list):  # a JSON patch: its ops by path
        return [
            op
            for op in change
            if not isinstance(op, dict)
            or op.get("op") == "test"
            or is_status(str(op.get("path", ""))) == to_status
        ]
    if not isinstance(change, dict):
        return change
    if to_status:
        return {"status": change["status"]} if "status" in change else {}
    return {k: v for k, v in change.items() if k != "status"}

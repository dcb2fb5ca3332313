"""The one Kubernetes client the operator uses besides kopf itself: small, async, JSON in/out.

Behind this interface so routers, handlers and tests see five verbs, not a client library.
Merge patches only (RFC 7386): they mean the same thing on every API server and emulator.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf
import structlog

from ..errors import ModelRolloutError
from ..settings import OperatorSettings
from .credentials import login, normalised

log = structlog.get_logger(__name__)


class KubeError(ModelRolloutError):
    """The API server refused a request; `status` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Conflict(KubeError):
    """409: the object exists already, or it changed since the resourceVersion a write named."""


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


MODELVERSIONS = Resource("modelrollout.dev", "v1alpha1", "modelversions")
EXPERIMENTS = Resource("modelrollout.dev", "v1alpha1", "experiments")
JOBS = Resource("batch", "v1", "jobs")
PODS = Resource("", "v1", "pods")
SERVICES = Resource("", "v1", "services")
CONFIGMAPS = Resource("", "v1", "configmaps")
EVENTS = Resource("", "v1", "events")
DEPLOYMENTS = Resource("apps", "v1", "deployments")
HTTPROUTES = Resource("gateway.networking.k8s.io", "v1", "httproutes")


@dataclass(frozen=True)
class Connection:
    """Where and how to reach the API: one snapshot of the credentials (they may rotate)."""

    server: str
    token: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False
    scheme: str = "Bearer"
    ca_data: bytes | None = None

    @classmethod
    def from_info(cls, info: kopf.ConnectionInfo) -> Connection:
        """kopf's login result (k8s/credentials.py), as this client uses it."""
        info = normalised(info)
        ca_data = info.ca_data.encode() if isinstance(info.ca_data, str) else info.ca_data
        return cls(
            server=info.server.rstrip("/"),
            token=info.token,
            ca_file=_path(info.ca_path),
            cert_file=_path(info.certificate_path),
            key_file=_path(info.private_key_path),
            insecure=bool(info.insecure),
            scheme=info.scheme or "Bearer",
            ca_data=ca_data,
        )

    @classmethod
    def discover(cls, settings: OperatorSettings) -> Callable[[], Connection]:
        """A login for `KubeClient`: the same one kopf uses, called again after a 401."""
        return lambda: cls.from_info(login(settings))

    @property
    def authorization(self) -> str | None:
        return f"{self.scheme} {self.token}" if self.token else None


Login = Callable[[], Connection]


def _path(value: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None) -> str | None:
    return None if value is None else os.fsdecode(value)


def matches_labels(obj: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    have = obj.get("metadata", {}).get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items())


class KubeClient:
    """get / list / create / patch / delete, plus Events, over one pooled aiohttp session."""

    def __init__(self, connection: Connection | Login, *, timeout: float = 10.0) -> None:
        self._login: Login = connection if callable(connection) else (lambda: connection)
        self._conn: Connection | None = None
        self._relogin = asyncio.Lock()
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0  # for the benchmark and the readiness probe

    @staticmethod
    def _ssl(conn: Connection) -> ssl.SSLContext | bool:
        if conn.insecure:
            return False
        ctx = ssl.create_default_context(
            cafile=conn.ca_file, cadata=conn.ca_data.decode() if conn.ca_data else None
        )
        if conn.cert_file:
            ctx.load_cert_chain(conn.cert_file, conn.key_file)
        return ctx

    def _open(self, conn: Connection) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            base_url=conn.server,
            headers={"Accept": "application/json"},
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(ssl=self._ssl(conn), limit=64),
        )

    async def _connect(
        self, stale: Connection | None = None
    ) -> tuple[Connection, aiohttp.ClientSession]:
        """The current credentials and session; after a 401 with `stale`, log in again first.

        Requests refused together log in once: whoever comes second finds fresh credentials.
        """
        async with self._relogin:
            if self._conn is None or (stale is not None and self._conn is stale):
                fresh = await asyncio.to_thread(self._login)
                if self._session is not None and (
                    self._conn is None
                    or (
                        fresh.server,
                        fresh.ca_file,
                        fresh.ca_data,
                        fresh.cert_file,
                        fresh.key_file,
                        fresh.insecure,
                    )
                    != (
                        self._conn.server,
                        self._conn.ca_file,
                        self._conn.ca_data,
                        self._conn.cert_file,
                        self._conn.key_file,
                        self._conn.insecure,
                    )
                ):
                    await self._session.close()
                    self._session = None
                self._conn = fresh
            if self._session is None:
                self._session = self._open(self._conn)
            return self._conn, self._session

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> Any:
        conn, session = await self._connect()
        for attempt in (1, 2):
            headers = {"Content-Type": content_type} if body is not None else {}
            if conn.authorization:
                headers["Authorization"] = conn.authorization
            self.requests += 1
            async with session.request(
                method, path, json=body, params=params, headers=headers
            ) as resp:
                if resp.status == 401 and attempt == 1:
                    # Tokens rotate (projected service-account tokens): read them again, once.
                    log.info("kube.relogin", method=method, path=path)
                    conn, session = await self._connect(stale=conn)
                    continue
                data: Any = await resp.json(content_type=None) if resp.content_length != 0 else None
                if resp.status >= 400:
                    message = data.get("message", "") if isinstance(data, dict) else str(data)
                    cls = Conflict if resp.status == 409 else KubeError
                    raise cls(resp.status, f"{method} {path}: {message}")
                return data
        raise AssertionError("unreachable")  # pragma: no cover

    async def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self._request("GET", res.path(namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    async def list(
        self,
        res: Resource,
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        params = (
            {"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items())} if labels else None
        )
        data = await self._request("GET", res.path(namespace), params=params)
        items: list[dict[str, Any]] = (data or {}).get("items") or []
        # Filter again here: a server that ignores selectors (emulators) must not widen results.
        return [i for i in items if not labels or matches_labels(i, labels)]

    async def create(self, res: Resource, namespace: str | None, body: dict[str, Any]) -> Any:
        return await self._request("POST", res.path(namespace), body=body)

    async def patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        patch: dict[str, Any],
        *,
        subresource: str | None = None,
        resource_version: str | None = None,
    ) -> Any:
        """Merge-patch; with `resource_version`, only if the object is still at that version
        (optimistic concurrency: otherwise `Conflict`, and the caller re-reads and decides
        again)."""
        path = res.path(namespace, name) + (f"/{subresource}" if subresource else "")
        if resource_version:
            meta = {**(patch.get("metadata") or {}), "resourceVersion": resource_version}
            patch = {**patch, "metadata": meta}
        return await self._request(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )

    async def delete(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        propagation: str | None = None,
    ) -> None:
        """Delete (gone already is fine); `uid`: only that object, not one recreated under its
        name; `propagation`: Background or Foreground deletes what it owns too."""
        options: dict[str, Any] = {}
        if uid:
            options["preconditions"] = {"uid": uid}
        if propagation:
            options["propagationPolicy"] = propagation
        body = {"apiVersion": "v1", "kind": "DeleteOptions", **options} if options else None
        try:
            await self._request("DELETE", res.path(namespace, name), body=body)
        except KubeError as exc:
            if exc.status != 404:
                raise

    async def event(
        self, involved: Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None:
        """A core/v1 Event on `involved`; failures are logged, never raised (events are advisory)."""
        body = event_body(involved, type_, reason, message)
        try:
            await self.create(EVENTS, body["metadata"]["namespace"], body)
        except (KubeError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("event.failed", reason=reason, error=str(exc))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def event_body(
    involved: Mapping[str, Any], type_: str, reason: str, message: str
) -> dict[str, Any]:
    """The core/v1 Event that tells `involved`'s story (a unique name: no generateName everywhere)."""
    meta = involved.get("metadata", {})
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ref = {
        "apiVersion": involved.get("apiVersion"),
        "kind": involved.get("kind"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
    }
    if meta.get("uid"):
        ref["uid"] = meta["uid"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta.get('name')}.{uuid.uuid4().hex[:16]}",
            "namespace": meta.get("namespace"),
        },
        "involvedObject": ref,
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": "model-rollout"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }

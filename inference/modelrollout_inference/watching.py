"""Routing tables that change at run time: the routing file, and ConfigMaps the operator owns.

The ConfigMap watch is a plain HTTP list+watch (httpx) of the gateway's own namespace only,
with label selector `modelrollout.dev/routing=true`; labels are checked again here because not
every API server (or emulator) applies selectors. Only the operator may write ConfigMaps there;
a table is applied only if it keeps to the namespace it was written for (routing/sources.py).
Tables apply in order of `generation` (the gateway ignores older ones), so every replica
converges on the newest table whatever order events arrive in.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import orjson
import structlog

from .errors import GatewayError
from .routing.sources import (
    ROUTING_LABEL,
    StandingTables,
    TableSourceError,
    check_backends_within,
    is_routing_configmap,
    parse_tables,
    table_of_configmap,
    written_for,
)
from .serving.gateway import Gateway
from .settings import GatewaySettings

log = structlog.get_logger(__name__)

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


async def watch_routing_file(gateway: Gateway, path: Path, interval: float = 1.0) -> None:
    """Apply the file at start and whenever it changes (polled: works on every filesystem)."""
    seen: tuple[float, int] | None = None
    while True:
        try:
            stat = path.stat()
            if (stat.st_mtime, stat.st_size) != seen:
                seen = (stat.st_mtime, stat.st_size)
                for table in parse_tables(path.read_bytes()):
                    await gateway.apply(table, source=f"file:{path}")
        except (OSError, TableSourceError, GatewayError) as exc:
            log.error("routing file not applied", path=str(path), error=str(exc))
        await asyncio.sleep(interval)


class TokenFileAuth(httpx.Auth):
    """`Authorization: Bearer <token>` read from the file on every request.

    A pod's service-account token is projected and rotated by the kubelet: a token read once
    would be refused (401) once it expires. A 401 is retried once with the file read again.
    """

    def __init__(self, path: Path) -> None:
        self._path = path

    def _token(self) -> str | None:
        try:
            return self._path.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            fresh = self._token()
            if fresh and fresh != token:
                request.headers["Authorization"] = f"Bearer {fresh}"
                yield request


def service_url(host: str, port: str) -> str:
    """`https://host:port`, an IPv6 host in brackets (RFC 3986)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"https://{host}:{port}"


def kube_client(settings: GatewaySettings) -> httpx.AsyncClient:
    """An API client: explicit URL/token/CA settings, else the pod's service account."""
    url = settings.kube_api_url
    token_file = settings.kube_token_file
    ca_file = settings.kube_ca_file
    if url is None:
        host, port = (
            os.environ.get("KUBERNETES_SERVICE_HOST"),
            os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
        )
        if not host:
            raise RuntimeError(
                "no Kubernetes API: set MODELROLLOUT_GATEWAY_KUBE_API_URL or run in a pod"
            )
        url = service_url(host, port)
        token_file = token_file or SERVICE_ACCOUNT / "token"
        ca_file = ca_file or SERVICE_ACCOUNT / "ca.crt"
    verify: ssl.SSLContext | bool = True
    if settings.kube_insecure:
        verify = False
    elif ca_file is not None:
        verify = ssl.create_default_context(cafile=str(ca_file))
    # No read timeout: a watch stays open; the server ends it after timeoutSeconds.
    timeout = httpx.Timeout(10.0, read=None)
    return httpx.AsyncClient(
        base_url=url,
        auth=TokenFileAuth(token_file) if token_file is not None else None,
        verify=verify,
        timeout=timeout,
    )


def own_namespace(namespace: str | None) -> str:
    """The namespace to watch: the given one, else the pod's own, else `default`."""
    if namespace:
        return namespace
    try:
        return (SERVICE_ACCOUNT / "namespace").read_text(encoding="utf-8").strip() or "default"
    except OSError:
        return "default"


class ConfigMapWatcher:
    """Routing ConfigMaps of one namespace (the gateway's own), never of the whole cluster."""

    def __init__(self, gateway: Gateway, client: httpx.AsyncClient, namespace: str | None) -> None:
        self._gateway = gateway
        self._client = client
        self.namespace = own_namespace(namespace)
        self._path = f"/api/v1/namespaces/{self.namespace}/configmaps"
        self._standing = StandingTables()

    async def run(self) -> None:
        backoff = 0.2
        try:
            while True:
                try:
                    version = await self._list()
                    await self._watch(version)
                    backoff = 0.2
                except (httpx.HTTPError, ValueError) as exc:
                    log.warning("configmap watch interrupted", error=str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        finally:
            await self._client.aclose()

    async def _list(self) -> str | None:
        response = await self._client.get(
            self._path, params={"labelSelector": f"{ROUTING_LABEL}=true"}
        )
        response.raise_for_status()
        document = response.json()
        # Oldest first: after a restart a model stays with the Experiment that routed it first.
        items = sorted(document.get("items") or [], key=_age_and_generation)
        for item in items:
            await self._handle("ADDED", item)
        version = (document.get("metadata") or {}).get("resourceVersion")
        return str(version) if version else None

    async def _watch(self, resource_version: str | None) -> None:
        params: dict[str, str] = {
            "labelSelector": f"{ROUTING_LABEL}=true",
            "watch": "true",
            "timeoutSeconds": "300",
            "allowWatchBookmarks": "true",
        }
        if resource_version:
            params["resourceVersion"] = resource_version
        async with self._client.stream("GET", self._path, params=params) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                event = orjson.loads(line)
                kind = event.get("type")
                if kind == "ERROR":  # e.g. 410 Gone: resourceVersion too old, list again
                    raise ValueError(f"watch error: {event.get('object')}")
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    await self._handle(kind, event.get("object") or {})

    async def _handle(self, kind: str, configmap: dict[str, Any]) -> None:
        metadata = configmap.get("metadata") or {}
        key = (str(metadata.get("namespace") or self.namespace), str(metadata.get("name", "")))
        if key[0] != self.namespace:
            return  # not from the gateway's namespace: never ours, whatever its labels say
        if kind == "DELETED" or not is_routing_configmap(configmap):
            # A removed ConfigMap (or label) ends its experiment: the next newest one standing
            # for the same namespace and model routes it, else the table goes.
            entry = self._standing.forget(key)
            if entry is not None:
                await self._route(entry.served)
            return
        try:
            written = written_for(configmap)
            table = table_of_configmap(configmap)
            check_backends_within(table, written)
        except TableSourceError as exc:
            log.error(
                "routing ConfigMap not applied", configmap=f"{key[0]}/{key[1]}", error=str(exc)
            )
            return
        created = str(metadata.get("creationTimestamp") or "")
        entry = self._standing.stand(key, written, table, created)
        await self._route(entry.served)

    async def _route(self, served: str) -> None:
        """Serve the newest standing table of `served` (an earlier Experiment's is kept only
        until a later one on the same model writes its own); none left: remove it."""
        winner = self._standing.newest(served)
        if winner is None:
            await self._gateway.remove(served)
            return
        source = f"configmap:{winner.key[0]}/{winner.key[1]}"
        try:
            await self._gateway.apply(winner.table, source=source, namespace=winner.namespace)
        except GatewayError as exc:
            log.error("routing ConfigMap not applied", configmap=source, error=str(exc))


def _age_and_generation(configmap: dict[str, Any]) -> tuple[str, int]:
    created = str((configmap.get("metadata") or {}).get("creationTimestamp") or "")
    try:
        return created, table_of_configmap(configmap).generation
    except TableSourceError:
        return created, -1

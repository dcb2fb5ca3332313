"""Routing tables from text: a routing file (one table or a list) or a ConfigMap's data.

Who may route what (docs/contracts.md §2):
- ConfigMaps are read from the gateway's own namespace only, where only the operator may write
  (the chart's RBAC). Each is written for one namespace, named by its
  `modelrollout.dev/for-namespace` label, and its table may send traffic only to Services in
  that namespace (`http://<service>.<namespace>.svc[.<cluster domain>]:<port>`) or embed an
  `s3://` artifact (never a file of the gateway's own); anything else is refused whole.
- A model is routed for one namespace at a time: while ConfigMaps written for namespace A route
  a model, a table for the same model written for namespace B is refused (`ModelClaims`).
- The admin API (local mode) takes no artifact URIs: it never fetches on a client's behalf.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import TypeAdapter, ValidationError

from .table import OnnxRuntimeBackend, RoutingTable, TritonBackend

ROUTING_LABEL = "modelrollout.dev/routing"
NAMESPACE_LABEL = "modelrollout.dev/for-namespace"
ROUTING_KEY = "routing.json"

_TABLES = TypeAdapter(list[RoutingTable])


class TableSourceError(ValueError):
    """A routing source that does not hold valid tables."""


def parse_tables(text: str | bytes) -> list[RoutingTable]:
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise TableSourceError(f"routing JSON is malformed: {exc}") from None
    items = document if isinstance(document, list) else [document]
    try:
        tables = _TABLES.validate_python(items)
    except ValidationError as exc:
        raise TableSourceError(f"invalid routing table: {exc}") from None
    models = [t.model for t in tables]
    if len(set(models)) != len(models):
        raise TableSourceError("a routing source lists the same model twice")
    return tables


def is_routing_configmap(configmap: dict[str, Any]) -> bool:
    """Label selectors are not trusted to be applied by every API server: check again."""
    labels = (configmap.get("metadata") or {}).get("labels") or {}
    return labels.get(ROUTING_LABEL) == "true"


def table_of_configmap(configmap: dict[str, Any]) -> RoutingTable:
    data = configmap.get("data") or {}
    name = (configmap.get("metadata") or {}).get("name", "?")
    if ROUTING_KEY not in data:
        raise TableSourceError(f"ConfigMap {name} has no '{ROUTING_KEY}' key")
    tables = parse_tables(data[ROUTING_KEY])
    if len(tables) != 1:
        raise TableSourceError(f"ConfigMap {name} must hold exactly one routing table")
    return tables[0]


def written_for(configmap: dict[str, Any]) -> str:
    """The namespace a routing ConfigMap was written for (its `for-namespace` label)."""
    labels = (configmap.get("metadata") or {}).get("labels") or {}
    namespace = labels.get(NAMESPACE_LABEL)
    if not isinstance(namespace, str) or not _is_dns_label(namespace):
        name = (configmap.get("metadata") or {}).get("name", "?")
        raise TableSourceError(
            f"ConfigMap {name} has no valid '{NAMESPACE_LABEL}' label: not written by the operator"
        )
    return namespace


def _is_dns_label(text: str) -> bool:
    return (
        0 < len(text) <= 63
        and text[0].isalnum()
        and text[-1].isalnum()
        and all(c.isdigit() or ("a" <= c <= "z") or c == "-" for c in text)
    )


def service_namespace(url: str) -> str | None:
    """The namespace of a cluster Service URL `http://<svc>.<ns>.svc[...]`, else None."""
    host = urlsplit(url).hostname or ""
    parts = host.split(".")
    if len(parts) >= 3 and parts[2] == "svc" and _is_dns_label(parts[0]):
        return parts[1]
    return None


def check_backends_within(table: RoutingTable, namespace: str) -> None:
    """Refuse a table that reaches outside `namespace` or into the gateway's own files."""
    for route in table.versions:
        backend = route.backend
        if isinstance(backend, TritonBackend):
            if service_namespace(backend.url) != namespace:
                raise TableSourceError(
                    f"version {route.version}: backend {backend.url} is not a Service in "
                    f"namespace {namespace}, the one this table was written for"
                )
        elif backend.uri is not None and urlsplit(backend.uri).scheme != "s3":
            raise TableSourceError(
                f"version {route.version}: only s3:// artifacts may be named by a routing ConfigMap"
            )


def check_no_fetching(table: RoutingTable) -> None:
    """The admin API takes only repository versions and remote servers: no artifact URIs."""
    for route in table.versions:
        if isinstance(route.backend, OnnxRuntimeBackend) and route.backend.uri is not None:
            raise TableSourceError(
                f"version {route.version}: the admin API does not fetch artifacts ('uri'); "
                "serve the version from the model repository or a server URL"
            )


class ModelClaims:
    """Which namespace each model is routed for, from the ConfigMaps that route it (pure)."""

    def __init__(self) -> None:
        self._holders: dict[Hashable, tuple[str, str]] = {}  # source -> (model, namespace)

    def owner(self, model: str, *, besides: Hashable | None = None) -> str | None:
        for source, (held, namespace) in self._holders.items():
            if held == model and source != besides:
                return namespace
        return None

    def check(self, source: Hashable, model: str, namespace: str) -> None:
        owner = self.owner(model, besides=source)
        if owner is not None and owner != namespace:
            raise TableSourceError(
                f"model '{model}' is routed for namespace {owner}: a table written for "
                f"{namespace} is refused while that one stands"
            )

    def hold(self, source: Hashable, model: str, namespace: str) -> None:
        self._holders[source] = (model, namespace)

    def release(self, source: Hashable) -> tuple[str, str] | None:
        return self._holders.pop(source, None)

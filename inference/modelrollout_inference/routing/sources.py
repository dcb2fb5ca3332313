"""Routing tables from text: a routing file (one table or a list) or a ConfigMap's data.

Who may route what (docs/contracts.md §2):
- ConfigMaps are read from the gateway's own namespace only, where only the operator may write
  (the chart's RBAC). Each is written for one namespace, named by its
  `modelrollout.dev/for-namespace` label, and its table may send traffic only to Services in
  that namespace (`http://<service>.<namespace>.svc[.<cluster domain>]:<port>`) or embed an
  `s3://` artifact (never a file of the gateway's own); anything else is refused whole.
- Tables are keyed by namespace and model: model `churn` routed for namespaces A and B keeps
  two tables, served as `A.churn` and `B.churn` (`churn` alone while one namespace routes it).
  Of several ConfigMaps for one namespace and model, the newest routes it (`StandingTables`).
- The admin API (local mode) takes no artifact URIs: it never fetches on a client's behalf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import TypeAdapter, ValidationError

from .table import OnnxRuntimeBackend, RoutingTable, TritonBackend, served_name

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


@dataclass(frozen=True, slots=True)
class Standing:
    key: tuple[str, str]  # the ConfigMap's (namespace, name)
    namespace: str  # the namespace it was written for
    table: RoutingTable
    created: str  # creationTimestamp (RFC 3339, so text order is time order)
    arrival: int
    served: str


class StandingTables:
    """The routing ConfigMaps standing, and which one routes each served name (pure).

    Tables are keyed by the namespace they were written for and their model
    (`served_name`): the same model in two namespaces keeps two tables. When two ConfigMaps
    stand for one namespace and model (a finished Experiment's and the next one's), the
    newest (creationTimestamp, then arrival) routes it whatever order events come in.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Standing] = {}
        self._arrivals = 0

    def stand(
        self, key: tuple[str, str], namespace: str, table: RoutingTable, created: str
    ) -> Standing:
        previous = self._entries.get(key)
        self._arrivals += 1
        arrival = previous.arrival if previous is not None else self._arrivals
        served = served_name(namespace, table.model)
        entry = Standing(key, namespace, table, created, arrival, served)
        self._entries[key] = entry
        return entry

    def forget(self, key: tuple[str, str]) -> Standing | None:
        return self._entries.pop(key, None)

    def newest(self, served: str) -> Standing | None:
        candidates = [e for e in self._entries.values() if e.served == served]
        return max(candidates, key=lambda e: (e.created, e.arrival), default=None)

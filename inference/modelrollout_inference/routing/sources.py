"""Routing tables from text: a routing file (one table or a list) or a ConfigMap's data."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from .table import RoutingTable

ROUTING_LABEL = "modelrollout.dev/routing"
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

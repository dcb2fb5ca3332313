"""Keep the API server's CEL cost estimate sane.

Kubernetes estimates a rule's worst-case cost from the schema: a string without
`maxLength` is assumed as long as a whole request (3 MiB), a list without `maxItems` as long
as a request allows. A rule whose estimate passes the per-rule budget makes the CRD fail to
install. Rather than re-implement the estimator, we require every string, list and map
under a node that carries rules to be bounded: then every estimate is small.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Schema = dict[str, Any]

# Formats whose length Kubernetes bounds by itself.
_BOUNDED_FORMATS = frozenset({"date-time", "date", "duration"})


def unbounded_under_rules(schema: Schema, path: str = "") -> list[str]:
    """Paths of unbounded strings/lists/maps inside a subtree that carries CEL rules."""
    return sorted(set(_scan(schema, path, under_rule=False)))


def _scan(node: Schema, path: str, under_rule: bool) -> Iterator[str]:
    under_rule = under_rule or bool(node.get("x-kubernetes-validations"))
    kind = node.get("type")
    if under_rule:
        if kind == "string" and not _bounded_string(node):
            yield f"{path or '.'}: string without maxLength (or enum)"
        if kind == "array" and "maxItems" not in node:
            yield f"{path or '.'}: list without maxItems"
        if kind == "object" and "additionalProperties" in node and "maxProperties" not in node:
            yield f"{path or '.'}: map without maxProperties"
    for name, sub in node.get("properties", {}).items():
        yield from _scan(sub, f"{path}.{name}", under_rule)
    if isinstance(node.get("items"), dict):
        yield from _scan(node["items"], f"{path}[*]", under_rule)
    if isinstance(node.get("additionalProperties"), dict):
        yield from _scan(node["additionalProperties"], f"{path}.*", under_rule)


def _bounded_string(node: Schema) -> bool:
    return "maxLength" in node or "enum" in node or node.get("format") in _BOUNDED_FORMATS

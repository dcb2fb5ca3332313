"""What the API server does to an object before validating it: prune and default.

Kubernetes drops unknown fields (kubectl's strict validation turns them into errors),
drops `null` values of fields that are not nullable, then fills in the schema's defaults,
top-down, so a defaulted parent gets its children's defaults too. Pure functions over JSON.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

Schema = dict[str, Any]


def unknown_fields(obj: Any, schema: Schema, path: str = "") -> list[str]:
    """Dotted paths of the fields the schema does not declare (kubectl --validate=strict)."""
    return list(_unknown(obj, schema, path))


def _unknown(obj: Any, schema: Schema, path: str) -> Iterator[str]:
    if isinstance(obj, dict) and schema.get("type") == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is None and not isinstance(extra, dict):
            return  # a free-form object such as metadata: the API server checks it itself
        for key, value in obj.items():
            sub = (props or {}).get(key, extra if isinstance(extra, dict) else None)
            child = f"{path}.{key}" if path else key
            if sub is None:
                yield child
            else:
                yield from _unknown(value, sub, child)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(obj):
            yield from _unknown(value, schema["items"], f"{path}[{i}]")


def apply_defaults(obj: Any, schema: Schema) -> Any:
    """A copy of `obj` with nulls pruned and the schema's defaults filled in."""
    out = copy.deepcopy(obj)
    _default(out, schema)
    return out


def _default(obj: Any, schema: Schema) -> None:
    if isinstance(obj, dict) and schema.get("type") == "object":
        props: Schema = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key in [k for k, v in obj.items() if v is None and k in props]:
            del obj[key]
        for key, sub in props.items():
            if key not in obj and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
        for key, value in obj.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                _default(value, sub)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for value in obj:
            _default(value, schema["items"])

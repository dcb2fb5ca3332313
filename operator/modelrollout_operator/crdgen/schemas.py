"""pydantic JSON schema -> Kubernetes structural openAPIV3Schema.

Kubernetes accepts only "structural" schemas: every node has a type, no `$ref`, no
`anyOf` with null, `additionalProperties` only for maps. Optional fields are simply not
required. Any keyword this module does not know is an error, so a model change can never
silently drop a constraint from the CRD.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

from ..errors import ModelRolloutError

Schema = dict[str, Any]

#: The order keywords appear in within one node: what a reader looks for first.
_KEY_ORDER = (
    "description",
    "type",
    "format",
    "enum",
    "default",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "maxProperties",
    "items",
    "properties",
    "additionalProperties",
    "required",
    "x-kubernetes-validations",
)
#: Keywords copied unchanged.
_PLAIN = frozenset(
    {
        "description",
        "type",
        "format",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "maxProperties",
    }
)
#: Keywords with no place in a CRD (pydantic's cosmetics).
_DROPPED = frozenset({"title", "example", "examples"})


class SchemaError(ModelRolloutError, ValueError):
    """The models use a construct a structural schema cannot express."""


class _CrdJsonSchema(GenerateJsonSchema):
    """pydantic's generator, with `default_factory` values as defaults.

    Kubernetes applies defaults only where a parent object exists, so a nested block such as
    `serving` needs a default of its own (`{}`) for its fields' defaults to apply. Defaults are
    written minimally (fields equal to their own defaults left out): the API server fills
    those in from the nested schema, and the CRD stays readable.
    """

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return schema.get("default", NoDefault)

    def encode_default(self, dft: Any) -> Any:
        return _minimal(dft) if _holds_model(dft) else super().encode_default(dft)


def _holds_model(value: Any) -> bool:
    if isinstance(value, BaseModel):
        return True
    return isinstance(value, list) and any(isinstance(v, BaseModel) for v in value)


def _minimal(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(
            by_alias=True, mode="json", exclude_defaults=True, exclude_none=True
        )
    if isinstance(value, list):
        return [_minimal(v) for v in value]
    return value


def pydantic_schema(model: type[BaseModel]) -> Schema:
    """The model's JSON schema in camelCase, with `$defs` and factory defaults."""
    return model.model_json_schema(by_alias=True, schema_generator=_CrdJsonSchema)


def structural(model: type[BaseModel], omit: frozenset[str] = frozenset()) -> Schema:
    """The structural openAPIV3Schema of a model, leaving out the top-level fields `omit`."""
    raw = pydantic_schema(model)
    raw["properties"] = {k: v for k, v in raw.get("properties", {}).items() if k not in omit}
    raw["required"] = [k for k in raw.get("required", []) if k not in omit]
    return _convert(raw, raw.get("$defs", {}), model.__name__)


def _convert(node: Schema, defs: Schema, path: str) -> Schema:
    node = _resolve(node, defs, path)
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED or key == "$defs":
            continue
        if key in _PLAIN:
            out[key] = value
        elif key == "const":
            out["enum"] = [value]
        elif key == "default":
            if value is not None:
                out["default"] = value
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            # OpenAPI v3.0 (what Kubernetes speaks) makes these booleans beside minimum/maximum.
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "properties":
            out["properties"] = {
                name: _convert(sub, defs, f"{path}.{name}") for name, sub in sorted(value.items())
            }
        elif key == "items":
            out["items"] = _convert(value, defs, f"{path}[]")
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out["additionalProperties"] = _convert(value, defs, f"{path}.*")
            elif value is True and "properties" not in node:
                raise SchemaError(f"{path}: free-form objects need an explicit schema")
            # `false` is pydantic's extra="forbid": Kubernetes prunes unknown fields instead.
        elif key == "required":
            out["required"] = sorted(value)
        elif key == "x-kubernetes-validations":
            out[key] = [{"rule": v["rule"], "message": v["message"]} for v in value]
        else:
            raise SchemaError(f"{path}: keyword {key!r} has no structural equivalent")
    if "type" not in out:
        raise SchemaError(f"{path}: no type (structural schemas type every node)")
    return {k: out[k] for k in _KEY_ORDER if k in out}


def _resolve(node: Schema, defs: Schema, path: str) -> Schema:
    """Inline `$ref`/`allOf` and unwrap `anyOf: [X, null]`; the outer node's keys win."""
    node = dict(node)
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o != {"type": "null"}]
        if len(options) != 1:
            raise SchemaError(f"{path}: unions of several types are not structural")
        node = {**_resolve(options[0], defs, path), **node}
    if "allOf" in node:
        parts = node.pop("allOf")
        if len(parts) != 1:
            raise SchemaError(f"{path}: allOf with several parts is not supported")
        node = {**_resolve(parts[0], defs, path), **node}
    if "$ref" in node:
        name = node.pop("$ref").rsplit("/", 1)[-1]
        if name not in defs:
            raise SchemaError(f"{path}: unresolved $ref {name!r}")
        node = {**_resolve(defs[name], defs, path), **node}
    return node

"""Check a resource the two ways it is checked in a cluster: schema + CEL, and the models.

The API server validates against the CRD's openAPIV3Schema and its CEL rules (after pruning
and defaulting); the operator then parses the object with the pydantic models. Both must
reject a bad resource, with a message that names the field: `schema_problems` plays the API
server, `model_problems` the operator. The schema is passed in (it is generated from these
models one layer up, in `crdgen`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ValidationError

from . import celrules
from .defaulting import apply_defaults, unknown_fields
from .v1alpha1 import API_VERSION, GROUP, Experiment, Model, ModelVersion

Schema = dict[str, Any]
Source = Literal["schema", "cel", "model", "object"]

#: The kinds this API serves, and the model each is parsed with.
MODELS: dict[str, type[BaseModel]] = {
    "ModelVersion": ModelVersion,
    "Experiment": Experiment,
    "Model": Model,
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a resource: where (a field path) and what."""

    path: str
    message: str
    source: Source

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


def format_path(parts: Iterable[str | int]) -> str:
    """`spec.strategy.canary.steps[0].weight` from its parts."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def identify(document: Any) -> tuple[str | None, list[Problem]]:
    """The kind of a document of this API, or the problems that stop it being one."""
    if not isinstance(document, dict):
        return None, [Problem("", "not a mapping (a Kubernetes object)", "object")]
    api_version, kind = document.get("apiVersion"), document.get("kind")
    problems: list[Problem] = []
    if api_version != API_VERSION:
        problems.append(
            Problem("apiVersion", f"must be {API_VERSION}, got {api_version!r}", "object")
        )
    known_kind = isinstance(kind, str) and kind in MODELS
    if not known_kind:
        known = " or ".join(MODELS)
        problems.append(Problem("kind", f"must be {known}, got {kind!r}", "object"))
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        problems.append(Problem("metadata.name", "required: every object needs a name", "object"))
    return (kind if known_kind else None), problems


def is_ours(document: Any) -> bool:
    """Whether a document claims to belong to this API group (others are left alone)."""
    if not isinstance(document, dict):
        return False
    api_version = document.get("apiVersion")
    return isinstance(api_version, str) and api_version.split("/")[0] == GROUP


def schema_problems(obj: Any, schema: Schema, old: Any = None) -> list[Problem]:
    """What the API server would say: unknown fields, openAPIV3Schema, then CEL rules."""
    problems = [Problem(p, "unknown field", "schema") for p in unknown_fields(obj, schema)]
    defaulted = apply_defaults(obj, schema)
    validator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    for error in sorted(validator.iter_errors(defaulted), key=lambda e: list(e.absolute_path)):
        problems.extend(_from_jsonschema(error))
    old_defaulted = apply_defaults(old, schema) if old is not None else None
    for violation in celrules.evaluate(defaulted, schema, old_defaulted):
        # A rule over a mistyped value cannot be evaluated; the type error is the news.
        if violation.evaluation_error and problems:
            continue
        problems.append(Problem(violation.path, violation.message, "cel"))
    return problems


def _from_jsonschema(error: jsonschema.ValidationError) -> list[Problem]:
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [f for f in error.validator_value if f not in error.instance]
        return [
            Problem(format_path([*path, f]), "required field is missing", "schema") for f in missing
        ]
    return [Problem(format_path(path), _short(error), "schema")]


_SIZES = {"maxItems": "items", "maxLength": "characters", "maxProperties": "fields"}


def _short(error: jsonschema.ValidationError) -> str:
    """jsonschema's message without the whole offending value in it (it can be huge)."""
    unit = _SIZES.get(str(error.validator))
    if unit is not None and isinstance(error.instance, list | str | dict):
        return f"{len(error.instance)} {unit}: at most {error.validator_value} allowed"
    message: str = error.message
    return message if len(message) <= 300 else message[:297] + "..."


def model_problems(obj: Any, model: type[BaseModel]) -> list[Problem]:
    """What the operator would say when it parses the object with the pydantic models."""
    try:
        model.model_validate(obj)
    except ValidationError as exc:
        return [
            Problem(format_path(err["loc"]), _clean(err["msg"]), "model") for err in exc.errors()
        ]
    return []


def _clean(message: str) -> str:
    return message.removeprefix("Value error, ")


def merge(schema_side: Sequence[Problem], model_side: Sequence[Problem]) -> list[Problem]:
    """All schema/CEL problems, plus the model's where the schema said nothing nearby.

    Both sides usually report the same mistake; one line per mistake reads better. A model
    problem at a path the schema side did not touch is kept: it is a real problem the API
    server would let through.
    """
    seen = [p.path for p in schema_side]
    extra = [p for p in model_side if not any(_related(p.path, s) for s in seen)]
    return [*schema_side, *extra]


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith((b + ".", b + "[")) or b.startswith((a + ".", a + "["))

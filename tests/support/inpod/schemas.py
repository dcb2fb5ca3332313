"""Object validation as the API server does it before storing: CRD schemas and built-in kinds.

Custom resources are checked against the openAPIV3Schema of their CRD in `crds/` (unknown
fields, the schema, then the `x-kubernetes-validations` CEL rules, with `oldSelf` on update),
through the same checker `modelrollout validate` uses. Built-in kinds are checked against the
Kubernetes 1.35 OpenAPI schemas that `kubernetes-validate` ships, in their strict form
(`additionalProperties: false`: an unknown field is an error, as with kubectl's strict
validation). Kinds with no schema known here (e.g. Gateway API routes) are not checked.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import yaml

from modelrollout_operator.api.defaulting import apply_defaults
from modelrollout_operator.api.validating import format_path, schema_problems

KUBERNETES_VERSION = "1.35.0"


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with an object: a field path and what."""

    path: str
    message: str
    unknown_field: bool = False

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


@dataclass(frozen=True)
class CustomResource:
    """What the front needs to know of one served version of a CRD."""

    group: str
    version: str
    plural: str
    kind: str
    schema: dict[str, Any]
    status_subresource: bool

    def problems(self, obj: Any, old: Any = None) -> list[FieldProblem]:
        return [
            FieldProblem(p.path, p.message, p.source == "schema" and p.message == "unknown field")
            for p in schema_problems(obj, self.schema, old)
        ]

    def defaulted(self, obj: Any) -> Any:
        return apply_defaults(obj, self.schema)


def load_crds(paths: Iterable[Path]) -> dict[tuple[str, str, str], CustomResource]:
    """(group, version, plural) -> the served version, from CRD YAML files."""
    out: dict[tuple[str, str, str], CustomResource] = {}
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                out[(spec["group"], version["name"], spec["names"]["plural"])] = CustomResource(
                    group=spec["group"],
                    version=version["name"],
                    plural=spec["names"]["plural"],
                    kind=spec["names"]["kind"],
                    schema=version["schema"]["openAPIV3Schema"],
                    status_subresource="status" in (version.get("subresources") or {}),
                )
    return out


_UNEXPECTED = re.compile(r"'([^']+)' was unexpected")


def _schema_file(name: str) -> Any:
    base = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    path = base / f"v{KUBERNETES_VERSION}-local-strict" / name
    return json.loads(path.read_text())


@lru_cache(maxsize=64)
def _builtin_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    # kubernetes-validate's file naming: rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = _schema_file(f"{kind.lower()}-{group_version}.json")
    except FileNotFoundError:
        return None
    definitions = referencing.Resource.from_contents(_definitions())
    registry: referencing.Registry[Any] = referencing.Resource.from_contents(schema) @ (
        definitions @ referencing.Registry()
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


@lru_cache(maxsize=1)
def _definitions() -> Any:
    return _schema_file("_definitions.json")


def builtin_problems(obj: Mapping[str, Any]) -> list[FieldProblem] | None:
    """What strict validation finds in a built-in object; None when its kind is unknown here."""
    validator = _builtin_validator(str(obj.get("apiVersion")), str(obj.get("kind")))
    if validator is None:
        return None
    problems: list[FieldProblem] = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        path = format_path(list(error.absolute_path))
        if error.validator == "additionalProperties":
            for name in _UNEXPECTED.findall(error.message):
                full = f"{path}.{name}" if path else name
                problems.append(FieldProblem(full, "unknown field", unknown_field=True))
        else:
            problems.append(FieldProblem(path, error.message))
    return problems

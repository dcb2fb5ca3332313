"""Custom resources in examples/ are valid against the chart's CRD schemas, strictly
(unknown fields rejected, as `kubectl apply` with server-side field validation does)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from chart_helpers import CHART, ROOT

from tests.support.examples import example_files

EXAMPLES = example_files(ROOT / "examples")


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A Kubernetes structural schema as a JSON schema that rejects unknown fields."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            # OpenAPI 3.0 booleans to JSON-schema draft 7 numbers
            for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
                if node.get(bound) is True:
                    node[bound] = node.pop(limit)
                elif node.get(bound) is False:
                    del node[bound]
            if node.pop("nullable", False) and isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            if node.pop("x-kubernetes-int-or-string", False):
                node.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    # metadata is checked by the API server itself, not by the CRD's schema
    schema.get("properties", {})["metadata"] = {"type": "object"}
    return schema


def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    schemas = {}
    for path in sorted((CHART / "files" / "crds").glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd["spec"]["group"] != "modelrollout.dev":
                continue
            for version in crd["spec"]["versions"]:
                api_version = f"{crd['spec']['group']}/{version['name']}"
                schemas[(api_version, crd["spec"]["names"]["kind"])] = _strict(
                    version["schema"]["openAPIV3Schema"]
                )
    return schemas


def test_there_are_examples_and_schemas() -> None:
    assert EXAMPLES, "examples/ holds no manifests"
    assert {kind for _, kind in _schemas()} == {"ModelVersion", "Experiment", "Model"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_is_valid_against_its_crd(path: Path) -> None:
    schemas = _schemas()
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert documents, f"{path} holds no documents"
    for doc in documents:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key not in schemas:
            continue  # built-in kinds (Secrets, Namespaces) are not ours to check
        errors = sorted(jsonschema.Draft7Validator(schemas[key]).iter_errors(doc), key=str)
        assert not errors, "\n".join(
            f"{path.name} {doc['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}"
            for e in errors
        )


def test_strict_schema_rejects_an_unknown_field() -> None:
    schemas = _schemas()
    key = ("modelrollout.dev/v1alpha1", "Experiment")
    doc = next(
        d
        for p in EXAMPLES
        for d in yaml.safe_load_all(p.read_text())
        if d and (d.get("apiVersion"), d.get("kind")) == key
    )
    doc = copy.deepcopy(doc)
    doc["spec"]["stratgey"] = {}
    errors = list(jsonschema.Draft7Validator(schemas[key]).iter_errors(doc))
    assert any("stratgey" in e.message for e in errors)

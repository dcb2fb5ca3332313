"""The generated CRDs: in sync with the models, structural, and cheap for CEL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrollout_operator import crdgen
from modelrollout_operator.api import celrules

ROOT = Path(__file__).resolve().parents[3]
KINDS = ("ModelVersion", "Experiment")
ALLOWED_KEYS = {
    "description", "type", "format", "enum", "default", "minimum", "exclusiveMinimum",
    "maximum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems", "maxProperties",
    "items", "properties", "additionalProperties", "required", "x-kubernetes-validations",
}  # fmt: skip


def _nodes(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        out += _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        out += _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        out += _nodes(schema["additionalProperties"], f"{path}.*")
    return out


def test_crds_folder_matches_a_fresh_generation_byte_for_byte() -> None:
    for name, text in crdgen.generate().items():
        path = ROOT / "crds" / name
        assert path.is_file(), f"{path} missing: run `modelrollout crds`"
        assert path.read_bytes() == text.encode("utf-8"), (
            f"{path} drifted from the models: run `modelrollout crds`"
        )


def test_generation_is_deterministic() -> None:
    assert crdgen.generate() == crdgen.generate()


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_structural(kind: str) -> None:
    for path, node in _nodes(crdgen.openapi_schema(kind)):
        assert "type" in node, f"{path}: no type"
        assert set(node) <= ALLOWED_KEYS, f"{path}: {set(node) - ALLOWED_KEYS}"
        if "additionalProperties" in node:
            assert "properties" not in node, f"{path}: properties and additionalProperties"
            assert isinstance(node["additionalProperties"], dict), path


@pytest.mark.parametrize("kind", KINDS)
def test_every_rule_compiles_and_is_bounded(kind: str) -> None:
    schema = crdgen.openapi_schema(kind)
    rules = [r["rule"] for _, n in _nodes(schema) for r in n.get("x-kubernetes-validations", [])]
    assert rules, "the API has cross-field rules"
    for rule in rules:
        celrules.compile_rule(rule)
    assert crdgen.unbounded_under_rules(schema) == []


def test_bound_lint_finds_unbounded_strings_and_lists() -> None:
    schema = {
        "type": "object",
        "x-kubernetes-validations": [{"rule": "true", "message": "m"}],
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
            "kind": {"type": "string", "enum": ["a"]},
        },
    }
    assert crdgen.unbounded_under_rules(schema) == [
        ".name: string without maxLength (or enum)",
        ".tags: list without maxItems",
    ]


def test_crd_shape_and_printer_columns() -> None:
    mv, exp, *_ = (yaml.safe_load(crdgen.generate()[r.filename]) for r in crdgen.RESOURCES)
    assert mv["metadata"]["name"] == "modelversions.modelrollout.dev"
    assert exp["metadata"]["name"] == "experiments.modelrollout.dev"
    assert mv["spec"]["names"]["shortNames"] == ["mv"]
    assert exp["spec"]["names"]["shortNames"] == ["mexp"]  # `exp` is Argo Rollouts'
    for crd in (mv, exp):
        assert crd["spec"]["names"]["categories"] == ["modelrollout"]
        (version,) = crd["spec"]["versions"]
        assert version["served"] and version["storage"]
        assert version["subresources"] == {"status": {}}
        schema = version["schema"]["openAPIV3Schema"]
        assert schema["properties"]["metadata"] == {"type": "object"}
        assert "properties" in schema["properties"]["status"], "status has its full schema"
    columns = {c["name"]: c for c in exp["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert list(columns) == [
        "Model", "Baseline", "Candidate", "Strategy", "Phase", "Step", "Weight", "Undo-Until",
        "Age", "Message",
    ]  # fmt: skip
    assert columns["Step"]["jsonPath"] == ".status.currentStep"
    assert columns["Weight"]["jsonPath"] == ".status.weight"
    assert columns["Message"]["priority"] == 1
    assert columns["Undo-Until"]["jsonPath"] == ".status.holdback.endsAt"
    assert columns["Undo-Until"]["priority"] == 1  # -o wide
    mv_columns = mv["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in mv_columns] == [
        "Model", "Version", "Runtime", "Phase", "Accuracy", "Age"
    ]  # fmt: skip
    assert mv_columns[4]["jsonPath"] == ".status.metrics.test.accuracy"


def test_schema_carries_defaults_enums_bounds_and_formats() -> None:
    spec = crdgen.openapi_schema("Experiment")["properties"]["spec"]
    steps = spec["properties"]["strategy"]["properties"]["canary"]["properties"]["steps"]
    weight = steps["items"]["properties"]["weight"]
    assert (weight["type"], weight["minimum"], weight["maximum"]) == ("integer", 0, 100)
    assert steps["maxItems"] == 50
    assert spec["properties"]["strategy"]["properties"]["type"]["enum"] == [
        "canary", "abTest", "shadow"
    ]  # fmt: skip
    # A nested block defaults to its factory's value, minimally: nested defaults fill the rest.
    assert spec["properties"]["strategy"]["default"] == {
        "canary": {"steps": [{"weight": w} for w in (10, 25, 50, 100)]}
    }
    assert spec["properties"]["routing"]["default"] == {}
    alpha = spec["properties"]["analysis"]["properties"]["alpha"]
    assert alpha["exclusiveMinimum"] is True and alpha["minimum"] == 0
    status = crdgen.openapi_schema("Experiment")["properties"]["status"]
    assert status["properties"]["startedAt"] == {"type": "string", "format": "date-time"}
    assert set(spec["required"]) == {"model", "baseline", "candidate"}


def test_crds_pass_kubernetes_schema_validation() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    version = kubernetes_validate.latest_version()
    for text in crdgen.generate().values():
        kubernetes_validate.validate(yaml.safe_load(text), version, strict=True)


def test_unsupported_constructs_are_refused() -> None:
    from pydantic import BaseModel

    class Union(BaseModel):
        value: int | str

    with pytest.raises(crdgen.SchemaError, match="value"):
        crdgen.structural(Union)

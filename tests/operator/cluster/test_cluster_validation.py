"""The API server itself enforces the generated schema and CEL rules on crds/."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.operator.cluster.conftest import CLUSTER_MARKS, GROUP, VERSION

pytestmark = CLUSTER_MARKS


def model_version(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelVersion",
        "metadata": {"name": name},
        "spec": {"model": "scorer", "version": 1,
                 "artifact": {"uri": "s3://models/repo/scorer/1/model.onnx", "format": "onnx",
                              "sha256": "d" * 64},
                 **spec},
    }  # fmt: skip


def ab_test(name: str, min_duration: str, max_duration: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "model": "scorer", "baseline": "scorer-v1", "candidate": "scorer-v2",
            "strategy": {"type": "abTest", "abTest": {"weight": 50, "minDuration": min_duration,
                                                      "maxDuration": max_duration}},
            "analysis": {"interval": "1m", "metrics": [
                {"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.05}]},
        },
    }  # fmt: skip


def rejection(custom: Any, namespace: str, plural: str, body: dict[str, Any]) -> str:
    """Create `body` with strict field validation; the API server's message when it refuses."""
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, body, field_validation="Strict"
        )
    assert refused.value.status == 422, refused.value.body
    return str(json.loads(refused.value.body)["message"])


def test_a_valid_model_version_is_accepted(custom: Any, namespace: str) -> None:
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "modelversions", model_version("scorer-v1"),
        field_validation="Strict",
    )  # fmt: skip
    assert created["spec"]["serving"]["runtime"]  # defaults come from the schema


def test_schema_rejects_a_non_positive_version_naming_the_field(
    custom: Any, namespace: str
) -> None:
    message = rejection(custom, namespace, "modelversions", model_version("bad", version=0))
    assert "spec.version" in message


def test_strict_validation_rejects_an_unknown_field_naming_it(custom: Any, namespace: str) -> None:
    message = rejection(custom, namespace, "modelversions", model_version("typo", replica=2))
    assert "replica" in message and "unknown field" in message


def test_cel_rule_rejects_min_duration_over_max_duration(custom: Any, namespace: str) -> None:
    message = rejection(custom, namespace, "experiments", ab_test("ab", "3h", "2h"))
    assert "spec.strategy.abTest" in message
    assert "abTest.minDuration must not exceed abTest.maxDuration" in message
    # The same spec within its bounds is accepted: the rule, not the shape, refused it.
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "experiments", ab_test("ab", "1h", "2h"),
        field_validation="Strict",
    )  # fmt: skip

"""Durations the operator cannot run are refused by the CRD (CEL) and by the models alike."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from modelrollout_operator import crdgen
from modelrollout_operator.api import validating

ROOT = Path(__file__).resolve().parents[3]
CANARY = yaml.safe_load((ROOT / "examples" / "experiment-canary.yaml").read_text())


def _problems(interval: str, bake: str) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(CANARY)
    doc["spec"]["analysis"]["interval"] = interval
    doc["spec"]["strategy"]["canary"]["steps"][0]["bake"] = bake
    schema = validating.schema_problems(doc, crdgen.openapi_schema("Experiment"))
    model = validating.model_problems(doc, validating.MODELS["Experiment"])
    return [str(p) for p in schema], [str(p) for p in model]


@pytest.mark.parametrize(
    ("interval", "bake"), [("99999999999h", "10m"), ("1m", "99999999999h"), ("721h", "10m")]
)
def test_a_duration_beyond_30_days_is_refused_by_the_crd_and_the_models(
    interval: str, bake: str
) -> None:
    schema, model = _problems(interval, bake)
    assert any("720h" in p or "evaluate" in p for p in schema), schema
    assert any("720h" in p for p in model), model


def test_a_duration_of_30_days_is_accepted() -> None:
    assert _problems("720h", "719h59m") == ([], [])


# --- specs the operator cannot run ----------------------------------------------------------

TRAINED = yaml.safe_load((ROOT / "examples" / "modelversion-trained.yaml").read_text())


def _both(doc: dict, kind: str) -> tuple[list[str], list[str]]:
    schema = validating.schema_problems(doc, crdgen.openapi_schema(kind))
    model = validating.model_problems(doc, validating.MODELS[kind])
    return [str(p) for p in schema], [str(p) for p in model]


def _metric(**fields: object) -> dict:
    doc = copy.deepcopy(CANARY)
    doc["spec"]["analysis"]["metrics"] = [{"name": "m", **fields}]
    return doc


@pytest.mark.parametrize("interval", ["0s", "250ms", "999ms"])
def test_an_interval_below_one_second_is_refused_by_the_crd_and_the_models(interval: str) -> None:
    doc = copy.deepcopy(CANARY)
    doc["spec"]["analysis"]["interval"] = interval
    schema, model = _both(doc, "Experiment")
    assert any("at least 1s" in p for p in schema), schema
    assert any("at least 1s" in p for p in model), model


@pytest.mark.parametrize(
    "metric",
    [
        {"kind": "accuracy", "maxDegradation": 5},
        {"kind": "accuracy", "maxDegradation": 1, "degradation": "relative"},
        {"kind": "errorRate", "maxDegradation": 1.5},
        {"kind": "fallbackRate", "maxDegradation": 1, "degradation": "absolute"},
        {"kind": "custom", "query": "x", "higherIsBetter": True, "maxDegradation": 2,
         "degradation": "relative"},
    ],
)  # fmt: skip
def test_a_degradation_bound_that_can_never_fail_is_refused(metric: dict) -> None:
    schema, model = _both(_metric(**metric), "Experiment")
    assert any("can never fail" in p for p in schema), schema
    assert any("can never fail" in p for p in model), model


@pytest.mark.parametrize(
    "metric",
    [
        {"kind": "accuracy", "maxDegradation": 0.02},
        {"kind": "latency", "maxDegradation": 2, "degradation": "relative"},
        # up to 2x the baseline's error rate: a relative margin on a failure rate can fail
        {"kind": "errorRate", "maxDegradation": 1, "degradation": "relative"},
        {"kind": "fallbackRate", "maxDegradation": 3, "degradation": "relative"},
        {"kind": "custom", "query": 'rate(x{v="{{version}}",m="{{ model }}"}[{{window}}])',
         "max": 1},
    ],
)  # fmt: skip
def test_bounds_that_can_fail_and_known_variables_are_accepted(metric: dict) -> None:
    assert _both(_metric(**metric), "Experiment") == ([], [])


@pytest.mark.parametrize("query", ["x{v='{{bogus}}'}", "{{model}} / {{ Version }}", "{{}}"])
def test_a_custom_query_with_an_unknown_variable_is_refused(query: str) -> None:
    schema, model = _both(_metric(kind="custom", query=query, max=1), "Experiment")
    assert any("the only variables" in p for p in schema), schema
    assert any("the only variables" in p for p in model), model


def _served(uri: str, runtime: str) -> dict:
    doc = copy.deepcopy(TRAINED)
    spec = doc["spec"]
    del spec["training"]
    spec["artifact"] = {"uri": uri, "sha256": "a" * 64}
    spec["serving"] = {"runtime": runtime, "replicas": 1}
    return doc


def test_triton_needs_an_artifact_in_repository_layout() -> None:
    schema, model = _both(_served("s3://models/churn.onnx", "triton"), "ModelVersion")
    assert any("model repository" in p for p in schema), schema
    assert any("model repository" in p for p in model), model
    assert _both(_served("s3://models/repo/churn/3/model.onnx", "triton"), "ModelVersion") == (
        [],
        [],
    )
    assert _both(_served("s3://models/churn.onnx", "onnxruntime"), "ModelVersion") == ([], [])

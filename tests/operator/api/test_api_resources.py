"""Examples pass, and bad resources are refused by BOTH the API server's checks (schema +
CEL) and the operator's models, each with a message that names the field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrollout_operator import crdgen
from modelrollout_operator.api import validating
from tests.support.examples import example_files

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
EXAMPLE_FILES = example_files(EXAMPLES)


def _objects(path: Path) -> list[dict[str, Any]]:
    """Our resources in a file (examples/kind/ also holds built-ins: a Namespace, MinIO's
    objects, checked through the in-pod front by tests/inpod/test_inpod_walkthrough.py)."""
    return [
        d
        for d in yaml.safe_load_all(path.read_text())
        if d is not None and str(d.get("apiVersion", "")).startswith("modelrollout.dev/")
    ]


def _example(name: str) -> dict[str, Any]:
    (obj,) = _objects(EXAMPLES / name)
    return copy.deepcopy(obj)


def test_there_are_examples_of_every_kind_and_strategy() -> None:
    objects = [o for p in EXAMPLE_FILES for o in _objects(p)]
    kinds = {o["kind"] for o in objects}
    strategies = {o["spec"]["strategy"]["type"] for o in objects if o["kind"] == "Experiment"}
    assert kinds == {"ModelVersion", "Experiment", "Model"}
    assert strategies == {"canary", "abTest", "shadow"}
    names = {o["metadata"]["name"] for o in objects}
    assert {"scorer-v1", "scorer-v2", "scorer-v3", "scorer-v2-canary", "scorer-v3-canary"} <= names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_validates(path: Path) -> None:
    for obj in _objects(path):
        kind, problems = validating.identify(obj)
        assert kind is not None and problems == []
        assert validating.schema_problems(obj, crdgen.openapi_schema(kind)) == []
        assert validating.model_problems(obj, validating.MODELS[kind]) == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting a dotted path (`a.b[0].c`); value DELETE removes the key."""

    def mutate(obj: dict[str, Any]) -> None:
        parts = path.replace("[", ".").replace("]", "").split(".")
        node: Any = obj
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        if value is DELETE:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _all(*mutations: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(obj)

    return mutate


DELETE = object()
CANARY = "experiment-canary.yaml"
GATED = "experiment-manual-gate.yaml"
TRAINED = "modelversion-trained.yaml"
PREBUILT = "modelversion-prebuilt.yaml"
_STEPS = "spec.strategy.canary.steps"
_METRIC = "spec.analysis.metrics[0]"

# (id, example, mutation, a word both sides must mention in the problem's path or message)
BAD: list[tuple[str, str, Callable[[dict[str, Any]], None], str]] = [
    ("unknown field", CANARY, _set(f"{_STEPS}[0].weigth", 10), "weigth"),
    ("unknown top-level spec field", TRAINED, _set("spec.replicas", 3), "replicas"),
    ("wrong strategy enum", CANARY, _set("spec.strategy.type", "blueGreen"), "type"),
    ("wrong runtime enum", PREBUILT, _set("spec.serving.runtime", "tensorflow"), "runtime"),
    ("weight 150", CANARY, _set(f"{_STEPS}[3].weight", 150), "weight"),
    ("negative weight", CANARY, _set(f"{_STEPS}[0].weight", -5), "weight"),
    ("weights not rising", CANARY, _set(f"{_STEPS}[1].weight", 60), "steps"),
    ("equal weights", CANARY, _set(f"{_STEPS}[1].weight", 10), "steps"),
    ("baseline == candidate", CANARY, _set("spec.candidate", "churn-v2"), "baseline"),
    ("gate with bake", GATED, _set(f"{_STEPS}[2].bake", "10m"), "bake"),
    ("wrong gate", GATED, _set(f"{_STEPS}[2].gate", "auto"), "gate"),
    (
        "artifact and training",
        TRAINED,
        _set("spec.artifact", _example(PREBUILT)["spec"]["artifact"]),
        "spec.artifact",
    ),
    ("neither artifact nor training", TRAINED, _set("spec.training", DELETE), "spec.training"),
    ("custom metric without query", CANARY, _set(f"{_METRIC}.kind", "custom"), "query"),
    ("query on a built-in metric", CANARY, _set(f"{_METRIC}.query", "up"), "query"),
    ("quantile on accuracy", CANARY, _set(f"{_METRIC}.quantile", 0.9), "quantile"),
    ("quantile of 1", CANARY, _set("spec.analysis.metrics[1].quantile", 1), "quantile"),
    ("metric without bound", CANARY, _set(f"{_METRIC}.maxDegradation", DELETE), "maxDegradation"),
    (
        "min above max",
        CANARY,
        _all(_set(f"{_METRIC}.min", 0.9), _set(f"{_METRIC}.max", 0.5)),
        "min",
    ),
    (
        "duplicate metric names",
        CANARY,
        _set("spec.analysis.metrics[1].name", "accuracy"),
        "metrics",
    ),
    ("bad duration", CANARY, _set("spec.analysis.interval", "5 minutes"), "interval"),
    ("bad bake duration", CANARY, _set(f"{_STEPS}[0].bake", "10 min"), "bake"),
    ("alpha too big", CANARY, _set("spec.analysis.alpha", 0.7), "alpha"),
    ("failureLimit 0", CANARY, _set("spec.analysis.failureLimit", 0), "failureLimit"),
    ("minSamples 0", CANARY, _set(f"{_METRIC}.minSamples", 0), "minSamples"),
    ("bad sha256", PREBUILT, _set("spec.artifact.sha256", "abc123"), "sha256"),
    ("uppercase sha256", PREBUILT, _set("spec.artifact.sha256", "F" * 64), "sha256"),
    ("gpus with onnxruntime", PREBUILT, _set("spec.serving.gpus", 1), "gpus"),
    ("version 0", TRAINED, _set("spec.version", 0), "version"),
    ("model name not DNS-1123", TRAINED, _set("spec.model", "Churn_Model"), "model"),
    ("missing model", CANARY, _set("spec.model", DELETE), "model"),
    (
        "minAccuracy above 1",
        TRAINED,
        _set("spec.training.acceptance.minAccuracy", 1.5),
        "minAccuracy",
    ),
    ("bad memory quantity", TRAINED, _set("spec.training.resources.memory", "lots"), "memory"),
    (
        "abTest without its block",
        "experiment-abtest.yaml",
        _set("spec.strategy.abTest", DELETE),
        "abTest",
    ),
    (
        "abTest weight 100",
        "experiment-abtest.yaml",
        _set("spec.strategy.abTest.weight", 100),
        "weight",
    ),
    (
        "shadow percent 0",
        "experiment-shadow.yaml",
        _set("spec.strategy.shadow.percent", 0),
        "percent",
    ),
    (
        "httpRoute provider without route",
        GATED,
        _set("spec.routing.httpRoute", DELETE),
        "httpRoute",
    ),
    (
        "abTest minDuration after maxDuration",
        "experiment-abtest.yaml",
        _set("spec.strategy.abTest.minDuration", "96h"),
        "minDuration",
    ),
    ("bad sticky header", CANARY, _set("spec.routing.stickyBy", "x user"), "stickyBy"),
    ("stepWeight with steps", CANARY, _set("spec.strategy.canary.stepWeight", 10), "stepWeight"),
    (
        "stepWeight above maxWeight",
        CANARY,
        lambda o: o["spec"]["strategy"].update(canary={"stepWeight": 60, "maxWeight": 50}),
        "stepWeight",
    ),
    ("no noData policy enum", CANARY, _set("spec.analysis.noData.policy", "ignore"), "policy"),
    ("promotion enum", CANARY, _set("spec.promotion.mode", "yolo"), "mode"),
]


def _mentions(problems: list[validating.Problem], word: str) -> bool:
    return any(word in str(p) for p in problems)


@pytest.mark.parametrize(
    ("example", "mutate", "word"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_resource_is_refused_by_schema_and_models(
    example: str, mutate: Callable[[dict[str, Any]], None], word: str
) -> None:
    obj = _example(example)
    mutate(obj)
    kind = obj["kind"]
    by_schema = validating.schema_problems(obj, crdgen.openapi_schema(kind))
    by_models = validating.model_problems(obj, validating.MODELS[kind])
    assert _mentions(by_schema, word), f"schema+CEL: {[str(p) for p in by_schema]}"
    assert _mentions(by_models, word), f"models: {[str(p) for p in by_models]}"


def test_cel_side_catches_what_only_cel_can() -> None:
    """The cross-field rules are reported by CEL (not just by the models)."""
    obj = _example(CANARY)
    obj["spec"]["candidate"] = obj["spec"]["baseline"]
    problems = validating.schema_problems(obj, crdgen.openapi_schema("Experiment"))
    assert [(p.source, p.path) for p in problems] == [("cel", "spec")]
    assert "spec.baseline and spec.candidate must differ" in problems[0].message


def test_unknown_fields_are_reported_with_their_path() -> None:
    obj = _example(TRAINED)
    obj["spec"]["serving"]["gpu"] = 1
    obj["spec"]["training"]["hyperparameters"]["dropout"] = 0.1
    problems = validating.schema_problems(obj, crdgen.openapi_schema("ModelVersion"))
    assert {(p.path, p.message) for p in problems} == {
        ("spec.serving.gpu", "unknown field"),
        ("spec.training.hyperparameters.dropout", "unknown field"),
    }


def test_defaults_apply_before_rules_as_in_the_api_server() -> None:
    # No strategy at all: the API server defaults it (type canary and its steps), so the
    # rule "strategy.type canary needs strategy.canary" holds.
    obj = _example(CANARY)
    del obj["spec"]["strategy"]
    assert validating.schema_problems(obj, crdgen.openapi_schema("Experiment")) == []
    obj["spec"]["strategy"] = {"type": "shadow"}
    problems = validating.schema_problems(obj, crdgen.openapi_schema("Experiment"))
    assert [str(p) for p in problems] == [
        "spec.strategy: strategy.type shadow needs strategy.shadow"
    ]


def test_identify_refuses_foreign_or_nameless_documents() -> None:
    kind, problems = validating.identify({"apiVersion": "modelrollout.dev/v1", "kind": "Widget"})
    assert kind is None
    assert {p.path for p in problems} == {"apiVersion", "kind", "metadata.name"}
    assert validating.identify([1, 2])[1][0].message.startswith("not a mapping")
    assert not validating.is_ours({"apiVersion": "v1", "kind": "ConfigMap"})
    assert validating.is_ours({"apiVersion": "modelrollout.dev/v2", "kind": "X"})


def test_merge_keeps_one_line_per_mistake_but_never_drops_a_model_only_problem() -> None:
    schema_side = [validating.Problem("spec.a", "bad", "schema")]
    model_side = [
        validating.Problem("spec.a", "bad too", "model"),
        validating.Problem("spec.a.b", "nested", "model"),
        validating.Problem("spec.c", "only the model sees this", "model"),
    ]
    merged = validating.merge(schema_side, model_side)
    assert [p.path for p in merged] == ["spec.a", "spec.c"]

"""CEL evaluation as the API server does it: transition rules, the lists library, typing,
and pruning/defaulting before validation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from celpy import celtypes
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator import crdgen
from modelrollout_operator.api import celrules
from modelrollout_operator.api.defaulting import apply_defaults, unknown_fields

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _mv(name: str = "modelversion-trained.yaml") -> dict[str, Any]:
    return dict(yaml.safe_load((EXAMPLES / name).read_text()))


def _rules_broken(new: Any, old: Any = None) -> list[str]:
    # As the API server: rules run on the defaulted objects.
    schema = crdgen.openapi_schema("ModelVersion")
    old = apply_defaults(old, schema) if old is not None else None
    return [v.message for v in celrules.evaluate(apply_defaults(new, schema), schema, old)]


def test_version_is_immutable_on_update() -> None:
    old = _mv()
    new = copy.deepcopy(old)
    new["spec"]["version"] = 4
    assert _rules_broken(new, old) == [
        "spec.model and spec.version are immutable: create a new ModelVersion"
    ]


def test_transition_rules_do_not_run_on_create() -> None:
    assert _rules_broken(_mv()) == []


def test_unchanged_spec_passes_the_transition_rules() -> None:
    assert _rules_broken(_mv(), _mv()) == []


def test_artifact_and_training_are_immutable() -> None:
    old = _mv("modelversion-prebuilt.yaml")
    new = copy.deepcopy(old)
    new["spec"]["artifact"]["sha256"] = "0" * 64
    assert _rules_broken(new, old) == ["spec.artifact is immutable: create a new ModelVersion"]
    old, new = _mv(), _mv()
    new["spec"]["training"]["hyperparameters"]["epochs"] = 1
    assert _rules_broken(new, old) == ["spec.training is immutable: create a new ModelVersion"]


def test_serving_may_change_on_update() -> None:
    old, new = _mv(), _mv()
    new["spec"]["serving"]["replicas"] = 5
    assert _rules_broken(new, old) == []


def test_is_transition_rule() -> None:
    assert celrules.is_transition_rule("self.a == oldSelf.a")
    assert not celrules.is_transition_rule("self.oldSelfish == 1")


def _ints(values: list[int]) -> celtypes.ListType:
    return celtypes.ListType([celtypes.IntType(v) for v in values])


def _run(rule: str, value: Any) -> Any:
    return celrules.compile_rule(rule).evaluate({"self": value})


@given(st.lists(st.integers(-1000, 1000), max_size=20))
def test_lists_library_matches_python(values: list[int]) -> None:
    lst = _ints(values)
    assert bool(_run("self.isSorted()", lst)) == (values == sorted(values))
    assert int(_run("self.sum()", lst)) == sum(values)
    if values:
        assert int(_run("self.min()", lst)) == min(values)
        assert int(_run("self.max()", lst)) == max(values)
        first = values[0]
        assert int(_run(f"self.indexOf({first})", lst)) == values.index(first)
        last = len(values) - 1 - values[::-1].index(first)
        assert int(_run(f"self.lastIndexOf({first})", lst)) == last
    assert int(_run("self.indexOf(5000)", lst)) == -1


def test_min_of_an_empty_list_is_an_evaluation_error() -> None:
    schema = {
        "type": "object",
        "properties": {"xs": {"type": "array", "items": {"type": "integer"}}},
        "x-kubernetes-validations": [{"rule": "self.xs.min() > 0", "message": "m"}],
    }
    (violation,) = celrules.evaluate({"xs": []}, schema)
    assert violation.evaluation_error and "empty" in violation.message


def test_numbers_are_doubles_even_when_written_as_integers() -> None:
    # `min: 0` and `max: 0.5` compare in CEL only if both are doubles, as Kubernetes makes them.
    schema = crdgen.openapi_schema("Experiment")["properties"]["spec"]["properties"]["analysis"]
    metric = {"name": "acc", "kind": "accuracy", "min": 0, "max": 0.5}
    assert celrules.evaluate({"metrics": [metric]}, schema) == []
    metric["min"] = 1
    assert [v.message for v in celrules.evaluate({"metrics": [metric]}, schema)] == [
        "min must not exceed max"
    ]


def test_a_rule_that_does_not_compile_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="does not compile"):
        celrules.compile_rule("self.(")


def test_defaults_fill_nested_blocks_top_down_and_prune_nulls() -> None:
    schema = crdgen.openapi_schema("Experiment")
    obj = {"spec": {"model": "m", "baseline": "a", "candidate": "b", "paused": None}}
    spec = apply_defaults(obj, schema)["spec"]
    assert spec["paused"] is False
    assert spec["strategy"]["type"] == "canary"
    assert [s["weight"] for s in spec["strategy"]["canary"]["steps"]] == [10, 25, 50, 100]
    assert spec["strategy"]["canary"]["stepBake"] == "1m"
    assert spec["routing"] == {
        "provider": "gateway",
        "correctness": {"kind": "binary", "output": "score", "threshold": 0.5, "tolerance": 0.0},
    }
    assert obj["spec"]["paused"] is None, "the input is not mutated"


def test_unknown_fields_skip_free_form_metadata() -> None:
    schema = crdgen.openapi_schema("ModelVersion")
    obj = {"metadata": {"name": "x", "whatever": 1}, "spec": {"model": "m", "bogus": 1}}
    assert unknown_fields(obj, schema) == ["spec.bogus"]

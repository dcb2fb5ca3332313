"""Properties tying the generated schema to the models.

1. Whatever the models accept, re-serialised (`to_wire`), passes the schema and CEL rules:
   the operator never writes an object the API server would refuse.
2. Whatever passes the schema and CEL rules, as the API server stores it (pruned and
   defaulted), the models accept: the operator can read every object the cluster admits.

Objects are drawn from valid shapes with values around and beyond each bound, so both
accepted and refused objects are exercised.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelrollout_operator import crdgen
from modelrollout_operator.api import celrules, validating
from modelrollout_operator.api.defaulting import apply_defaults
from modelrollout_operator.api.v1alpha1 import Experiment, ModelVersion

# Mostly valid values, with a share of invalid ones: both outcomes are drawn often.
DURATIONS = st.sampled_from(
    ["30s", "5m", "1h30m", "250ms", "1.5h", "0s", "2m", "10s"] * 3 + ["5 minutes", "", "m"]
)
NAMES = st.sampled_from(
    ["scorer-v1", "scorer-v2", "scorer-v3", "a", "b1", "b2", "b3"] * 8 + ["Bad_Name", "x" * 64]
)


def _maybe(draw: st.DrawFn, strategy: st.SearchStrategy[Any], p: float = 0.5) -> Any:
    return draw(strategy) if draw(st.floats(0, 1)) < p else _ABSENT


_ABSENT = object()


def _pick(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not _ABSENT}


@st.composite
def steps(draw: st.DrawFn) -> list[dict[str, Any]]:
    weights = draw(
        st.lists(st.sampled_from([*range(0, 101, 5)] * 5 + [-5, 110]), min_size=1, max_size=6)
    )
    if draw(st.floats(0, 1)) < 0.8:
        weights = sorted(set(weights))
    return [
        _pick(
            weight=w,
            bake=_maybe(draw, DURATIONS, 0.4),
            gate=_maybe(draw, st.sampled_from(["manual"] * 4 + ["auto"]), 0.15),
        )
        for w in weights
    ]


@st.composite
def canary(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return _pick(steps=draw(steps()), stepWeight=_maybe(draw, st.integers(1, 50), 0.05))
    return _pick(
        stepWeight=draw(st.sampled_from([5, 10, 20, 25, 50] * 3 + [0, 60])),
        maxWeight=_maybe(draw, st.sampled_from([50, 60, 80, 100] * 3 + [1, 101]), 0.9),
        stepBake=_maybe(draw, DURATIONS),
    )


@st.composite
def strategy(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["canary", "abTest", "shadow"]))
    blocks = {
        "canary": lambda: draw(canary()),
        "abTest": lambda: _pick(
            weight=_maybe(draw, st.integers(0, 100)),
            minDuration=_maybe(draw, DURATIONS),
            maxDuration=_maybe(draw, DURATIONS),
        ),
        "shadow": lambda: _pick(
            percent=_maybe(draw, st.integers(0, 101)), duration=_maybe(draw, DURATIONS)
        ),
    }
    out: dict[str, Any] = {"type": kind}
    for name in draw(st.sets(st.sampled_from(sorted(blocks)), max_size=2)) | (
        {kind} if draw(st.floats(0, 1)) < 0.9 else set()
    ):
        out[name] = blocks[name]()
    return out


BOUND = st.floats(-1, 2, allow_nan=False).map(lambda x: round(x, 3))
UNIT = st.floats(0, 1).map(lambda x: round(x, 3)) | st.sampled_from([-0.1, 1.5])


@st.composite
def metric(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["accuracy", "errorRate", "latency", "custom"] * 3 + ["speed"]))
    return _pick(
        name=draw(
            st.sampled_from(["accuracy", "latency-p99", "errors", "e2", "e3"] * 2 + ["9bad"])
        ),
        kind=kind,
        quantile=_maybe(
            draw, st.sampled_from([0.5, 0.99, 0, 1]), 0.3 if kind == "latency" else 0.05
        ),
        query=_maybe(
            draw, st.sampled_from(["sum(up)"] * 6 + [""]), 0.9 if kind == "custom" else 0.1
        ),
        higherIsBetter=_maybe(draw, st.booleans(), 0.2),
        min=_maybe(draw, BOUND, 0.2),
        max=_maybe(draw, BOUND, 0.3),
        maxDegradation=_maybe(draw, BOUND.map(abs), 0.8),
        degradation=_maybe(draw, st.sampled_from(["absolute", "relative", "other"]), 0.3),
        minSamples=_maybe(draw, st.integers(-1, 1000), 0.3),
        window=_maybe(draw, DURATIONS, 0.3),
    )


@st.composite
def experiment(draw: st.DrawFn) -> dict[str, Any]:
    spec = _pick(
        model=draw(NAMES),
        baseline=draw(NAMES),
        candidate=draw(NAMES),
        strategy=_maybe(draw, strategy(), 0.9),
        routing=_maybe(
            draw,
            st.fixed_dictionaries(
                {},
                optional={
                    "provider": st.sampled_from(["gateway"] * 4 + ["httpRoute"] * 2 + ["istio"]),
                    "stickyBy": st.sampled_from(["x-user-id", "X-Session"] * 3 + ["x user", ""]),
                    "httpRoute": st.fixed_dictionaries({"name": NAMES}),
                    "correctness": st.fixed_dictionaries(
                        {},
                        optional={"kind": st.sampled_from(["binary", "regression"] * 3 + ["z"])},
                    ),
                },
            ),
        ),
        analysis=_maybe(
            draw,
            st.fixed_dictionaries(
                {},
                optional={
                    "interval": DURATIONS,
                    "metrics": st.lists(
                        metric(), min_size=1, max_size=3, unique_by=lambda m: m["name"]
                    )
                    | st.lists(metric(), max_size=2),
                    "failureLimit": st.sampled_from([1, 2, 3, 100] * 3 + [0, 101]),
                    "alpha": st.sampled_from([0.01, 0.05, 0.1, 0.49] * 4 + [0.0, 0.5, 0.7]),
                    "noData": st.fixed_dictionaries(
                        {},
                        optional={"policy": st.sampled_from(["hold", "rollback"] * 3 + ["pass"])},
                    ),
                },
            ),
        ),
        promotion=_maybe(
            draw,
            st.fixed_dictionaries({"mode": st.sampled_from(["manual", "automatic"] * 6 + ["x"])}),
        ),
        paused=_maybe(draw, st.booleans(), 0.2),
    )
    return {"apiVersion": "modelrollout.dev/v1alpha1", "kind": "Experiment", "spec": spec}


SHA = st.sampled_from(["a" * 64, "0123456789abcdef" * 4] * 4 + ["A" * 64, "abc"])


@st.composite
def modelversion(draw: st.DrawFn) -> dict[str, Any]:
    artifact = _pick(uri=draw(st.sampled_from(["s3://b/k.onnx"] * 6 + [""])), sha256=draw(SHA))
    training = _pick(
        image="trainer:1",
        dataset=draw(st.sampled_from(["data.csv"] * 6 + [""])),
        output="s3://b/repo",
        task=_maybe(draw, st.sampled_from(["binary", "multiclass"] * 3 + ["ranking"]), 0.3),
        deadline=_maybe(draw, DURATIONS, 0.3),
        retries=_maybe(draw, st.sampled_from([*range(0, 11), -1, 11]), 0.3),
        resources=_maybe(
            draw,
            st.fixed_dictionaries(
                {},
                optional={
                    "gpus": st.sampled_from([0, 1, 2, 16] * 3 + [-1, 17]),
                    "memory": st.sampled_from(["2Gi", "500m", "1.5G"] * 3 + ["lots"]),
                },
            ),
            0.3,
        ),
        acceptance=_maybe(
            draw,
            st.fixed_dictionaries({}, optional={"minAccuracy": UNIT, "minRocAuc": UNIT}),
        ),
        hyperparameters=_maybe(
            draw,
            st.fixed_dictionaries(
                {},
                optional={
                    "hidden": st.lists(st.integers(1, 512), min_size=1, max_size=8) | st.just([]),
                    "learningRate": st.sampled_from([1e-3, 0.1, 1, 10] * 2 + [0, 11]),
                },
            ),
            0.3,
        ),
    )
    which = draw(st.sampled_from(["artifact", "training"] * 4 + ["both", "neither"]))
    spec = _pick(
        model=draw(NAMES),
        version=draw(st.sampled_from([1, 2, 3, 2_147_483_647] * 3 + [0, -1, 2_147_483_648])),
        artifact=artifact if which in ("artifact", "both") else _ABSENT,
        training=training if which in ("training", "both") else _ABSENT,
        serving=_maybe(
            draw,
            st.fixed_dictionaries(
                {},
                optional={
                    "runtime": st.sampled_from(["triton", "onnxruntime"] * 4 + ["tf"]),
                    "gpus": st.sampled_from([0] * 6 + [1, 2, -1]),
                    "replicas": st.sampled_from([0, 1, 2, 3] * 2 + [-1, 101]),
                },
            ),
        ),
    )
    status = _maybe(
        draw,
        st.fixed_dictionaries(
            {},
            optional={
                "phase": st.sampled_from(["Ready", "Training"] * 3 + ["Done"]),
                "metrics": st.fixed_dictionaries(
                    {"test": st.dictionaries(st.just("accuracy"), BOUND)}
                ),
                "conditions": st.lists(
                    st.fixed_dictionaries(
                        {
                            "type": st.just("Ready"),
                            "status": st.sampled_from(["True", "False"] * 3 + ["Maybe"]),
                            "lastTransitionTime": st.just(
                                datetime(2026, 11, 25, 3, 20, tzinfo=UTC).isoformat()
                            ),
                        }
                    ),
                    max_size=2,
                ),
            },
        ),
        0.3,
    )
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "ModelVersion",
        **({"status": status} if status is not _ABSENT else {}),
        "spec": spec,
    }


def _check_both_ways(obj: dict[str, Any], model: type[Experiment] | type[ModelVersion]) -> bool:
    schema = crdgen.openapi_schema(obj["kind"])
    accepted = validating.model_problems(obj, model) == []
    if accepted:
        wire = model.model_validate(obj).to_wire()
        assert validating.schema_problems(wire, schema) == [], wire
    admitted = validating.schema_problems(obj, schema) == []
    if admitted:
        stored = apply_defaults(obj, schema)
        assert validating.model_problems(stored, model) == [], stored
    return accepted


# Compile every rule now: celpy raises the recursion limit on first use, which hypothesis
# would warn about inside a test.
def _compile_all(node: dict[str, Any]) -> None:
    for rule in node.get("x-kubernetes-validations", []):
        celrules.compile_rule(rule["rule"])
    for sub in [*node.get("properties", {}).values(), node.get("items")]:
        if isinstance(sub, dict):
            _compile_all(sub)


for _kind in ("ModelVersion", "Experiment"):
    _compile_all(crdgen.openapi_schema(_kind))

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(experiment())
def test_experiment_models_and_schema_agree(obj: dict[str, Any]) -> None:
    _check_both_ways(obj, Experiment)


@_SETTINGS
@given(modelversion())
def test_modelversion_models_and_schema_agree(obj: dict[str, Any]) -> None:
    _check_both_ways(obj, ModelVersion)


def test_the_generators_reach_both_outcomes() -> None:
    # Guard against a vacuous property: both accepted and refused objects are drawn.
    seen: set[tuple[str, bool]] = set()

    @settings(max_examples=200, deadline=None, database=None)
    @given(experiment(), modelversion())
    def collect(exp: dict[str, Any], mv: dict[str, Any]) -> None:
        seen.add(("exp", validating.model_problems(exp, Experiment) == []))
        seen.add(("mv", validating.model_problems(mv, ModelVersion) == []))

    collect()
    assert seen == {("exp", True), ("exp", False), ("mv", True), ("mv", False)}

"""Contract 2: every routing table the operator builds is one the gateway accepts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modelrollout_inference.routing.table import RoutingTable
from modelrollout_operator.api.v1alpha1 import Correctness, CorrectnessKind
from modelrollout_operator.rollout.model import SetTraffic
from modelrollout_operator.routing.base import VersionRef
from modelrollout_operator.routing.table import build_routing_table

SHA = "ab" * 32

refs = st.builds(
    VersionRef,
    name=st.sampled_from(["scorer-v1", "scorer-v2"]),
    version=st.just("1"),
    ready=st.just(True),
    endpoint=st.one_of(st.none(), st.just("http://scorer-1.models.svc:8000")),
    artifact_uri=st.one_of(st.none(), st.just("s3://models/repo/scorer/1/model.onnx")),
    sha256=st.one_of(st.none(), st.just(SHA)),
)
traffic = st.builds(
    SetTraffic,
    candidate_weight=st.integers(0, 100),
    shadow_percent=st.integers(0, 100),
    promoted=st.booleans(),
)
correctness = st.builds(
    Correctness,
    kind=st.sampled_from(list(CorrectnessKind)),
    threshold=st.floats(0, 1),
    tolerance=st.floats(0, 10),
)


@given(
    baseline=refs,
    candidate=refs,
    traffic=traffic,
    generation=st.integers(0, 2**40),
    sticky=st.one_of(st.none(), st.just("x-user-id")),
    correct=correctness,
    allow_non_finite=st.booleans(),
)
def test_operator_tables_validate_against_the_gateway_model(
    baseline: VersionRef,
    candidate: VersionRef,
    traffic: SetTraffic,
    generation: int,
    sticky: str | None,
    correct: Correctness,
    allow_non_finite: bool,
) -> None:
    candidate = VersionRef(**{**candidate.__dict__, "version": "2"})
    wire = build_routing_table(
        model="scorer",
        baseline=baseline,
        candidate=candidate,
        traffic=traffic,
        generation=generation,
        sticky_by=sticky,
        correctness=correct,
        allow_non_finite_inputs=allow_non_finite,
    )
    table = RoutingTable.model_validate(wire)
    weights = {v.version: v.weight for v in table.versions}
    if traffic.promoted:
        assert table.baseline.version == "2" and weights == {"2": 100}
    else:
        assert table.baseline.version == "1"
        assert weights.get("2", 0) == traffic.candidate_weight
        assert (table.shadow is not None) == (traffic.shadow_percent > 0)
    assert table.generation == generation
    assert table.sticky_by == sticky
    assert table.allow_non_finite_inputs == allow_non_finite

"""The routing table builder against the gateway's own RoutingTable model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_inference.routing.table import RoutingTable
from modelrollout_operator.rollout.model import SetTraffic
from modelrollout_operator.routing import VersionRef, build_routing_table

SHA = "c" * 64
BASE = VersionRef(name="v1", version="1", ready=True, endpoint="http://v1.ml.svc:8000")
CAND = VersionRef(name="v2", version="2", ready=True, artifact_uri="s3://m/scorer/2/model.onnx",
                  sha256=SHA)  # fmt: skip


@given(
    weight=st.integers(0, 100),
    shadow=st.integers(0, 100),
    promoted=st.booleans(),
    generation=st.integers(0, 10**9),
)
def test_every_table_is_valid_for_the_gateway(
    weight: int, shadow: int, promoted: bool, generation: int
) -> None:
    traffic = SetTraffic(candidate_weight=weight, shadow_percent=shadow, promoted=promoted)
    table = build_routing_table(
        model="scorer", baseline=BASE, candidate=CAND, traffic=traffic, generation=generation,
        sticky_by="x-user-id",
    )  # fmt: skip
    parsed = RoutingTable.model_validate(table)
    assert parsed.generation == generation
    if promoted:
        assert parsed.baseline.version == "2" and parsed.baseline.weight == 100
        assert [v.version for v in parsed.versions] == ["2"]
    else:
        assert parsed.baseline.version == "1"
        assert parsed.baseline.weight == 100 - weight
        cand = parsed.version("2")
        assert (cand.weight if cand else 0) == weight


def test_backends_follow_how_each_version_is_served() -> None:
    table = build_routing_table(
        model="scorer", baseline=BASE, candidate=CAND,
        traffic=SetTraffic(candidate_weight=10), generation=1,
    )  # fmt: skip
    base, cand = table["versions"]
    assert base["backend"] == {"kind": "triton", "url": "http://v1.ml.svc:8000",
                               "modelName": "scorer", "modelVersion": "1"}  # fmt: skip
    assert cand["backend"] == {"kind": "onnxruntime", "uri": CAND.artifact_uri, "sha256": SHA}


def test_a_rolled_back_candidate_leaves_the_table() -> None:
    table = build_routing_table(
        model="scorer", baseline=BASE, candidate=CAND,
        traffic=SetTraffic(candidate_weight=0), generation=4,
    )  # fmt: skip
    assert [(v["version"], v["weight"]) for v in table["versions"]] == [("1", 100)]
    assert table["shadow"] is None


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.100"):
        build_routing_table(model="m", baseline=BASE, candidate=CAND,
                            traffic=SetTraffic(candidate_weight=101), generation=0)  # fmt: skip
    with pytest.raises(ValueError, match="same version"):
        build_routing_table(model="m", baseline=BASE, candidate=BASE,
                            traffic=SetTraffic(candidate_weight=1), generation=0)  # fmt: skip

"""The routing-table contract: the documented JSON parses; bad tables fail with clear errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modelrollout_inference.routing.sources import (
    TableSourceError,
    is_routing_configmap,
    parse_tables,
    table_of_configmap,
)
from modelrollout_inference.routing.table import RoutingTable, TritonBackend

CONTRACT_EXAMPLE = """{
  "model": "scorer",
  "versions": [
    {"version": "1", "weight": 90, "role": "baseline",
     "backend": {"kind": "onnxruntime"}},
    {"version": "2", "weight": 10, "role": "candidate",
     "backend": {"kind": "triton", "url": "http://scorer-2.models.svc:8000",
                 "modelName": "scorer", "modelVersion": "2"}}
  ],
  "stickyBy": "x-user-id",
  "shadow": null,
  "correctness": {"kind": "binary", "output": "score", "threshold": 0.5},
  "timeoutSeconds": 1.0,
  "generation": 7
}"""


def test_the_contract_example_parses_and_round_trips() -> None:
    table = RoutingTable.model_validate_json(CONTRACT_EXAMPLE)
    assert table.baseline.version == "1" and table.generation == 7
    candidate = table.versions[1].backend
    assert isinstance(candidate, TritonBackend) and candidate.model_version == "2"
    assert RoutingTable.model_validate_json(table.to_json()) == table
    assert '"stickyBy":"x-user-id"' in table.to_json()
    assert '"modelName":"scorer"' in table.to_json()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"versions": []}, "at least 1 item"),
        ({"stickyBy": 3}, "string"),
        ({"shadow": {"version": "9", "percent": 10}}, "shadow version '9' is not among"),
        ({"shadow": {"version": "2", "percent": 120}}, "less than or equal to 100"),
        ({"timeoutSeconds": 0}, "greater than 0"),
        ({"correctness": {"kind": "fuzzy"}}, "does not match any of the expected tags"),
        ({"correctness": {"kind": "regression"}}, "tolerance"),
        ({"weights": 3}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_tables(change: dict[str, object], message: str) -> None:
    import orjson

    document = {**orjson.loads(CONTRACT_EXAMPLE), **change}
    with pytest.raises(ValidationError, match=message):
        RoutingTable.model_validate(document)


def test_duplicate_versions_and_uri_without_hash() -> None:
    with pytest.raises(ValidationError, match="listed more than once: 1"):
        RoutingTable.model_validate(
            {
                "model": "m",
                "versions": [
                    {"version": "1", "weight": 50, "role": "baseline"},
                    {"version": "1", "weight": 50, "role": "candidate"},
                ],
            }
        )
    with pytest.raises(ValidationError, match="needs its 'sha256'"):
        RoutingTable.model_validate(
            {
                "model": "m",
                "versions": [
                    {
                        "version": "1",
                        "weight": 100,
                        "role": "baseline",
                        "backend": {"kind": "onnxruntime", "uri": "s3://b/k"},
                    }
                ],
            }
        )


def test_configmap_sources() -> None:
    configmap = {
        "metadata": {"name": "exp", "labels": {"modelrollout.dev/routing": "true"}},
        "data": {"routing.json": CONTRACT_EXAMPLE},
    }
    assert is_routing_configmap(configmap)
    assert table_of_configmap(configmap).model == "scorer"
    assert not is_routing_configmap({"metadata": {"labels": {}}})
    with pytest.raises(TableSourceError, match=r"no 'routing\.json' key"):
        table_of_configmap({"metadata": {"name": "exp"}, "data": {}})
    with pytest.raises(TableSourceError, match="malformed"):
        parse_tables("{")
    with pytest.raises(TableSourceError, match="same model twice"):
        parse_tables(f"[{CONTRACT_EXAMPLE}, {CONTRACT_EXAMPLE}]")

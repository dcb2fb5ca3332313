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

"""The Model resource: CRD shape, printer columns, short name, and what it refuses."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrollout_operator import crdgen
from modelrollout_operator.api import validating
from modelrollout_operator.api.v1alpha1 import Model

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "model.yaml"
# Short names of the kinds users of this project also run (Argo Rollouts, KServe, Seldon).
TAKEN = {"ro", "exp", "ar", "at", "cat", "isvc", "inferenceservice", "sdep", "mlm", "tm"}


def _example() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))


def test_model_crd_has_its_printer_columns_and_a_free_short_name() -> None:
    resource = crdgen.resource_for("Model")
    crd = yaml.safe_load(crdgen.generate()[resource.filename])
    names = crd["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"]) == ("Model", "models", ["mdl"])
    assert names["categories"] == ["modelrollout"]
    assert not set(names["shortNames"]) & TAKEN
    (version,) = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["In-Service"] == ".status.inServiceVersion"
    assert columns["Phase"] == ".status.phase"
    assert columns["Last-Trigger"] == ".status.lastTrigger.reason"
    assert columns["Age"] == ".metadata.creationTimestamp"


def test_example_model_parses_with_its_template_and_triggers() -> None:
    model = Model.model_validate(_example())
    assert model.spec.triggers.new_labelled_rows == 50000
    assert model.spec.data.prediction_log is not None
    assert model.spec.data.prediction_log.window == "720h"
    assert model.spec.version_template.training.image is None  # the chart's trainer image
    assert model.spec.history_limit == 5


@pytest.mark.parametrize(
    ("mutate", "word"),
    [
        (lambda o: o["spec"]["data"].pop("base") and o["spec"]["data"].pop("predictionLog"),
         "base dataset"),
        (lambda o: o["spec"]["data"]["predictionLog"].update(uri="/var/log"), "uri"),
        (lambda o: o["spec"]["triggers"].update(schedule="every monday"), "schedule"),
        (lambda o: o["spec"].update(historyLimit=1), "historyLimit"),
        (lambda o: o["spec"]["triggers"].update(minInterval="999h"), "minInterval"),
    ],
)  # fmt: skip
def test_bad_model_is_refused_by_schema_and_model(mutate: Any, word: str) -> None:
    obj = _example()
    mutate(obj)
    schema = validating.schema_problems(obj, crdgen.openapi_schema("Model"))
    models = validating.model_problems(obj, Model)
    assert schema, "the API server's schema (or CEL) refuses it"
    assert models, "the operator's model refuses it"
    assert any(word.lower() in (p.path + p.message).lower() for p in schema + models)


def test_a_cron_the_schemas_pattern_lets_through_is_refused_by_the_model() -> None:
    """CEL cannot parse cron: the five-field shape is the schema's, the values the model's
    (`modelrollout validate` and the operator, which then reports the Model's spec invalid)."""
    obj = _example()
    obj["spec"]["triggers"]["schedule"] = "61 3 * * 1"
    assert validating.schema_problems(obj, crdgen.openapi_schema("Model")) == []
    (problem,) = validating.model_problems(obj, Model)
    assert "minute" in problem.message and "schedule" in problem.path

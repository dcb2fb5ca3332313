"""The continuous-learning loop as the chart runs the operator: a Model's pass, through the API
front with the chart's RBAC and admission, reads the Model, lists its versions and Experiments,
writes its status, creates its first ModelVersion (whose training Job builds the dataset first)
and posts its Events, with no request refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.support.inpod.chart import RenderedChart
from tests.support.inpod.harness import Harness
from tests.support.kubernetes import objects_of

from .conftest import USER_NAMESPACE, eventually
from .test_inpod_front import GROUP
from .test_inpod_operator import _operator_started

MakeHarness = Callable[..., Awaitable[Harness]]
Rendered = Callable[[str], RenderedChart]

pytestmark = pytest.mark.usefixtures("pods_allowed")


def model() -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "scorer", "namespace": USER_NAMESPACE},
        "spec": {
            "versionTemplate": {"training": {"output": "s3://models/repo",
                                             "acceptance": {"minAccuracy": 0.8}}},
            "data": {"base": "s3://data/base.csv",
                     "predictionLog": {"uri": "s3://logs/gw", "minLabelledRows": 10},
                     "output": "s3://data/built"},
            "triggers": {"newLabelledRows": 100},
        },
    }  # fmt: skip


@pytest.mark.parametrize("scope", ["cluster", "namespace"])
async def test_model_loop_creates_its_first_version_under_the_chart_rbac(
    make_harness: MakeHarness, rendered: Rendered, scope: str
) -> None:
    harness = await make_harness(rendered(scope))
    await _operator_started(harness)
    async with harness.session() as http:
        resp = await http.post(f"{GROUP}/namespaces/{USER_NAMESPACE}/models", json=model())
        assert resp.status in (200, 201), await resp.text()

    def trained() -> bool:
        jobs = [b for ns, n, b in objects_of(harness.emulator, "jobs")
                if ns == USER_NAMESPACE and n == "scorer-v1-train"]  # fmt: skip
        return bool(jobs) or bool(harness.refusals())

    await eventually(trained, 60, "the Model's first version and its Job", harness.describe)
    harness.assert_no_refusals("during the Model's passes")
    (job,) = [b for ns, n, b in objects_of(harness.emulator, "jobs") if n == "scorer-v1-train"]
    (step,) = job["spec"]["template"]["spec"]["initContainers"]
    assert step["name"] == "dataset" and step["args"][0] == "build-dataset"
    operator = harness.chart.service_account("operator")
    expected = {("create", "modelversions"), ("list", "modelversions"), ("list", "experiments"),
                ("patch", "models/status"), ("create", "events")}  # fmt: skip

    def done() -> set[tuple[str, str]]:
        return {(r.verb, r.resource) for r in harness.records_of(operator) if r.code < 300}

    # The Job comes from the ModelVersion's own pass, which can run before the Model's pass
    # has posted its Events (they come last in it): wait for the whole Model pass on record.
    await eventually(
        lambda: expected <= done(), 30, f"the Model pass's requests {sorted(expected)}",
        lambda: f"done: {sorted(done())}\n{harness.describe()}",
    )  # fmt: skip


async def test_without_create_on_modelversions_the_models_pass_is_refused_naming_it(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster").without_verb("operator", "modelversions",
                                                                  "create"))  # fmt: skip
    await _operator_started(harness)
    async with harness.session() as http:
        resp = await http.post(f"{GROUP}/namespaces/{USER_NAMESPACE}/models", json=model())
        assert resp.status in (200, 201), await resp.text()
    operator = harness.chart.service_account("operator")
    await eventually(lambda: bool(harness.refusals(operator)), 60, "a refusal", harness.describe)
    assert any(
        r.code == 403 and 'cannot create resource "modelversions" in API group "modelrollout.dev"'
        in r.message for r in harness.refusals(operator)
    ), harness.refusals(operator)  # fmt: skip

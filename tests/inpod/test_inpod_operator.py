"""The operator and the gateway as the chart runs them, behind the API front, as pods.

Each starts from the rendered Deployment's command, args and env, with its ServiceAccount's
token, ca.crt and namespace at /var/run/secrets/kubernetes.io/serviceaccount, and talks to the
front over TLS with the chart's RBAC enforced and admission on. A test fails naming every
request the front refused (a 401 for a token it could not read, a 403 naming the verb and
resource, a PodSecurity refusal naming the field).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from tests.support.inpod.chart import RenderedChart
from tests.support.inpod.harness import Harness
from tests.support.kubernetes import objects_of

from .conftest import USER_NAMESPACE, eventually
from .test_inpod_front import GROUP, model_version

MakeHarness = Callable[..., Awaitable[Harness]]
Rendered = Callable[[str], RenderedChart]

pytestmark = pytest.mark.usefixtures("pods_allowed")


async def _ready(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


async def _operator_started(harness: Harness) -> str:
    """Launch the chart's operator; its /readyz URL once it answers 200."""
    pod = harness.launch("operator")
    port = next(
        p["containerPort"]
        for p in harness.chart.deployment("operator")["spec"]["template"]["spec"]["containers"][0]["ports"]
        if p["name"] == "http"
    )  # fmt: skip
    url = f"http://{pod.pod_ip}:{port}/readyz"
    await eventually(lambda: _ready(url), 60, "the operator's /readyz", harness.describe)
    return url


async def _version_pass(harness: Harness, name: str) -> None:
    """A user creates a ModelVersion; the operator's pass creates its serving Deployment."""
    async with harness.session() as http:
        resp = await http.post(
            f"{GROUP}/namespaces/{USER_NAMESPACE}/modelversions", json=model_version(name)
        )
        assert resp.status in (200, 201), await resp.text()

    def serving_created() -> bool:
        return any(ns == USER_NAMESPACE for ns, _, _ in objects_of(harness.emulator, "deployments"))

    def refused() -> bool:
        return bool(harness.refusals())

    await eventually(
        lambda: serving_created() or refused(),
        60,
        f"the operator's pass over ModelVersion {name} (a serving Deployment, or a refusal)",
        harness.describe,
    )


@pytest.mark.parametrize("scope", ["cluster", "namespace"])
async def test_operator_from_the_chart_watches_through_the_front_and_is_ready(
    make_harness: MakeHarness, rendered: Rendered, scope: str
) -> None:
    harness = await make_harness(rendered(scope))
    await _operator_started(harness)
    operator = harness.chart.service_account("operator")

    def watching() -> bool:
        records = harness.records_of(operator)
        watched = {r.resource for r in records if r.verb == "watch" and r.code == 200}
        return {"modelversions", "experiments"} <= watched

    await eventually(watching, 30, "the operator's watches", harness.describe)
    harness.assert_no_refusals("while the operator started")


@pytest.mark.parametrize("scope", ["cluster", "namespace"])
async def test_operator_pass_reads_and_writes_with_its_own_pod_credentials(
    make_harness: MakeHarness, rendered: Rendered, scope: str
) -> None:
    """The operator's own client (not only kopf's) authenticates with the pod's token."""
    harness = await make_harness(rendered(scope))
    await _operator_started(harness)
    await _version_pass(harness, "v1")
    harness.assert_no_refusals("during a ModelVersion pass")
    operator = harness.chart.service_account("operator")

    def created_deployment() -> bool:
        # The front records a request once the emulator's answer is back: the Deployment can
        # be seen in the emulator a moment before its create is on record.
        created = [r for r in harness.records_of(operator) if r.verb == "create" and r.code < 300]
        return any(r.resource == "deployments" for r in created)

    await eventually(
        created_deployment, 30, "the operator's own create of the Deployment", harness.describe
    )


async def test_removing_a_verb_from_the_chart_rbac_fails_the_pass_naming_it(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    chart = rendered("cluster").without_verb("operator", "deployments", "create")
    harness = await make_harness(chart)
    await _operator_started(harness)
    await _version_pass(harness, "v1")
    with pytest.raises(
        AssertionError, match='cannot create resource "deployments" in API group "apps"'
    ):
        harness.assert_no_refusals("during a ModelVersion pass")
    operator = harness.chart.service_account("operator")
    refused = harness.refusals(operator)
    assert any(
        r.code == 403
        and f'cannot create resource "deployments" in API group "apps" in the namespace "{USER_NAMESPACE}"'
        in r.message
        for r in refused
    ), refused


async def test_gateway_from_the_chart_watches_routing_tables_through_the_front(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    pod = harness.launch("gateway")
    spec = harness.chart.deployment("gateway")["spec"]["template"]["spec"]["containers"][0]
    port = next(p["containerPort"] for p in spec["ports"] if p["name"] == "http")
    url = f"http://{pod.pod_ip}:{port}/v2/health/ready"
    await eventually(lambda: _ready(url), 60, "the gateway's readiness", harness.describe)
    gateway = harness.chart.service_account("gateway")

    def watching() -> bool:
        return any(
            r.resource == "configmaps" and r.verb in ("watch", "list") and r.code == 200
            for r in harness.records_of(gateway)
        )

    await eventually(watching, 30, "the gateway's ConfigMap list/watch", harness.describe)
    harness.assert_no_refusals("while the gateway started")


async def test_operator_keeps_working_after_its_token_rotates_and_the_old_one_expires(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    """A projected token rotates; after the old one's grace it is refused, and the operator's
    next pass must authenticate with the new one (re-reading the file), not stop at 401."""
    harness = await make_harness(rendered("cluster"))
    await _operator_started(harness)
    operator = harness.chart.service_account("operator")
    harness.account(operator).rotate(grace=1.0)
    await asyncio.sleep(1.5)  # the old token has expired
    rotated_at = len(harness.records_of(operator))
    async with harness.session() as http:
        resp = await http.post(
            f"{GROUP}/namespaces/{USER_NAMESPACE}/modelversions", json=model_version("v1")
        )
        assert resp.status in (200, 201), await resp.text()

    def serving_created() -> bool:
        return any(ns == USER_NAMESPACE for ns, _, _ in objects_of(harness.emulator, "deployments"))

    await eventually(
        serving_created, 60, "the operator's pass after its token rotated", harness.describe
    )
    await eventually(  # it went on as itself (the front records a request once answered)
        lambda: len(harness.records_of(operator)) > rotated_at, 30,
        "the operator's requests after its token rotated", harness.describe,
    )  # fmt: skip
    others = [r for r in harness.refusals() if r.code != 401]
    assert not others, others


async def test_operator_and_gateway_reach_an_ipv6_api_server(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    """KUBERNETES_SERVICE_HOST=::1: the API URL needs brackets (https://[::1]:port)."""
    harness = await make_harness(rendered("cluster"), front_host="::1")
    await _operator_started(harness)
    await _version_pass(harness, "v1")
    pod = harness.launch("gateway")
    spec = harness.chart.deployment("gateway")["spec"]["template"]["spec"]["containers"][0]
    port = next(p["containerPort"] for p in spec["ports"] if p["name"] == "http")
    await eventually(
        lambda: _ready(f"http://{pod.pod_ip}:{port}/v2/health/ready"),
        60,
        "the gateway's readiness",
        harness.describe,
    )
    gateway = harness.chart.service_account("gateway")

    def watching() -> bool:
        return any(
            r.resource == "configmaps" and r.code == 200 for r in harness.records_of(gateway)
        )

    await eventually(watching, 30, "the gateway's ConfigMap reads over IPv6", harness.describe)
    harness.assert_no_refusals("with the API at [::1]")

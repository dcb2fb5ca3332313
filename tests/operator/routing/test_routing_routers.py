"""Routers against kmock's emulator: the gateway ConfigMap and HTTPRoute weights."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from modelrollout_inference.routing.table import RoutingTable
from modelrollout_operator.api.v1alpha1 import ExperimentSpec
from modelrollout_operator.k8s.client import CONFIGMAPS, HTTPROUTES, Connection, KubeClient
from modelrollout_operator.rollout.model import SetTraffic
from modelrollout_operator.routing import (
    ExperimentRef,
    GatewayRouter,
    HTTPRouteRouter,
    RoutingError,
    VersionRef,
)
from tests.support.kubernetes import register_resources

EXP = ExperimentRef(name="exp", namespace="ml", uid="u1")
BASE = VersionRef(name="v1", version="1", ready=True, endpoint="http://a:8000", service="v1-server")
CAND = VersionRef(name="v2", version="2", ready=True, endpoint="http://b:8000", service="v2-server")
SPEC = ExperimentSpec(model="scorer", baseline="v1", candidate="v2")


@pytest.fixture()
async def kube(kmock: Any) -> AsyncIterator[KubeClient]:
    register_resources(kmock)
    kmock.resources["gateway.networking.k8s.io/v1/httproutes"] = kmock.ResourceInfo(
        kind="HTTPRoute", namespaced=True, verbs={"get", "list", "patch", "create"}
    )
    client = KubeClient(Connection(server=str(kmock.url).rstrip("/"), insecure=True))
    yield client
    await client.close()


async def _table(kube: KubeClient) -> dict[str, Any]:
    cm = await kube.get(CONFIGMAPS, "gw", "ml.exp.routing")
    assert cm is not None
    assert cm["metadata"]["labels"]["modelrollout.dev/routing"] == "true"
    # Written for the Experiment's namespace, in the gateway's: no owner reference across.
    assert cm["metadata"]["labels"]["modelrollout.dev/for-namespace"] == "ml"
    assert "ownerReferences" not in cm["metadata"]
    return dict(json.loads(cm["data"]["routing.json"]))


async def test_gateway_router_grows_generation_only_on_change(kube: KubeClient) -> None:
    router = GatewayRouter(kube, CONFIGMAPS, namespace="gw")
    await router.apply(EXP, SPEC, SetTraffic(candidate_weight=10), BASE, CAND)
    first = await _table(kube)
    RoutingTable.model_validate(first)
    assert first["generation"] == 1
    await router.apply(EXP, SPEC, SetTraffic(candidate_weight=10), BASE, CAND)  # replay
    assert (await _table(kube))["generation"] == 1
    await router.apply(EXP, SPEC, SetTraffic(candidate_weight=0), BASE, CAND)
    table = await _table(kube)
    assert table["generation"] == 2
    assert [v["version"] for v in table["versions"]] == ["1"]
    await router.forget("ml", "exp")
    assert await kube.get(CONFIGMAPS, "gw", "ml.exp.routing") is None


def test_routing_configmap_names_cannot_collide_across_namespaces() -> None:
    from modelrollout_operator.routing.gateway import configmap_name

    # Namespaces hold no dots: the first dot always ends the namespace.
    assert configmap_name("team-a", "b.exp") != configmap_name("team", "a.b.exp")
    assert configmap_name("a-b", "c") != configmap_name("a", "b-c")
    long = configmap_name("ns", "x" * 300)
    assert len(long) <= 253 and long.endswith(".routing")
    assert long != configmap_name("ns", "x" * 299)


async def test_no_weight_for_a_version_that_is_not_ready(kube: KubeClient) -> None:
    router = GatewayRouter(kube, CONFIGMAPS, namespace="gw")
    unready = VersionRef(name="v2", version="2", ready=False)
    with pytest.raises(RoutingError, match="not Ready"):
        await router.apply(EXP, SPEC, SetTraffic(candidate_weight=10), BASE, unready)
    assert await kube.get(CONFIGMAPS, "gw", "ml.exp.routing") is None
    # Weight 0 (a rollback) is always allowed.
    await router.apply(EXP, SPEC, SetTraffic(candidate_weight=0), BASE, unready)


async def test_httproute_router_sets_backend_weights(kube: KubeClient) -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "scorer", "namespace": "ml"},
        "spec": {"rules": [{"backendRefs": [
            {"name": "v1-server", "port": 8000, "weight": 100},
            {"name": "v2-server", "port": 8000, "weight": 0}]}]},
    }  # fmt: skip
    await kube.create(HTTPROUTES, "ml", route)
    spec = ExperimentSpec.model_validate(
        {"model": "scorer", "baseline": "v1", "candidate": "v2",
         "routing": {"provider": "httpRoute", "httpRoute": {"name": "scorer"}}}
    )  # fmt: skip
    router = HTTPRouteRouter(kube, HTTPROUTES)
    await router.apply(EXP, spec, SetTraffic(candidate_weight=25), BASE, CAND)
    got = await kube.get(HTTPROUTES, "ml", "scorer")
    assert got is not None
    refs = got["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["weight"]) for r in refs] == [("v1-server", 75), ("v2-server", 25)]
    await router.apply(EXP, spec, SetTraffic(candidate_weight=100, promoted=True), BASE, CAND)
    got = await kube.get(HTTPROUTES, "ml", "scorer")
    assert got is not None
    assert [r["weight"] for r in got["spec"]["rules"][0]["backendRefs"]] == [0, 100]
    missing = spec.model_copy(deep=True)
    assert missing.routing.http_route is not None
    missing.routing.http_route.name = "nope"
    with pytest.raises(RoutingError, match="not found"):
        await router.apply(EXP, missing, SetTraffic(candidate_weight=5), BASE, CAND)

"""What a shared cluster needs of the chart: a PDB and topology spread for the gateway, extra
args/volumes, optional NetworkPolicies; every object validates strictly."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from chart_helpers import of_kind, one

from conftest import Render

KUBERNETES_VERSION = "1.35.0"


def _pod(docs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    spec: dict[str, Any] = one(docs, "Deployment", component)["spec"]["template"]["spec"]
    return spec


def test_the_gateway_has_a_pdb_and_spreads_over_nodes_and_zones(render: Render) -> None:
    docs = render(("gateway.replicas=3",))
    gateway = one(docs, "Deployment", "gateway")
    pod_labels = gateway["spec"]["template"]["metadata"]["labels"]
    (pdb,) = of_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    spread = gateway["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in spread] == [
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    ]
    for constraint in spread:
        assert constraint["labelSelector"]["matchLabels"].items() <= pod_labels.items()
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
    pinned = of_kind(render(("gateway.podDisruptionBudget.minAvailable=2",)), "PodDisruptionBudget")
    assert pinned[0]["spec"] == {**pinned[0]["spec"], "minAvailable": 2}
    assert "maxUnavailable" not in pinned[0]["spec"]
    assert (
        of_kind(render(("gateway.podDisruptionBudget.enabled=false",)), "PodDisruptionBudget") == []
    )


def test_extra_args_volumes_and_mounts_reach_both_components(render: Render) -> None:
    values = []
    for component in ("operator", "gateway"):
        values += [
            f"{component}.extraArgs[0]=--extra-{component}",
            f"{component}.extraVolumes[0].name=ca",
            f"{component}.extraVolumes[0].configMap.name=ca-bundle",
            f"{component}.extraVolumeMounts[0].name=ca",
            f"{component}.extraVolumeMounts[0].mountPath=/etc/ca",
        ]
    docs = render(tuple(values))
    for component in ("operator", "gateway"):
        pod = _pod(docs, component)
        (container,) = [c for c in pod["containers"] if c["name"] == component]
        assert container["args"][-1] == f"--extra-{component}"
        assert {"name": "ca", "mountPath": "/etc/ca"} in container["volumeMounts"]
        assert {"name": "ca", "configMap": {"name": "ca-bundle"}} in pod["volumes"]


def test_network_policies_open_only_the_ports_each_component_serves(render: Render) -> None:
    def ours(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # (the bundled feedback store has its own, always: only gateway pods reach it)
        named = {
            p["metadata"]["name"].rsplit("-", 1)[-1]: p for p in of_kind(docs, "NetworkPolicy")
        }
        return {k: v for k, v in named.items() if k in ("gateway", "operator")}

    assert ours(render()) == {}
    docs = render(("networkPolicy.enabled=true",))
    policies = ours(docs)
    assert set(policies) == {"gateway", "operator"}
    gateway_ports = {p["port"] for p in policies["gateway"]["spec"]["ingress"][0]["ports"]}
    assert gateway_ports == {8000, 8001}
    operator_ports = {p["port"] for p in policies["operator"]["spec"]["ingress"][0]["ports"]}
    assert operator_ports == {8080}
    for component, policy in policies.items():
        labels = one(docs, "Deployment", component)["spec"]["template"]["metadata"]["labels"]
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize(
    "values",
    [
        ("networkPolicy.enabled=true", "gateway.replicas=3",
         "gateway.extraVolumes[0].name=x", "gateway.extraVolumes[0].emptyDir.medium=Memory",
         "gateway.extraVolumeMounts[0].name=x", "gateway.extraVolumeMounts[0].mountPath=/x"),
    ],
)  # fmt: skip
def test_the_new_objects_validate_strictly(render: Render, values: tuple[str, ...]) -> None:
    for doc in render(values):
        if doc["kind"] in ("PodDisruptionBudget", "NetworkPolicy", "Deployment", "ClusterRole"):
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)

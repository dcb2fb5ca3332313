"""The operator, run locally, against a real API server: statuses, serving objects, routing.

The routing ConfigMap is written only once both versions are Ready, which needs a gateway
image the cluster can run and an artifact its pods can fetch (`make kind-load`, then set
MODELROLLOUT_TEST_GATEWAY_IMAGE, MODELROLLOUT_TEST_ARTIFACT_URI and _SHA256); without them
that test is skipped and the others check what the operator writes before Ready.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from modelrollout_operator.resources.naming import serving_name
from modelrollout_operator.routing.gateway import ROUTING_KEY, ROUTING_LABEL, configmap_name
from tests.operator.cluster.conftest import CLUSTER_MARKS, GROUP, VERSION, wait_for

pytestmark = CLUSTER_MARKS

ARTIFACT_URI = os.environ.get("MODELROLLOUT_TEST_ARTIFACT_URI")
ARTIFACT_SHA = os.environ.get("MODELROLLOUT_TEST_ARTIFACT_SHA256")
SERVABLE = bool(os.environ.get("MODELROLLOUT_TEST_GATEWAY_IMAGE") and ARTIFACT_URI and ARTIFACT_SHA)


def prebuilt(name: str, version: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelVersion",
        "metadata": {"name": name},
        "spec": {"model": "scorer", "version": version,
                 "artifact": {"uri": ARTIFACT_URI or f"s3://models/scorer/{version}/model.onnx",
                              "format": "onnx", "sha256": ARTIFACT_SHA or "d" * 64},
                 "serving": {"runtime": "onnxruntime", "replicas": 1}},
    }  # fmt: skip


def canary(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "model": "scorer", "baseline": "scorer-v1", "candidate": "scorer-v2",
            "strategy": {"type": "canary",
                         "canary": {"steps": [{"weight": 10, "bake": "1h"}, {"weight": 100}]}},
            "routing": {"provider": "gateway", "stickyBy": "x-user-id"},
            "analysis": {"interval": "5s", "metrics": [
                {"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.05}]},
        },
    }  # fmt: skip


def _create_all(custom: Any, namespace: str) -> None:
    for body in (prebuilt("scorer-v1", 1), prebuilt("scorer-v2", 2)):
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "modelversions", body)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "experiments", canary("rollout")
    )


def _status(custom: Any, namespace: str, plural: str, name: str) -> dict[str, Any]:
    body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    return dict(body.get("status") or {})


def test_operator_writes_statuses_and_serving_objects(
    api: Any, custom: Any, namespace: str, operator: Any
) -> None:
    from kubernetes import client

    _create_all(custom, namespace)
    for name in ("scorer-v1", "scorer-v2"):
        st = wait_for(lambda n=name: _status(custom, namespace, "modelversions", n).get("phase"),
                      60, f"{name}'s status")  # fmt: skip
        assert st in ("Deploying", "Ready"), st
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        deployment = apps.read_namespaced_deployment(serving_name(name), namespace)
        owners = deployment.metadata.owner_references or []
        assert [o.name for o in owners] == [name]  # deleted with its ModelVersion
        assert core.read_namespaced_service(serving_name(name), namespace).spec.ports
    exp = wait_for(lambda: _status(custom, namespace, "experiments", "rollout"), 60,
                   "the Experiment's status")  # fmt: skip
    assert exp.get("phase") in ("Pending", "Progressing"), exp
    assert exp.get("message"), exp
    if exp["phase"] == "Pending":  # traffic never moves to a version that is not Ready
        core = client.CoreV1Api(api)
        names = [cm.metadata.name for cm in core.list_namespaced_config_map(namespace).items]
        assert configmap_name(namespace, "rollout") not in names


@pytest.mark.skipif(
    not SERVABLE,
    reason="needs MODELROLLOUT_TEST_GATEWAY_IMAGE (e.g. after `make kind-load`) and "
    "MODELROLLOUT_TEST_ARTIFACT_URI/_SHA256 of a model.onnx the gateway pods can fetch",
)
def test_ready_versions_get_a_routing_configmap(
    api: Any, custom: Any, namespace: str, operator: Any
) -> None:
    from kubernetes import client

    _create_all(custom, namespace)
    for name in ("scorer-v1", "scorer-v2"):
        wait_for(lambda n=name: _status(custom, namespace, "modelversions", n).get("phase")
                 == "Ready", 300, f"{name} Ready")  # fmt: skip
    core = client.CoreV1Api(api)

    def routing() -> dict[str, Any] | None:
        items = core.list_namespaced_config_map(
            namespace, label_selector=f"{ROUTING_LABEL}=true"
        ).items
        found = [cm for cm in items if cm.metadata.name == configmap_name(namespace, "rollout")]
        return json.loads(found[0].data[ROUTING_KEY]) if found else None

    table = wait_for(routing, 60, "the routing ConfigMap")
    weights = {v["role"]: v["weight"] for v in table["versions"]}
    assert weights == {"baseline": 90, "candidate": 10}, table
    assert table["stickyBy"] == "x-user-id"
    st = _status(custom, namespace, "experiments", "rollout")
    assert st["phase"] == "Progressing" and st["weight"] == 10, st

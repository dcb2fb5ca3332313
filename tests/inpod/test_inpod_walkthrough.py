"""The walkthrough's kind examples (examples/kind/, docs/cluster.md step 5) applied through the
API front as the admin of the walkthrough would: each object passes what kube-apiserver checks
(the CRD schemas with unknown fields refused and their CEL rules, strict built-in kinds for
Kubernetes 1.35, Pod Security "restricted" in the `ml` namespace)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.support.inpod.chart import RenderedChart
from tests.support.inpod.harness import Harness

from .conftest import USER_NAMESPACE

MakeHarness = Callable[[RenderedChart], Awaitable[Harness]]
Rendered = Callable[[str], RenderedChart]
KIND = Path(__file__).resolve().parents[2] / "examples" / "kind"
PATHS = {
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "Service": "/api/v1/namespaces/{ns}/services",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
    "ModelVersion": "/apis/modelrollout.dev/v1alpha1/namespaces/{ns}/modelversions",
    "Experiment": "/apis/modelrollout.dev/v1alpha1/namespaces/{ns}/experiments",
}


def documents() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(KIND.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


async def test_every_walkthrough_object_is_admitted_through_the_front(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    docs = documents()
    (namespace,) = [d for d in docs if d["kind"] == "Namespace"]
    # The harness serves `ml` as restricted; the example enforces the same.
    assert namespace["metadata"]["name"] == USER_NAMESPACE
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    applied = []
    async with harness.session() as http:
        for doc in docs:
            if doc["kind"] == "Namespace":
                continue
            path = PATHS[doc["kind"]].format(ns=doc["metadata"]["namespace"])
            resp: aiohttp.ClientResponse = await http.post(path, json=doc)
            body = await resp.json(content_type=None)
            assert resp.status in (200, 201), (doc["kind"], doc["metadata"]["name"], body)
            applied.append((doc["kind"], doc["metadata"]["name"]))
    kinds = {kind for kind, _ in applied}
    assert {"Secret", "Deployment", "Service", "Job", "ModelVersion", "Experiment"} <= kinds


async def test_a_walkthrough_pod_weakened_is_refused_by_pod_security(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    """The check above can fail: the same MinIO Deployment without its securityContext is not
    admitted in the restricted namespace."""
    harness = await make_harness(rendered("cluster"))
    (minio,) = [d for d in documents() if d["kind"] == "Deployment"]
    for container in minio["spec"]["template"]["spec"]["containers"]:
        container.pop("securityContext")
    async with harness.session() as http:
        resp = await http.post(PATHS["Deployment"].format(ns=USER_NAMESPACE), json=minio)
        body = await resp.json(content_type=None)
    assert resp.status in (403, 422), body
    assert "allowPrivilegeEscalation" in str(body)

"""The API front itself: what kube-apiserver would refuse, it refuses, in kube-apiserver's words.

These run the emulator and the front only (no pods, no root).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from tests.support.inpod.authn import ServiceAccount
from tests.support.inpod.chart import RenderedChart
from tests.support.inpod.harness import Harness

from .conftest import RELEASE_NAMESPACE, USER_NAMESPACE

MakeHarness = Callable[[RenderedChart], Awaitable[Harness]]
Rendered = Callable[[str], RenderedChart]
GROUP = "/apis/modelrollout.dev/v1alpha1"
MERGE = {"Content-Type": "application/merge-patch+json"}


def model_version(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": name, "namespace": USER_NAMESPACE},
        "spec": {
            "model": "scorer",
            "version": 1,
            "artifact": {"uri": "s3://models/scorer/1/model.onnx", "format": "onnx",
                         "sha256": "a" * 64},
            "serving": {"runtime": "onnxruntime"},
            **spec,
        },
    }  # fmt: skip


def job(name: str, **pod_spec: Any) -> dict[str, Any]:
    container = {"name": "trainer", "image": "model-rollout-trainer:0.1.0"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": USER_NAMESPACE},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container],
                                       **pod_spec}}},
    }  # fmt: skip


async def answer(resp: aiohttp.ClientResponse) -> tuple[int, dict[str, Any]]:
    return resp.status, await resp.json(content_type=None)


async def test_a_request_without_a_token_or_with_a_wrong_one_is_401(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    assert harness.front is not None
    operator = harness.chart.service_account("operator")
    token = harness.account(operator).token
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=harness.tls.client_context())
    ) as http:
        url = f"{harness.front.endpoint.url}{GROUP}/modelversions"
        for header in (None, "Bearer wrong", f"Bearer bearer {token}", f"Basic {token}"):
            headers = {"Authorization": header} if header else {}
            status, body = await answer(await http.get(url, headers=headers))
            assert (status, body["reason"]) == (401, "Unauthorized"), header
        # The scheme is case-insensitive, as in kube-apiserver.
        status, _ = await answer(await http.get(url, headers={"Authorization": f"bearer {token}"}))
        assert status == 200


async def test_a_rotated_token_works_and_the_old_one_only_for_the_grace_period(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    now = [1000.0]
    harness.authn.clock = lambda: now[0]
    operator = harness.chart.service_account("operator")
    files = harness.account(operator)
    old = files.token
    new = files.rotate(grace=60)
    assert (files.root / "token").read_text() == new != old
    assert harness.authn.authenticate(f"Bearer {new}") == operator
    now[0] += 59
    assert harness.authn.authenticate(f"Bearer {old}") == operator
    now[0] += 2
    assert harness.authn.authenticate(f"Bearer {old}") is None
    assert harness.authn.authenticate(f"Bearer {new}") == operator
    async with harness.session(operator) as http:
        status, _ = await answer(await http.get(f"{GROUP}/modelversions"))
        assert status == 200
        status, body = await answer(
            await http.get(f"{GROUP}/modelversions", headers={"Authorization": f"Bearer {old}"})
        )
        assert (status, body["message"]) == (401, "Unauthorized")


async def test_chart_rbac_refusal_is_403_naming_verb_resource_group_and_namespace(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    gateway = harness.chart.service_account("gateway")
    async with harness.session(gateway) as http:
        status, body = await answer(
            await http.patch(
                f"{GROUP}/namespaces/{USER_NAMESPACE}/experiments/e1/status",
                data=json.dumps({"status": {"phase": "Succeeded"}}),
                headers=MERGE,
            )
        )
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        'experiments.modelrollout.dev "e1" is forbidden: User '
        f'"system:serviceaccount:{RELEASE_NAMESPACE}:{gateway.name}" cannot patch resource '
        f'"experiments/status" in API group "modelrollout.dev" in the namespace "{USER_NAMESPACE}"'
    )


async def test_namespace_scope_rbac_grants_the_watched_namespaces_only(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("namespace"))
    operator = harness.chart.service_account("operator")
    async with harness.session(operator) as http:
        status, _ = await answer(
            await http.get(f"{GROUP}/namespaces/{USER_NAMESPACE}/modelversions")
        )
        assert status == 200
        status, body = await answer(await http.get(f"{GROUP}/namespaces/other/modelversions"))
        assert status == 403
        assert body["message"].endswith(
            'cannot list resource "modelversions" in API group "modelrollout.dev" '
            'in the namespace "other"'
        )
        status, body = await answer(await http.get(f"{GROUP}/modelversions"))
        assert status == 403
        assert body["message"].endswith("at the cluster scope")


async def test_discovery_is_open_to_every_authenticated_account(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    gateway = harness.chart.service_account("gateway")
    async with harness.session(gateway) as http:
        for path in ("/api", "/apis", "/version", GROUP):
            status, _ = await answer(await http.get(path))
            assert status == 200, path


async def test_pod_security_refuses_a_job_without_security_context_naming_each_field(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    async with harness.session() as http:
        status, body = await answer(
            await http.post(f"/apis/batch/v1/namespaces/{USER_NAMESPACE}/jobs", json=job("train"))
        )
    assert status == 403
    message = body["message"]
    assert message.startswith(
        'jobs.batch "train" is forbidden: violates PodSecurity "restricted:latest": '
    )
    for part in (
        'allowPrivilegeEscalation != false (container "trainer" must set '
        "securityContext.allowPrivilegeEscalation=false)",
        'unrestricted capabilities (container "trainer" must set '
        'securityContext.capabilities.drop=["ALL"])',
        'runAsNonRoot != true (pod or container "trainer" must set '
        "securityContext.runAsNonRoot=true)",
        'seccompProfile (pod or container "trainer" must set securityContext.seccompProfile.type '
        'to "RuntimeDefault" or "Localhost")',
    ):
        assert part in message


async def test_pod_security_applies_only_in_namespaces_labelled_restricted(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    body = job("train")
    body["metadata"]["namespace"] = RELEASE_NAMESPACE
    async with harness.session() as http:
        status, _ = await answer(
            await http.post(f"/apis/batch/v1/namespaces/{RELEASE_NAMESPACE}/jobs", json=body)
        )
    assert status == 201 or status == 200


async def test_the_charts_own_pods_meet_restricted(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    async with harness.session() as http:
        for component in ("operator", "gateway"):
            deployment = harness.chart.deployment(component)
            deployment["metadata"]["namespace"] = USER_NAMESPACE
            status, body = await answer(
                await http.post(
                    f"/apis/apps/v1/namespaces/{USER_NAMESPACE}/deployments", json=deployment
                )
            )
            assert status in (200, 201), body


async def test_a_custom_resource_with_an_unknown_field_is_400_naming_it(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    async with harness.session() as http:
        status, body = await answer(
            await http.post(
                f"{GROUP}/namespaces/{USER_NAMESPACE}/modelversions",
                json=model_version("v1", replicas=3),
            )
        )
    assert (status, body["message"]) == (
        400,
        'strict decoding error: unknown field "spec.replicas"',
    )


async def test_a_custom_resource_breaking_a_cel_rule_is_422_with_the_rule_message(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    bad = model_version("v1", serving={"runtime": "onnxruntime", "gpus": 1})
    async with harness.session() as http:
        status, body = await answer(
            await http.post(f"{GROUP}/namespaces/{USER_NAMESPACE}/modelversions", json=bad)
        )
    assert status == 422
    assert body["message"].startswith('ModelVersion.modelrollout.dev "v1" is invalid: spec.serving')


async def test_a_patch_is_validated_as_the_object_it_makes(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    base = f"{GROUP}/namespaces/{USER_NAMESPACE}/modelversions"
    async with harness.session() as http:
        status, created = await answer(await http.post(base, json=model_version("v1")))
        assert status in (200, 201), created
        # Defaults are applied on create, as the API server does.
        assert created["spec"]["serving"]["replicas"] == 1
        status, body = await answer(
            await http.patch(f"{base}/v1/status", data=json.dumps({"status": {"phase": "Bogus"}}),
                             headers=MERGE)
        )  # fmt: skip
        assert status == 422 and "status.phase" in body["message"]
        # A transition rule (oldSelf): the version of a ModelVersion is immutable.
        status, body = await answer(
            await http.patch(f"{base}/v1", data=json.dumps({"spec": {"version": 2}}), headers=MERGE)
        )
        assert status == 422, body
        # A write to the main resource leaves status alone; one to /status changes only status.
        status, body = await answer(
            await http.patch(f"{base}/v1/status", headers=MERGE, data=json.dumps(
                {"status": {"phase": "Ready"}, "spec": {"description": "x"}}))
        )  # fmt: skip
        assert status == 200, body
        assert body["status"]["phase"] == "Ready" and "description" not in body["spec"]


async def test_built_in_objects_are_validated_strictly_for_kubernetes_1_35(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    base = f"/api/v1/namespaces/{RELEASE_NAMESPACE}/configmaps"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    async with harness.session() as http:
        status, body = await answer(await http.post(base, json={**cm, "data": {"n": 1}}))
        assert status == 422 and "data.n" in body["message"], body
        status, body = await answer(await http.post(base, json={**cm, "date": {"n": "1"}}))
        assert (status, body["message"]) == (400, 'strict decoding error: unknown field "date"')
        status, body = await answer(await http.post(base, json={**cm, "data": {"n": "1"}}))
        assert status in (200, 201), body


async def test_block_owner_deletion_needs_update_on_the_owners_finalizers(
    make_harness: MakeHarness,
) -> None:
    account = ServiceAccount(RELEASE_NAMESPACE, "writer")
    rules: list[dict[str, Any]] = [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete"]}
    ]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "writer"},
        "rules": rules,
    }
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "writer"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "writer"},
               "subjects": [{"kind": "ServiceAccount", "name": account.name,
                             "namespace": account.namespace}]}  # fmt: skip
    harness = await make_harness(RenderedChart((role, binding), RELEASE_NAMESPACE))
    body = job("train")
    body["metadata"]["namespace"] = RELEASE_NAMESPACE
    body["metadata"]["ownerReferences"] = [
        {"apiVersion": "modelrollout.dev/v1alpha1", "kind": "ModelVersion", "name": "v1",
         "uid": "u1", "controller": True, "blockOwnerDeletion": True}
    ]  # fmt: skip
    url = f"/apis/batch/v1/namespaces/{RELEASE_NAMESPACE}/jobs"
    async with harness.session(account) as http:
        status, answer_body = await answer(await http.post(url, json=body))
    assert status == 403
    assert (
        "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set "
        f'finalizers on: User "{account.username}" cannot update resource '
        f'"modelversions/finalizers" in API group "modelrollout.dev" in the namespace '
        f'"{RELEASE_NAMESPACE}"'
    ) in answer_body["message"]
    rules.append(
        {"apiGroups": ["modelrollout.dev"], "resources": ["modelversions/finalizers"],
         "verbs": ["update"]}
    )  # fmt: skip
    assert harness.front is not None
    harness.front.authorizer = type(harness.front.authorizer)([role, binding])
    async with harness.session(account) as http:
        status, answer_body = await answer(await http.post(url, json=body))
    assert status in (200, 201), answer_body


async def test_a_watch_streams_through_the_front_as_events_happen(
    make_harness: MakeHarness, rendered: Rendered
) -> None:
    harness = await make_harness(rendered("cluster"))
    operator = harness.chart.service_account("operator")
    async with harness.session(operator) as watcher, harness.session() as admin:
        resp = await watcher.get(f"{GROUP}/modelversions", params={"watch": "true"})
        assert resp.status == 200
        await asyncio.sleep(0.2)  # the watch is registered before the object is created
        status, _ = await answer(
            await admin.post(f"{GROUP}/namespaces/{USER_NAMESPACE}/modelversions",
                             json=model_version("v1"))
        )  # fmt: skip
        assert status in (200, 201)
        line = await asyncio.wait_for(resp.content.readline(), timeout=30)
        event = json.loads(line)
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "v1")
        resp.close()

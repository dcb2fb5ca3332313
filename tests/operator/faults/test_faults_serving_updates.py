"""spec.serving edits reach the serving Deployment, and the chart's trainer image is the default
(the real version pass, in-process)."""

from __future__ import annotations

from typing import Any

from fault_harness import NS
from faulty_api import FaultyApi

from modelrollout_operator.handlers.services import Services
from modelrollout_operator.handlers.versioning import version_pass
from modelrollout_operator.resources.naming import serving_name
from modelrollout_operator.resources.updating import ROLLING, SPEC_ANNOTATION

NAME = "churn-v2"
URI = "s3://models/repo/churn/2/model.onnx"


def version(**serving: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": NAME, "namespace": NS, "uid": "uid-2"},
        "spec": {"model": "churn", "version": 2,
                 "artifact": {"uri": URI, "sha256": "a" * 64}, "serving": serving},
    }  # fmt: skip


def ready(api: FaultyApi) -> None:
    """The cluster's part: the Deployment's pods report ready."""
    deployment = api.get("deployments", NS, serving_name(NAME))
    assert deployment is not None
    deployment["status"] = {"readyReplicas": 1, "replicas": 1}


def edit(api: FaultyApi, **serving: Any) -> None:
    body = api.get("modelversions", NS, NAME)
    assert body is not None
    body["spec"]["serving"] = serving


async def test_a_spec_serving_edit_reaches_the_deployment(
    api: FaultyApi, services: Services
) -> None:
    api.put("modelversions", NS, version(replicas=1))
    await version_pass(services, NS, NAME)
    ready(api)
    await version_pass(services, NS, NAME)
    assert (api.get("modelversions", NS, NAME) or {})["status"]["phase"] == "Ready"
    before = api.get("deployments", NS, serving_name(NAME))
    assert before is not None and before["spec"]["strategy"] == ROLLING
    service = api.get("services", NS, serving_name(NAME))

    edit(api, replicas=3, cpu="2", memory="1Gi", scheduling={"nodeSelector": {"pool": "ml"}})
    await version_pass(services, NS, NAME)
    after = api.get("deployments", NS, serving_name(NAME))
    assert after is not None and after["spec"]["replicas"] == 3
    pod = after["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["requests"]["cpu"] == "2"
    assert container["resources"]["limits"]["memory"] == "1Gi"
    assert pod["nodeSelector"] == {"pool": "ml"}
    assert (
        after["metadata"]["annotations"][SPEC_ANNOTATION]
        != (before["metadata"]["annotations"][SPEC_ANNOTATION])
    )

    # A runtime change: one Deployment rolled (a new pod ready before an old one goes) behind
    # the same Service, so the version's endpoint and the gateway's route never change.
    edit(api, replicas=3, runtime="triton", maxBatchSize=8,
         dynamicBatching={"enabled": False})  # fmt: skip
    await version_pass(services, NS, NAME)
    rolled = api.get("deployments", NS, serving_name(NAME))
    assert rolled is not None and rolled["spec"]["strategy"] == ROLLING
    pod = rolled["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["triton"]
    (init,) = pod["initContainers"]
    args = init["args"]
    assert args[args.index("--max-batch-size") + 1] == "8"
    assert "nodeSelector" not in pod  # removed from the spec: removed from the pods
    assert api.get("services", NS, serving_name(NAME)) == service
    assert (api.get("modelversions", NS, NAME) or {})["status"]["endpoint"]

    # And back: Triton's init container and volume go.
    edit(api, replicas=1)
    await version_pass(services, NS, NAME)
    back = (api.get("deployments", NS, serving_name(NAME)) or {})["spec"]["template"]["spec"]
    assert [c["name"] for c in back["containers"]] == ["onnxruntime"]
    assert "initContainers" not in back


async def test_an_unchanged_spec_writes_nothing(api: FaultyApi, services: Services) -> None:
    api.put("modelversions", NS, version(replicas=2))
    await version_pass(services, NS, NAME)
    ready(api)
    writes = len(api.writes("deployments"))
    for _ in range(3):
        await version_pass(services, NS, NAME)
    assert len(api.writes("deployments")) == writes


async def test_a_retired_version_stays_scaled_down(api: FaultyApi, services: Services) -> None:
    api.put("modelversions", NS, version(replicas=2))
    await version_pass(services, NS, NAME)
    ready(api)
    await version_pass(services, NS, NAME)
    body = api.get("modelversions", NS, NAME)
    assert body is not None
    body["status"]["phase"] = "Retired"
    await version_pass(services, NS, NAME)
    deployment = api.get("deployments", NS, serving_name(NAME))
    assert deployment is not None and deployment["spec"]["replicas"] == 0


async def test_a_version_without_a_trainer_image_trains_with_the_charts(
    api: FaultyApi, services: Services
) -> None:
    api.put("modelversions", NS, {
        "apiVersion": "modelrollout.dev/v1alpha1", "kind": "ModelVersion",
        "metadata": {"name": "churn-v3", "namespace": NS, "uid": "uid-3"},
        "spec": {"model": "churn", "version": 3,
                 "training": {"dataset": "s3://data/d.csv", "output": "s3://models/repo"}},
    })  # fmt: skip
    await version_pass(services, NS, "churn-v3")
    job = api.get("jobs", NS, "churn-v3-train")
    assert job is not None
    (trainer,) = job["spec"]["template"]["spec"]["containers"]
    assert trainer["image"] == services.settings.trainer_image

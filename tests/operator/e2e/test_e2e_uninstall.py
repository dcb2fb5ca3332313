"""Uninstall never hangs: the operator leaves no finalizer it would have to remove itself."""

from __future__ import annotations

from typing import Any

from modelrollout_operator.k8s.client import CONFIGMAPS, EXPERIMENTS, MODELVERSIONS, KubeClient
from tests.operator.e2e.conftest import wait_until
from tests.operator.e2e.scenarios import NS, experiment, prebuilt_version, status_of

KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"


async def test_after_uninstall_deleting_modelversions_experiments_and_namespace_waits_for_nothing(
    cluster: Any, kube: KubeClient, kubelet: Any, start_operator: Any
) -> None:
    old = prebuilt_version("scorer-v1", 1)
    old["metadata"]["finalizers"] = [KOPF_FINALIZER]  # put there by an earlier operator
    await kube.create(MODELVERSIONS, NS, old)
    await kube.create(MODELVERSIONS, NS, prebuilt_version("scorer-v2", 2))
    op = await start_operator()
    await kube.create(EXPERIMENTS, NS, experiment("scorer-v2-canary", steps=[10, 50]))

    async def served_and_released() -> bool:
        for plural, name in ((MODELVERSIONS, "scorer-v1"), (MODELVERSIONS, "scorer-v2"),
                             (EXPERIMENTS, "scorer-v2-canary")):  # fmt: skip
            body = await kube.get(plural, NS, name)
            if body is None or body["metadata"].get("finalizers"):
                return False
        phase = (await status_of(kube, "scorer-v2-canary", EXPERIMENTS)).get("phase")
        return phase not in (None, "Pending")  # its daemon ran passes

    await wait_until(served_and_released, 30, "daemons running and no finalizers", op)
    op.stop()  # `helm uninstall`: nobody is left to remove a finalizer
    for plural, name in ((EXPERIMENTS, "scorer-v2-canary"), (MODELVERSIONS, "scorer-v1"),
                         (MODELVERSIONS, "scorer-v2")):  # fmt: skip
        body = await kube.get(plural, NS, name)
        assert body is not None and not body["metadata"].get("finalizers"), body["metadata"]
        await kube.delete(plural, NS, name)
        assert await kube.get(plural, NS, name) is None


async def test_deleting_an_experiment_deletes_its_routing_configmap_without_a_finalizer(
    cluster: Any, kube: KubeClient, kubelet: Any, start_operator: Any
) -> None:
    await kube.create(MODELVERSIONS, NS, prebuilt_version("scorer-v1", 1))
    await kube.create(MODELVERSIONS, NS, prebuilt_version("scorer-v2", 2))
    op = await start_operator()
    await kube.create(EXPERIMENTS, NS, experiment("scorer-v2-canary", steps=[10, 50]))

    async def routing() -> list[dict[str, Any]]:
        return await kube.list(CONFIGMAPS, None, {"modelrollout.dev/routing": "true"})

    await wait_until(routing, 30, "the Experiment's routing ConfigMap", op)
    body = await kube.get(EXPERIMENTS, NS, "scorer-v2-canary")
    assert body is not None and not body["metadata"].get("finalizers")
    await kube.delete(EXPERIMENTS, NS, "scorer-v2-canary")

    async def collected() -> bool:
        return not await routing()

    await wait_until(collected, 30, "the routing ConfigMap deleted with its Experiment", op)

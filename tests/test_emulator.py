"""The kmock emulator the tests run against fills in what an API server sets on creation.

kopf keys each object's memory (its daemons among it) by uid: two objects created without
one would share a memory, and the second would get no daemon (an Experiment the operator
created for a Model sat Pending in CI for that reason alone).
"""

from __future__ import annotations

from typing import Any

from modelrollout_operator.k8s.client import EXPERIMENTS, Connection, KubeClient
from tests.support.kubernetes import ApiServerEmulator, register_resources


def _experiment(name: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "modelrollout.dev/v1alpha1", "kind": "Experiment",
            "metadata": {"name": name, "namespace": "ml", **meta},
            "spec": {"model": "scorer"}}  # fmt: skip


async def test_every_object_created_gets_its_own_uid_and_creation_time(kmock: Any) -> None:
    assert isinstance(kmock, ApiServerEmulator)
    register_resources(kmock)
    kube = KubeClient(Connection(server=str(kmock.url).rstrip("/"), insecure=True))
    try:
        await kube.create(EXPERIMENTS, "ml", _experiment("a"))
        await kube.create(EXPERIMENTS, "ml", _experiment("b"))
        await kube.create(EXPERIMENTS, "ml", _experiment("c", uid="given", generation=3))
        a, b, c = [await kube.get(EXPERIMENTS, "ml", n) for n in "abc"]
    finally:
        await kube.close()
    assert a is not None and b is not None and c is not None
    assert a["metadata"]["uid"] and a["metadata"]["uid"] != b["metadata"]["uid"]
    assert a["metadata"]["creationTimestamp"].endswith("Z")
    assert (a["metadata"]["generation"], a["metadata"]["resourceVersion"]) == (1, "1")
    # what the request set is kept
    assert (c["metadata"]["uid"], c["metadata"]["generation"]) == ("given", 3)

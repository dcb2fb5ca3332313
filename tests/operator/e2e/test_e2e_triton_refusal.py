"""A Triton version whose artifact was swapped after approval never serves, and says why.

The real operator process renders the serving Deployment; the test plays the kubelet: it runs
the init container's exact command line (the real `modelrollout-gateway` console script) with
the pod's termination-message file, and reports the pod's init container status as a kubelet
would. The operator then fails the ModelVersion with that reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

from modelrollout_operator.k8s.client import DEPLOYMENTS, MODELVERSIONS, KubeClient
from modelrollout_operator.resources.manifests import REPOSITORY_MOUNT, serving_selector
from modelrollout_operator.resources.naming import serving_name
from tests.operator.e2e.conftest import events_eventually, wait_until
from tests.operator.e2e.scenarios import NS, server_fields, status_of

GATEWAY = Path(sys.executable).parent / "modelrollout-gateway"


def triton_version(name: str, uri: str, sha: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": server_fields(name),
        "spec": {"model": "scorer", "version": 3, "artifact": {"uri": uri, "sha256": sha},
                 "serving": {"runtime": "triton", "maxBatchSize": 16}},
    }  # fmt: skip


async def test_a_swapped_artifact_keeps_the_triton_pod_from_starting_and_fails_the_version(
    cluster: Any, kube: KubeClient, kubelet: Any, start_operator: Any, tmp_path: Path
) -> None:
    kubelet.ready = lambda name: False  # its pod never gets past the init container
    model = tmp_path / "repo" / "scorer" / "3" / "model.onnx"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"the approved model")
    approved = hashlib.sha256(model.read_bytes()).hexdigest()
    (model.parents[1] / "config.pbtxt").write_text(
        'name: "scorer" max_batch_size: 8 input [{ name: "features" data_type: TYPE_FP32 '
        'dims: [ 3 ] }] output [{ name: "score" data_type: TYPE_FP32 dims: [ 1 ] }]'
    )
    model.write_bytes(b"a model swapped in after approval")
    swapped = hashlib.sha256(model.read_bytes()).hexdigest()

    op = await start_operator()
    await kube.create(MODELVERSIONS, NS, triton_version("scorer-v3", str(model), approved))
    deployment = await wait_until(
        lambda: kube.get(DEPLOYMENTS, NS, serving_name("scorer-v3")), 60, "the Deployment", op
    )
    pod_spec = deployment["spec"]["template"]["spec"]
    (init,) = pod_spec["initContainers"]
    emptydir, termination = tmp_path / "emptydir", tmp_path / "termination-log"
    termination.touch()
    args = [str(emptydir) if a == REPOSITORY_MOUNT else a for a in init["args"]]
    run = await asyncio.to_thread(
        subprocess.run,
        [str(GATEWAY), *args, "--termination-log", str(termination)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 3, run.stderr
    assert not any(emptydir.rglob("*.onnx")), "nothing for Triton to load"
    message = termination.read_text()
    cluster.objects[("v1/pods", NS, "scorer-v3-server-7d9f-x2x")] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "scorer-v3-server-7d9f-x2x", "namespace": NS,
                     "labels": dict(deployment["spec"]["template"]["metadata"]["labels"])},
        "spec": pod_spec,
        "status": {"phase": "Pending", "initContainerStatuses": [{
            "name": init["name"], "restartCount": 1, "ready": False,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": run.returncode, "reason": "Error",
                                         "message": message}}}]},
    }  # fmt: skip
    assert (
        serving_selector("scorer-v3").items()
        <= deployment["spec"]["selector"]["matchLabels"].items()
    )

    async def failed() -> dict[str, Any] | None:
        status = await status_of(kube, "scorer-v3", MODELVERSIONS)
        return status if status.get("phase") == "Failed" else None

    status = await wait_until(failed, 60, "the ModelVersion to fail", op)
    for words in (str(model), approved, swapped):
        assert words in status["message"], words
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ArtifactRejected")
    assert "endpoint" not in status
    events = await events_eventually(
        cluster, "scorer-v3", lambda evs: any(e.get("reason") == "Failed" for e in evs),
        "the Failed event", op,
    )  # fmt: skip
    warning = [e for e in events if e.get("reason") == "Failed"]
    assert warning and warning[-1]["type"] == "Warning" and swapped in warning[-1]["message"]

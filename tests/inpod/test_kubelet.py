"""The kubelet stand-in on its own: Jobs and Deployments in the emulator run as real processes.

Each test names the promise of the stand-in it checks; the e2e scenarios rely on them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests.support.inpod.kubelet import Kubelet
from tests.support.inpod.network import PodNetwork
from tests.support.kubernetes import register_resources

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the kubelet stand-in needs root (network and mount namespaces)"
)

NS = "apps"
PY = sys.executable


@pytest.fixture()
def network() -> Iterator[PodNetwork]:
    net = PodNetwork()
    net.start()
    yield net
    net.close()


@pytest.fixture()
async def kubelet(kmock: Any, network: PodNetwork) -> AsyncIterator[Kubelet]:
    register_resources(kmock)
    k = Kubelet(str(kmock.url), network, poll=0.1, probe_period=0.2, backoff=0.2, grace=2)
    await k.start()
    yield k
    await k.stop()


async def eventually(check: Callable[[], Any], timeout: float, what: str, k: Kubelet) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{k.describe()}")


def objects(kmock: Any, plural: str) -> dict[str, dict[str, Any]]:
    return {
        name: dict(obj.raw)
        for (res, ns, name), obj in list(kmock.objects.items())
        if getattr(res, "plural", None) == plural and not obj.deleted
    }


def job(name: str, code: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{
                "name": "main", "image": "python:3.11", "command": [PY, "-c", code],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }]}},
            **spec,
        },
    }  # fmt: skip


async def create(kmock: Any, path: str, body: dict[str, Any]) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{str(kmock.url).rstrip('/')}{path}", json=body) as resp,
    ):
        assert resp.status < 400, await resp.text()


async def test_a_job_runs_its_container_and_reports_the_termination_message(
    kmock: Any, kubelet: Kubelet
) -> None:
    code = (
        "import os, socket; open('/dev/termination-log', 'w').write("
        '\'{"uid": %d, "host": "%s", "env": "%s"}\' % '
        "(os.getuid(), socket.gethostname(), os.environ['GREETING']))"
    )
    body = job("hello", code)
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "WHO", "value": "pod"}, {"name": "GREETING", "value": "hi $(WHO)"}]
    container["securityContext"] = {"runAsUser": 10001, "runAsGroup": 10001}
    await create(kmock, f"/apis/batch/v1/namespaces/{NS}/jobs", body)

    done = await eventually(
        lambda: (objects(kmock, "jobs")["hello"].get("status") or {}).get("conditions"),
        60, "the Job to finish", kubelet,
    )  # fmt: skip
    assert [c["type"] for c in done] == ["SuccessCriteriaMet", "Complete"]
    pods = [
        p for p in objects(kmock, "pods").values() if p["metadata"]["labels"]["job-name"] == "hello"
    ]
    assert len(pods) == 1
    term = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    message = json.loads(term["message"])
    assert message == {"uid": 10001, "host": pods[0]["metadata"]["name"], "env": "hi pod"}
    assert pods[0]["status"]["phase"] == "Succeeded"


async def test_non_retriable_exit_codes_fail_the_job_at_once_and_others_back_off(
    kmock: Any, kubelet: Kubelet
) -> None:
    policy = {"rules": [{"action": "FailJob", "onExitCodes": {
        "containerName": "main", "operator": "In", "values": [3]}}]}  # fmt: skip
    await create(
        kmock,
        f"/apis/batch/v1/namespaces/{NS}/jobs",
        job("gate", "raise SystemExit(3)", backoffLimit=4, podFailurePolicy=policy),
    )
    await create(kmock, f"/apis/batch/v1/namespaces/{NS}/jobs",
                 job("flaky", "print('boom'); raise SystemExit(1)", backoffLimit=1,
                     podFailurePolicy=policy))  # fmt: skip

    def failed(name: str) -> dict[str, Any] | None:
        st = objects(kmock, "jobs")[name].get("status") or {}
        return next((c for c in st.get("conditions") or [] if c["type"] == "Failed"), None)

    gate = await eventually(lambda: failed("gate"), 60, "the gate Job to fail", kubelet)
    assert gate["reason"] == "PodFailurePolicy"
    flaky = await eventually(lambda: failed("flaky"), 60, "the flaky Job to fail", kubelet)
    assert flaky["reason"] == "BackoffLimitExceeded"
    jobs = objects(kmock, "jobs")
    assert jobs["gate"]["status"]["failed"] == 1  # no retry after a FailJob exit code
    assert jobs["flaky"]["status"]["failed"] == 2  # backoffLimit 1: two tries
    flaky_pods = [p for p in objects(kmock, "pods").values()
                  if p["metadata"]["labels"]["job-name"] == "flaky"]  # fmt: skip
    assert len(flaky_pods) == 2
    term = flaky_pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 1 and term["message"] == "boom"  # FallbackToLogsOnError


async def test_a_job_past_its_deadline_is_killed_and_failed(kmock: Any, kubelet: Kubelet) -> None:
    await create(kmock, f"/apis/batch/v1/namespaces/{NS}/jobs",
                 job("slow", "import time; time.sleep(60)", activeDeadlineSeconds=1))  # fmt: skip

    def failed() -> Any:
        st = objects(kmock, "jobs")["slow"].get("status") or {}
        return next((c for c in st.get("conditions") or [] if c["type"] == "Failed"), None)

    cond = await eventually(failed, 60, "the deadline", kubelet)
    assert cond["reason"] == "DeadlineExceeded"
    assert not any(p.running for p in kubelet.pods())


SERVER = """
import http.server, os, socket, sys, urllib.request
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == '/peer':
            body = urllib.request.urlopen(os.environ['PEER'], timeout=2).read()
        elif self.path == '/prepared':
            body = open('/data/prepared').read().encode()
        else:
            body = os.environ['HOSTNAME'].encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('0.0.0.0', 8000), H).serve_forever()
"""


def deployment(name: str, replicas: int, peer: str) -> dict[str, Any]:
    """A web server on 0.0.0.0:8000 (every replica), after an init container fills its emptyDir."""
    labels = {"app": name}
    prepare = "open('/data/prepared', 'w').write('by the init container')"
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {
              "volumes": [{"name": "data", "emptyDir": {}}],
              "initContainers": [{
                "name": "prepare", "image": "python:3.11", "command": [PY, "-c", prepare],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "securityContext": {"runAsUser": 10001}}],
              "containers": [{
                "name": "web", "image": "python:3.11", "command": [PY, "-c", SERVER],
                "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
                "env": [{"name": "PEER", "value": peer}],
                "ports": [{"name": "http", "containerPort": 8000}],
                "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                "securityContext": {"runAsUser": 10001, "readOnlyRootFilesystem": True},
            }]}}},
    }  # fmt: skip


def service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"app": name}, "ports": [{"port": 8000}]}}  # fmt: skip


async def test_deployments_on_one_port_run_their_init_containers_and_reach_each_other_by_name(
    kmock: Any, kubelet: Kubelet
) -> None:
    import aiohttp

    await create(kmock, f"/api/v1/namespaces/{NS}/services", service("left"))
    await create(kmock, f"/api/v1/namespaces/{NS}/services", service("right"))
    await create(kmock, f"/apis/apps/v1/namespaces/{NS}/deployments",
                 deployment("left", 2, f"http://right.{NS}.svc:8000/"))  # fmt: skip
    await create(kmock, f"/apis/apps/v1/namespaces/{NS}/deployments",
                 deployment("right", 1, "http://left:8000/"))  # fmt: skip

    def ready() -> bool:
        deps = objects(kmock, "deployments")
        return all((deps[n].get("status") or {}).get("readyReplicas") == r
                   for n, r in (("left", 2), ("right", 1)))  # fmt: skip

    await eventually(ready, 60, "both Deployments ready", kubelet)
    status = objects(kmock, "deployments")["left"]["status"]
    assert status["availableReplicas"] == 2 and status["observedGeneration"] == 1
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Available": "True", "Progressing": "True"}  # fmt: skip
    left = [p for p in kubelet.pods() if p.owner == ("Deployment", "left")]
    right = next(p for p in kubelet.pods() if p.owner == ("Deployment", "right"))
    assert len({p.ip for p in left}) == 2
    await eventually(lambda: kubelet.network.services.get((NS, "left")), 30, "hosts", kubelet)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{left[0].ip}:8000/peer") as resp:
            assert await resp.text() == right.name
        async with http.get(f"http://{right.ip}:8000/peer") as resp:
            assert await resp.text() in {p.name for p in left}
        async with http.get(f"http://{right.ip}:8000/prepared") as resp:
            assert await resp.text() == "by the init container"
    pod = objects(kmock, "pods")[right.name]
    init = pod["status"]["initContainerStatuses"][0]
    assert init["name"] == "prepare" and init["state"]["terminated"]["exitCode"] == 0

    # Scale to zero stops the pods; deleting the other stops its process.
    async with aiohttp.ClientSession() as http:
        base = f"{str(kmock.url).rstrip('/')}/apis/apps/v1/namespaces/{NS}/deployments"
        async with http.patch(
            f"{base}/left",
            json={"spec": {"replicas": 0}},
            headers={"Content-Type": "application/merge-patch+json"},
        ):
            pass
        async with http.delete(f"{base}/right"):
            pass
    await eventually(lambda: not any(p.running for p in [*left, right]), 60, "stopped", kubelet)
    await eventually(
        lambda: objects(kmock, "deployments")["left"]["status"]["replicas"] == 0, 30, "0", kubelet
    )

"""kmock harness: the resources the operator uses, a kubelet stand-in, the operator process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kmock
from kmock._internal import enums, rendering

from tests.support.processes import die_with_parent

from .prometheus import free_port

GROUP_VERSION = "modelrollout.dev/v1alpha1"
VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}


class ApiServerEmulator(kmock.KubernetesEmulator):
    """kmock's emulator, filling in what an API server sets on every object it creates: a uid,
    creationTimestamp, generation and resourceVersion (those the request left unset).

    kopf keys its per-object memory, daemons included, by uid: two objects created without
    one (e.g. the ModelVersions and Experiments the operator creates for a Model) share one
    memory, and the second gets no daemon. A real cluster never does that, so neither do we.
    """

    async def _handle(self, request: rendering.Request) -> Any:
        data = request.data
        creating = request.resource is not None and request.action == enums.action.CREATE
        if (
            creating
            and isinstance(data, dict)
            and isinstance(data.setdefault("metadata", {}), dict)
        ):
            meta = data["metadata"]
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            meta.setdefault("generation", 1)
            meta.setdefault("resourceVersion", "1")
        return await super()._handle(request)


def register_resources(emulator: Any) -> None:
    """Declare the CRDs and the built-in kinds the operator discovers and uses."""
    emulator.resources.load_bundled()
    emulator.resources[f"{GROUP_VERSION}/modelversions"] = kmock.ResourceInfo(
        kind="ModelVersion", namespaced=True, verbs=VERBS, subresources={"status"},
        shortnames={"mv"},
    )  # fmt: skip
    emulator.resources[f"{GROUP_VERSION}/experiments"] = kmock.ResourceInfo(
        kind="Experiment", namespaced=True, verbs=VERBS, subresources={"status"},
        shortnames={"mexp"},
    )  # fmt: skip
    emulator.resources[f"{GROUP_VERSION}/models"] = kmock.ResourceInfo(
        kind="Model", namespaced=True, verbs=VERBS, subresources={"status"}, shortnames={"mdl"},
    )  # fmt: skip


def objects_of(emulator: Any, plural: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, name, body) of every live object of a resource (e.g. 'jobs', 'events')."""
    out = []
    for key, obj in list(emulator.objects.items()):
        resource, namespace, name = key
        if getattr(resource, "plural", None) == plural and not obj.deleted:
            out.append((namespace, name, obj.raw))
    return out


def events_for(emulator: Any, name: str) -> list[dict[str, Any]]:
    evs = [b for _, _, b in objects_of(emulator, "events")]
    evs = [e for e in evs if e.get("involvedObject", {}).get("name") == name]
    return sorted(evs, key=lambda e: e.get("lastTimestamp", ""))


@dataclass
class TrainingOutcome:
    """How the fake kubelet finishes a training Job: a result message and success or not."""

    message: str
    succeed: bool = True
    reason: str = ""


@dataclass
class FakeKubelet:
    """Plays the cluster's part: runs Jobs to their outcome and makes Deployments ready."""

    emulator: Any
    outcomes: dict[str, TrainingOutcome] = field(default_factory=dict)
    ready: Callable[[str], bool] = lambda name: True
    _task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        for ns, name, job in objects_of(self.emulator, "jobs"):
            if (job.get("status") or {}).get("conditions"):
                continue
            outcome = self.outcomes.get(name)
            if outcome is None:
                continue
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            exit_code = 0 if outcome.succeed else 3
            # As the Job controller makes it: owned by the Job, labelled with its name and uid.
            job_uid = str((job.get("metadata") or {}).get("uid") or "")
            owner = {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job_uid,
                     "controller": True, "blockOwnerDeletion": True}  # fmt: skip
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"{name}-pod", "namespace": ns, "uid": str(uuid.uuid4()),
                             "labels": {"job-name": name, "batch.kubernetes.io/job-name": name,
                                        "controller-uid": job_uid,
                                        "batch.kubernetes.io/controller-uid": job_uid},
                             "ownerReferences": [owner]},
                "status": {"phase": "Succeeded" if outcome.succeed else "Failed",
                           "containerStatuses": [{"name": "trainer", "state": {"terminated": {
                               "exitCode": exit_code, "message": outcome.message,
                               "finishedAt": now}}}]},
            }  # fmt: skip
            self.emulator.objects[("v1/pods", ns, pod["metadata"]["name"])] = pod
            cond = (
                {"type": "Complete", "status": "True"}
                if outcome.succeed
                else {"type": "Failed", "status": "True", "reason": outcome.reason or
                      "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
            )  # fmt: skip
            status = {"conditions": [cond], "succeeded" if outcome.succeed else "failed": 1}
            self.emulator.objects[("batch/v1/jobs", ns, name)].patch({"status": status})
        for ns, name, dep in objects_of(self.emulator, "deployments"):
            want = int(dep.get("spec", {}).get("replicas", 1))
            ready = want if self.ready(name) else 0
            if (dep.get("status") or {}).get("readyReplicas") != ready:
                self.emulator.objects[("apps/v1/deployments", ns, name)].patch(
                    {"status": {"replicas": want, "readyReplicas": ready}}
                )

    async def _run(self) -> None:
        while True:
            await self._tick()
            await asyncio.sleep(0.2)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class OperatorProcess:
    """The real operator as a subprocess (`kopf run -A --standalone`), killable at will."""

    def __init__(self, kube_url: str, prometheus_url: str, **env: str) -> None:
        self.http_port = free_port()
        self.env = {
            **os.environ,
            "MODELROLLOUT_KUBE_SERVER": kube_url,
            "MODELROLLOUT_PROMETHEUS_URL": prometheus_url,
            "MODELROLLOUT_HTTP_HOST": "127.0.0.1",
            "MODELROLLOUT_HTTP_PORT": str(self.http_port),
            "MODELROLLOUT_VERSION_POLL_INTERVAL": "0.3",
            "MODELROLLOUT_READY_POLL_INTERVAL": "1",
            "MODELROLLOUT_PROMETHEUS_TIMEOUT": "1",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = f"/tmp/modelrollout-operator-{self.http_port}.log"

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "-A", "--standalone", "-m",
             "modelrollout_operator.handlers"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent,
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a node dies."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-6000:]
        except OSError:
            return ""

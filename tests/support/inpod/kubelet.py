"""A kubelet and controller-manager stand-in: the Jobs and Deployments in the emulator run for real.

It is the cluster, not a client of the API front: it talks to kmock's emulator directly. Each
poll it reads Jobs, Deployments and Services and
- runs each pod's container as a local process, from the container's own command, args and env
  (an image runs our console scripts: its ENTRYPOINT/CMD/USER come from docker/*.Dockerfile),
  in its own network namespace (`PodNetwork`) and a private mount namespace with what a runtime
  gives a container: a fresh /dev, the termination-message file at `terminationMessagePath`,
  emptyDir/configMap/secret volumes at their `mountPath`, /etc/hosts resolving the cluster's
  Services, the service account's files when a token source is given; as the securityContext's
  user (else the image's), no new privileges, no capabilities, and a read-only root filesystem
  when `readOnlyRootFilesystem` says so;
- Jobs: creates their Pods (labels `job-name`, ...), writes the container's terminated state
  (exit code, reason, termination message or the log tail under FallbackToLogsOnError) and the
  Job's status (active/succeeded/failed, Complete/Failed conditions), honouring backoffLimit,
  podFailurePolicy (FailJob / Ignore / Count on exit codes) and activeDeadlineSeconds;
- Deployments: `replicas` pods, readiness from the container's httpGet probe, status
  (replicas, updated/ready/available, observedGeneration, conditions); a changed pod template
  replaces the pods, scaling down stops pods, a deleted object stops its processes;
- a Triton container (its image names tritonserver) cannot run here: the pod runs our gateway
  serving that one version (the single-version ONNX Runtime server) on the HTTP port the Triton
  container declares, with the container's env.

Timing is compressed and said so: probes every `probe_period` s, restart/backoff delays of
`backoff` s instead of 10 s doubling.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import shlex
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from tests.support.processes import die_with_parent

from .images import ImageConfig, UnknownImage
from .images import image_config as dockerfile_config
from .network import PodNetwork
from .pods import keep_host_paths_lines, kept_host_paths

log = structlog.get_logger(__name__)

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent
TERMINATION_LIMIT = 4096
LOG_TAIL_BYTES, LOG_TAIL_LINES = 2048, 80


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- images --------------------------------------------------------------------------------------


def image_config(image: str) -> ImageConfig:
    """Our images by name (model-rollout-gateway, ...-trainer, ...-operator): their Dockerfile,
    read once for the harness and the kubelet (images.py). Another image (Triton's) brings
    nothing: it is stood in for, or has nothing to run."""
    try:
        return dockerfile_config(image)
    except UnknownImage:
        return ImageConfig()


# -- pods ----------------------------------------------------------------------------------------


class PodConfigError(Exception):
    """The pod cannot start yet (CreateContainerConfigError): a missing Secret, root user..."""


@dataclass
class PodRun:
    """One pod: its container as a process in its own namespaces."""

    namespace: str
    name: str
    labels: dict[str, str]
    spec: dict[str, Any]
    owner: tuple[str, str]  # (kind, name)
    template_hash: str = ""
    ip: str = ""
    dir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: str = ""
    finished_at: str = ""
    exit_code: int | None = None
    ready: bool = False
    probe_failures: int = 0
    restarts: int = 0
    restart_after: float = 0.0
    waiting_reason: str = ""
    waiting_message: str = ""
    stand_in: str = ""  # "triton" when a Triton container is stood in
    stage: int = 0  # index into init containers + [the main container]
    init_done: list[dict[str, Any]] = field(default_factory=list)  # terminated states
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def inits(self) -> list[dict[str, Any]]:
        return list(self.spec.get("initContainers") or [])

    @property
    def main(self) -> dict[str, Any]:
        containers: list[dict[str, Any]] = self.spec.get("containers") or [{}]
        return containers[0]

    @property
    def in_main(self) -> bool:
        return self.stage >= len(self.inits)

    @property
    def container(self) -> dict[str, Any]:
        """The container running (or to run) now: the init containers in order, then the main."""
        return self.main if self.in_main else self.inits[self.stage]

    def terminated_state(self) -> dict[str, Any]:
        return {
            "exitCode": self.exit_code,
            "reason": "Completed" if self.exit_code == 0 else "Error",
            "message": self.termination_message(),
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "containerID": f"local://{self.key}/{self.container.get('name')}",
        }

    def next_stage(self) -> None:
        """An init container completed: record it, the next container runs."""
        self.init_done.append({"name": self.container.get("name"), "ready": True,
                               "restartCount": 0, "image": self.container.get("image", ""),
                               "state": {"terminated": self.terminated_state()}})  # fmt: skip
        self.stage += 1
        self.proc, self.exit_code = None, None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        return self.dir / "log" if self.dir else None

    def logs(self, limit: int = 20000) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        data = path.read_bytes()
        return data[-limit:].decode("utf-8", errors="replace")

    def termination_message(self) -> str:
        """As the kubelet reports it: the file (4096 bytes at most), else the log tail when the
        policy is FallbackToLogsOnError and the container failed."""
        message = ""
        if self.dir is not None and (self.dir / "termination-log").exists():
            message = (
                (self.dir / "termination-log")
                .read_bytes()[:TERMINATION_LIMIT]
                .decode("utf-8", errors="replace")
            )
        policy = self.container.get("terminationMessagePolicy", "File")
        if not message and policy == "FallbackToLogsOnError" and self.exit_code not in (0, None):
            tail = self.logs(LOG_TAIL_BYTES).splitlines()[-LOG_TAIL_LINES:]
            message = "\n".join(tail)
        return message


def _b64(value: str) -> str:
    return base64.b64decode(value).decode("utf-8", errors="replace")


def _probe_port(container: Mapping[str, Any], port: Any) -> int:
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise PodConfigError(f"probe port {port!r} is not a declared container port")


def _security(pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    """The container's effective securityContext: its own fields over the pod's."""
    merged = dict(pod.get("securityContext") or {})
    merged.update(container.get("securityContext") or {})
    return merged


# -- the controller ------------------------------------------------------------------------------


@dataclass
class JobState:
    namespace: str
    name: str
    started: float = 0.0
    failed: int = 0
    succeeded: int = 0
    finished: bool = False
    next_start: float = 0.0
    pods: list[PodRun] = field(default_factory=list)


@dataclass
class DeploymentState:
    namespace: str
    name: str
    pods: list[PodRun] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)


class Kubelet:
    """Runs what the emulator holds. `start()` in the test's loop; `stop()` ends every pod."""

    def __init__(
        self,
        api_url: str,
        network: PodNetwork,
        *,
        kubernetes_service: tuple[str, int] | None = None,
        service_account_files: Callable[[str, str], Path | None] | None = None,
        poll: float = 0.25,
        probe_period: float = 0.5,
        backoff: float = 1.0,
        grace: float = 5.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.network = network
        self.kubernetes_service = kubernetes_service
        self.service_account_files = service_account_files
        self.poll = poll
        self.probe_period = probe_period
        self.backoff = backoff
        self.grace = grace
        self.jobs: dict[tuple[str, str], JobState] = {}
        self.deployments: dict[tuple[str, str], DeploymentState] = {}
        self.finished: list[PodRun] = []  # pods that ended, for logs in failure messages
        self.errors: list[str] = []
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._probe_task: asyncio.Task[None] | None = None
        # Outside /tmp: each pod gets its own /tmp (the image's), bound over the host's.
        base = "/var/tmp" if os.path.isdir("/var/tmp") else None
        self._dir = tempfile.TemporaryDirectory(prefix="inpod-kubelet-", dir=base)
        self._made_dirs: set[Path] = set()

    # -- API ------------------------------------------------------------------------------------

    async def _req(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        assert self._session is not None
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else None
        async with self._session.request(
            method, self.api_url + path, json=body, headers=headers, **kw
        ) as resp:
            if resp.status == 404:
                return None
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise RuntimeError(f"{method} {path}: HTTP {resp.status}: {data}")
            return data

    async def _list(self, path: str) -> list[dict[str, Any]]:
        data = await self._req("GET", path)
        return list((data or {}).get("items") or [])

    async def _get(self, path: str) -> dict[str, Any] | None:
        got: dict[str, Any] | None = await self._req("GET", path)
        return got

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run())
        self._probe_task = loop.create_task(self._probe_loop())

    async def stop(self) -> None:
        for task in (self._task, self._probe_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        pods = [p for s in self.jobs.values() for p in s.pods]
        pods += [p for s in self.deployments.values() for p in s.pods]
        await asyncio.gather(*(self._kill(p) for p in pods))
        if self._session is not None:
            await self._session.close()
        for path in sorted(self._made_dirs, key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                path.rmdir()
        self._dir.cleanup()

    def pods(self) -> list[PodRun]:
        live = [p for s in self.jobs.values() for p in s.pods]
        live += [p for s in self.deployments.values() for p in s.pods]
        return live + [p for p in self.finished if p not in live]

    def describe(self) -> str:
        """Every pod's state and log tail: for failure messages."""
        parts = []
        for p in self.pods():
            parts.append(
                f"--- pod {p.key} ({p.owner[0]} {p.owner[1]}) ip={p.ip} exit={p.exit_code} "
                f"ready={p.ready} restarts={p.restarts} waiting={p.waiting_reason} "
                f"{p.waiting_message}\n    argv={p.argv}\n{p.logs(3000)}"
            )
        if self.errors:
            parts.append("kubelet errors:\n" + "\n".join(self.errors[-10:]))
        return "\n".join(parts)

    async def _run(self) -> None:
        while True:
            try:
                await self._tick()
            except (aiohttp.ClientError, RuntimeError, OSError, TimeoutError) as exc:
                self.errors.append(f"{now_iso()} {exc!r}")
                log.warning("kubelet.tick_failed", error=str(exc))
            await asyncio.sleep(self.poll)

    async def _tick(self) -> None:
        await self._sync_jobs(await self._list("/apis/batch/v1/jobs"))
        await self._sync_deployments(await self._list("/apis/apps/v1/deployments"))
        await self._sync_services(await self._list("/api/v1/services"))

    # -- launching ------------------------------------------------------------------------------

    async def _env(self, pod: PodRun, image: ImageConfig) -> dict[str, str]:
        c = pod.container
        env: dict[str, str] = {
            "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOSTNAME": pod.name,
            "HOME": "/",
        }
        # The image's ENV, but its PATH is ours: the image's virtualenv is this test's.
        env.update({k: v for k, v in image.env.items() if k != "PATH"})
        if os.environ.get("PYTHONPATH"):
            # The harness's plumbing (as in pods.py): a run against another checkout's code
            # (PYTHONPATH=<checkout>/operator:...) runs that code in the pods too.
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        if self.kubernetes_service is not None:
            host, port = self.kubernetes_service
            env.update({
                "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": str(port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
                "KUBERNETES_PORT": f"tcp://{host}:{port}",
            })  # fmt: skip
        ns = pod.namespace
        for source in c.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for kind, path in (("secretRef", "secrets"), ("configMapRef", "configmaps")):
                ref = source.get(kind)
                if not ref:
                    continue
                obj = await self._get(f"/api/v1/namespaces/{ns}/{path}/{ref['name']}")
                if obj is None:
                    if ref.get("optional"):
                        continue
                    raise PodConfigError(f'{kind[:-3].lower()} "{ref["name"]}" not found')
                for k, v in (obj.get("data") or {}).items():
                    env[prefix + k] = _b64(v) if kind == "secretRef" else str(v)
                for k, v in (obj.get("stringData") or {}).items():
                    env[prefix + k] = str(v)
        for item in c.get("env") or []:
            name = item["name"]
            if "value" in item:
                env[name] = _expand(str(item["value"]), env)
                continue
            source = item.get("valueFrom") or {}
            if "fieldRef" in source:
                path = source["fieldRef"]["fieldPath"]
                fields = {"metadata.name": pod.name, "metadata.namespace": ns,
                          "status.podIP": pod.ip, "spec.serviceAccountName":
                          pod.spec.get("serviceAccountName", "default")}  # fmt: skip
                if path not in fields:
                    raise PodConfigError(f"fieldRef {path} is not supported by the stand-in")
                env[name] = fields[path]
            elif "secretKeyRef" in source or "configMapKeyRef" in source:
                secret = "secretKeyRef" in source
                ref = source["secretKeyRef" if secret else "configMapKeyRef"]
                kind = "secrets" if secret else "configmaps"
                obj = await self._get(f"/api/v1/namespaces/{ns}/{kind}/{ref['name']}")
                data = (obj or {}).get("data") or {}
                if ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise PodConfigError(f"{kind[:-1]} {ref['name']} has no key {ref['key']}")
                env[name] = _b64(data[ref["key"]]) if secret else str(data[ref["key"]])
            else:
                env[name] = ""
        return env

    def _argv(self, pod: PodRun, image: ImageConfig, env: Mapping[str, str]) -> list[str]:
        c = pod.container
        command = list(c.get("command") or image.entrypoint)
        args: list[str] = list(c.get("args") or []) if "args" in c else []
        if "args" not in c and not c.get("command"):
            args = list(image.cmd)
        argv = [_expand(a, env) for a in command + args]
        if not argv:
            raise PodConfigError(f"image {c.get('image')!r}: no command to run")
        if "/" not in argv[0]:
            found = shutil.which(argv[0], path=env.get("PATH"))
            if found is None:
                raise PodConfigError(f'exec: "{argv[0]}": executable file not found in $PATH')
            argv[0] = found
        return argv

    def _triton_argv(self, pod: PodRun, sha256: str | None) -> list[str]:
        """The gateway serving the one version this Triton pod would load."""
        c = pod.container
        args = {}
        for a in list(c.get("command") or []) + list(c.get("args") or []):
            key, _, value = a.partition("=")
            args[key] = value
        repository = args.get("--model-repository", "").rstrip("/")
        model = args.get("--load-model") or pod.labels.get("modelrollout.dev/model", "")
        version = pod.labels.get("modelrollout.dev/version", "")
        if not (repository and model and version):
            raise PodConfigError(
                "triton stand-in: no --model-repository/--load-model/version label"
            )
        ports = {p.get("name"): int(p["containerPort"]) for p in c.get("ports") or []}
        http = int(args.get("--http-port") or ports.get("http", 8000))
        argv = [str(VENV_BIN / "modelrollout-gateway"), "serve", "--host", "0.0.0.0",
                "--port", str(http), "--model", model, "--version", version,
                "--artifact-uri", f"{repository}/{model}/{version}/model.onnx"]  # fmt: skip
        grpc = args.get("--grpc-port") or ports.get("grpc")
        if grpc:
            argv += ["--grpc-port", str(grpc)]
        if sha256:
            argv += ["--artifact-sha256", sha256]
        return argv

    async def _owner_sha256(self, pod: PodRun, deployment: Mapping[str, Any]) -> str | None:
        for ref in deployment.get("metadata", {}).get("ownerReferences") or []:
            if ref.get("kind") == "ModelVersion":
                mv = await self._get(
                    f"/apis/modelrollout.dev/v1alpha1/namespaces/{pod.namespace}"
                    f"/modelversions/{ref['name']}"
                )
                artifact = ((mv or {}).get("status") or {}).get("artifact") or {}
                sha = artifact.get("sha256")
                return str(sha) if sha else None
        return None

    async def _launch(self, pod: PodRun, owner_obj: Mapping[str, Any]) -> None:
        """Start the pod's container; on a config problem, leave it waiting (retried)."""
        c = pod.container
        image = image_config(str(c.get("image", "")))
        try:
            pod.env = await self._env(pod, image)
            if "tritonserver" in str(c.get("image", "")):
                pod.stand_in = "triton"
                pod.argv = self._triton_argv(pod, await self._owner_sha256(pod, owner_obj))
            else:
                pod.argv = self._argv(pod, image, pod.env)
            sec = _security(pod.spec, c)
            image_uid, image_gid = image.uid_gid()
            uid = sec.get("runAsUser", image_uid)
            gid = sec.get("runAsGroup", image_gid)
            if sec.get("runAsNonRoot") and uid == 0:
                raise PodConfigError("container has runAsNonRoot and image will run as root")
            mounts = await self._volumes(pod, int(uid), int(gid), sec)
        except PodConfigError as exc:
            pod.waiting_reason, pod.waiting_message = "CreateContainerConfigError", str(exc)
            return
        pod.waiting_reason = pod.waiting_message = ""
        await asyncio.to_thread(self._spawn, pod, mounts, int(uid), int(gid), sec)
        pod.started_at = now_iso()
        log.info("kubelet.pod_started", pod=pod.key, ip=pod.ip, argv=pod.argv, uid=uid)

    async def _volumes(
        self, pod: PodRun, uid: int, gid: int, sec: Mapping[str, Any]
    ) -> list[tuple[Path, str, bool]]:
        """(source on the host, mountPath, read-only) for every volumeMount; files prepared."""
        assert pod.dir is not None
        fs_group = (pod.spec.get("securityContext") or {}).get("fsGroup")
        volumes = {v["name"]: v for v in pod.spec.get("volumes") or []}
        mounts: list[tuple[Path, str, bool]] = []
        vdir = pod.dir / "volumes"
        for vm in pod.container.get("volumeMounts") or []:
            volume = volumes.get(vm["name"])
            if volume is None:
                raise PodConfigError(f"volumeMount {vm['name']!r} names no volume")
            src = vdir / vm["name"]
            if not src.exists():
                src.mkdir(parents=True)
                if "emptyDir" in volume:
                    src.chmod(0o777)
                    if fs_group is not None:
                        os.chown(src, 0, int(fs_group))
                        src.chmod(0o2777)
                elif "configMap" in volume or "secret" in volume:
                    secret = "secret" in volume
                    ref = volume["secret"]["secretName"] if secret else volume["configMap"]["name"]
                    kind = "secrets" if secret else "configmaps"
                    obj = await self._get(f"/api/v1/namespaces/{pod.namespace}/{kind}/{ref}")
                    if obj is None:
                        raise PodConfigError(f"{kind[:-1]} {ref!r} not found")
                    for k, v in (obj.get("data") or {}).items():
                        (src / k).write_text(_b64(v) if secret else str(v))
                        (src / k).chmod(0o644)
                elif "projected" in volume or "serviceAccountToken" in str(volume):
                    self._service_account_into(pod, src)
                else:
                    raise PodConfigError(f"volume {vm['name']!r}: kind not supported here")
            mount_path = vm["mountPath"]
            if vm.get("subPath"):
                src = src / vm["subPath"]
            mounts.append((src, mount_path, bool(vm.get("readOnly"))))
        token_path = "/var/run/secrets/kubernetes.io/serviceaccount"
        automount = pod.spec.get("automountServiceAccountToken", True)
        if (
            automount
            and self.service_account_files is not None
            and all(m[1] != token_path for m in mounts)
        ):
            src = vdir / "kube-api-access"
            src.mkdir(parents=True, exist_ok=True)
            if self._service_account_into(pod, src):
                mounts.append((src, token_path, True))
        return mounts

    def _service_account_into(self, pod: PodRun, target: Path) -> bool:
        if self.service_account_files is None:
            return False
        account = pod.spec.get("serviceAccountName") or "default"
        source = self.service_account_files(pod.namespace, account)
        if source is None:
            return False
        for item in ("token", "ca.crt", "namespace"):
            if (source / item).exists():
                shutil.copyfile(source / item, target / item)
                (target / item).chmod(0o644)
        return True

    def _spawn(
        self,
        pod: PodRun,
        mounts: list[tuple[Path, str, bool]],
        uid: int,
        gid: int,
        sec: Mapping[str, Any],
    ) -> None:
        assert pod.dir is not None
        address = self.network.attach(pod.key)
        pod.ip = address.ip
        if "status.podIP" in json.dumps(pod.container.get("env") or []):
            for item in pod.container.get("env") or []:
                ref = (item.get("valueFrom") or {}).get("fieldRef") or {}
                if ref.get("fieldPath") == "status.podIP":
                    pod.env[item["name"]] = pod.ip
        hosts = self.network.hosts_file(pod.key)
        term = pod.dir / "termination-log"
        term.write_bytes(b"")
        term.chmod(0o666)
        (pod.dir / "dev").mkdir(exist_ok=True)
        (pod.dir / "tmp").mkdir(exist_ok=True)
        (pod.dir / "tmp").chmod(0o1777)
        term_path = pod.container.get("terminationMessagePath", "/dev/termination-log")
        for _, target, _ in mounts:
            self._ensure_mountpoint(Path(target))
        script = _pod_script(
            pod.dir,
            mounts=[(str(s), t, ro) for s, t, ro in mounts],
            hosts=str(hosts),
            termination=(str(term), term_path),
            readonly_root=bool(sec.get("readOnlyRootFilesystem")),
            uid=uid,
            gid=gid,
            fs_group=(pod.spec.get("securityContext") or {}).get("fsGroup"),
            workdir=pod.container.get("workingDir") or "/",
            hostname=pod.name,
            keep=kept_host_paths(pod.env.get("PYTHONPATH", "").split(os.pathsep)),
        )
        (pod.dir / "run.sh").write_text(script)
        logf = open(pod.dir / "log", "ab")  # noqa: SIM115 - handed to the child
        pod.proc = subprocess.Popen(
            ["/usr/sbin/ip", "netns", "exec", address.netns, "/usr/bin/unshare", "--uts", "--",
             "/bin/sh", str(pod.dir / "run.sh"), *pod.argv],
            env=pod.env, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        logf.close()
        pod.exit_code = None
        pod.finished_at = ""

    def _ensure_mountpoint(self, target: Path) -> None:
        """Mount points outside /dev must exist on the host's filesystem: create and remember."""
        if target.parts[:2] == ("/", "dev") or target.exists():
            return
        missing = [target]
        while not missing[-1].parent.exists():
            missing.append(missing[-1].parent)
        target.mkdir(parents=True, exist_ok=True)
        self._made_dirs.update(missing)

    async def _kill(self, pod: PodRun, grace: float | None = None) -> None:
        proc = pod.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + (self.grace if grace is None else grace)
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await asyncio.to_thread(proc.wait)
        self._reap(pod)
        await asyncio.to_thread(self.network.detach, pod.key)

    def _reap(self, pod: PodRun) -> bool:
        """True when the container has exited (and its end is recorded)."""
        if pod.proc is None or pod.proc.poll() is None:
            return False
        if pod.exit_code is None:
            code = pod.proc.returncode
            pod.exit_code = 128 - code if code < 0 else code  # a signal: 128 + signal number
            pod.finished_at = now_iso()
            pod.ready = False
            log.info("kubelet.pod_exited", pod=pod.key, exit_code=pod.exit_code)
        return True

    # -- Pod objects ----------------------------------------------------------------------------

    def _pod_object(self, pod: PodRun, owner: Mapping[str, Any]) -> dict[str, Any]:
        c = pod.container
        state: dict[str, Any]
        phase = "Pending"
        if pod.waiting_reason:
            state = {"waiting": {"reason": pod.waiting_reason, "message": pod.waiting_message}}
        elif pod.exit_code is not None and not pod.running:
            state = {"terminated": pod.terminated_state()}
            if pod.spec.get("restartPolicy", "Always") == "Never":
                phase = "Succeeded" if pod.exit_code == 0 and pod.in_main else "Failed"
            else:
                phase = "Running" if pod.in_main else "Pending"
        elif pod.running:
            state = {"running": {"startedAt": pod.started_at}}
            phase = "Running" if pod.in_main else "Pending"
        else:
            state = {"waiting": {"reason": "ContainerCreating"}}
        init_statuses = list(pod.init_done)
        if not pod.in_main:
            init_statuses.append({"name": c.get("name"), "image": c.get("image", ""),
                                  "ready": False, "restartCount": pod.restarts, "state": state})  # fmt: skip
            c = pod.main
            state = {"waiting": {"reason": "PodInitializing"}}
        ready = "True" if pod.ready else "False"
        spec = {**pod.spec, "nodeName": "inpod"}
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod.name,
                "namespace": pod.namespace,
                "labels": pod.labels,
                "ownerReferences": [
                    {
                        "apiVersion": owner.get("apiVersion"),
                        "kind": owner.get("kind"),
                        "name": owner["metadata"]["name"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                        **(
                            {"uid": owner["metadata"]["uid"]}
                            if owner["metadata"].get("uid")
                            else {}
                        ),
                    }
                ],
            },
            "spec": spec,
            "status": {
                "phase": phase,
                "podIP": pod.ip,
                "podIPs": [{"ip": pod.ip}] if pod.ip else [],
                "hostIP": self.network.host_ip,
                "conditions": [
                    {"type": "Ready", "status": ready},
                    {"type": "ContainersReady", "status": ready},
                ],
                "containerStatuses": [
                    {
                        "name": c.get("name", "main"),
                        "image": c.get("image", ""),
                        "ready": pod.ready,
                        "restartCount": pod.restarts if pod.in_main else 0,
                        "state": state,
                        "started": pod.running and pod.in_main,
                    }
                ],
                **({"initContainerStatuses": init_statuses} if pod.inits else {}),
            },
        }

    async def _write_pod(self, pod: PodRun, owner: Mapping[str, Any]) -> None:
        body = self._pod_object(pod, owner)
        path = f"/api/v1/namespaces/{pod.namespace}/pods"
        existing = await self._get(f"{path}/{pod.name}")
        if existing is None:
            await self._req("POST", path, body)
        elif existing.get("status") != body["status"]:
            await self._req("PATCH", f"{path}/{pod.name}/status", {"status": body["status"]})

    async def _delete_pod(self, pod: PodRun) -> None:
        await self._req("DELETE", f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}")

    def _new_pod(
        self, namespace: str, base: str, template: Mapping[str, Any], owner: tuple[str, str],
        extra_labels: Mapping[str, str],
    ) -> PodRun:  # fmt: skip
        suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        name = f"{base}-{suffix}"
        labels = {**(template.get("metadata", {}).get("labels") or {}), **extra_labels}
        pod = PodRun(namespace, name, labels, dict(template.get("spec") or {}), owner)
        pod.dir = Path(self._dir.name) / f"{namespace}_{name}"
        pod.dir.mkdir(parents=True)
        return pod

    # -- Jobs -----------------------------------------------------------------------------------

    async def _sync_jobs(self, jobs: list[dict[str, Any]]) -> None:
        seen = set()
        for job in jobs:
            meta = job["metadata"]
            key = (meta.get("namespace", "default"), meta["name"])
            seen.add(key)
            state = self.jobs.get(key)
            if state is None:
                conditions = (job.get("status") or {}).get("conditions") or []
                state = JobState(*key, started=time.monotonic(), finished=bool(conditions))
                self.jobs[key] = state
            await self._sync_job(job, state)
        for key in set(self.jobs) - seen:  # deleted: its pods go (garbage collection)
            state = self.jobs.pop(key)
            for pod in state.pods:
                await self._kill(pod)
                with contextlib.suppress(RuntimeError):
                    await self._delete_pod(pod)
                self.finished.append(pod)

    async def _sync_job(self, job: dict[str, Any], st: JobState) -> None:
        if st.finished:
            return
        spec = job.get("spec") or {}
        template = spec.get("template") or {}
        active = [p for p in st.pods if p.exit_code is None]
        now = time.monotonic()
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and now - st.started > float(deadline):
            for pod in active:
                await self._kill(pod)
                await self._write_pod(pod, job)
            await self._finish_job(job, st, False, "DeadlineExceeded",
                                   "Job was active longer than specified deadline")  # fmt: skip
            return
        for pod in active:
            if pod.proc is None:  # waiting on its config: retry
                await self._launch(pod, job)
                await self._write_pod(pod, job)
                continue
            if not self._reap(pod):
                continue
            if pod.exit_code == 0 and not pod.in_main:
                pod.next_stage()
                await self._launch(pod, job)
                await self._write_pod(pod, job)
                continue
            await asyncio.to_thread(self.network.detach, pod.key)
            await self._write_pod(pod, job)
            if pod.exit_code == 0:
                st.succeeded += 1
                await self._finish_job(job, st, True, "", "")
                return
            action = _failure_action(spec.get("podFailurePolicy"), pod)
            if action == "FailJob":
                st.failed += 1
                await self._finish_job(
                    job, st, False, "PodFailurePolicy",
                    f"Container {pod.container.get('name')} for pod {pod.key} failed with exit "
                    f"code {pod.exit_code} matching FailJob rule at index 0",
                )  # fmt: skip
                return
            if action != "Ignore":
                st.failed += 1
            st.next_start = now + self.backoff * (2 ** max(0, st.failed - 1))
        active = [p for p in st.pods if p.exit_code is None]
        if not active:
            if st.failed > int(spec.get("backoffLimit", 6)):
                await self._finish_job(job, st, False, "BackoffLimitExceeded",
                                       "Job has reached the specified backoff limit")  # fmt: skip
                return
            if now >= st.next_start:
                name = job["metadata"]["name"]
                pod = self._new_pod(st.namespace, name, template, ("Job", name),
                                    {"job-name": name, "batch.kubernetes.io/job-name": name})  # fmt: skip
                st.pods.append(pod)
                await self._launch(pod, job)
                await self._write_pod(pod, job)
        await self._job_status(job, st)

    async def _job_status(self, job: dict[str, Any], st: JobState, extra: Any = None) -> None:
        active = sum(1 for p in st.pods if p.exit_code is None and p.proc is not None)
        status: dict[str, Any] = {"active": active, "succeeded": st.succeeded,
                                  "failed": st.failed, "ready": active}  # fmt: skip
        if "startTime" not in (job.get("status") or {}):
            status["startTime"] = now_iso()
        if extra:
            status.update(extra)
        old = job.get("status") or {}
        if any(old.get(k) != v for k, v in status.items()):
            ns, name = st.namespace, st.name
            await self._req("PATCH", f"/apis/batch/v1/namespaces/{ns}/jobs/{name}/status",
                            {"status": status})  # fmt: skip

    async def _finish_job(
        self, job: dict[str, Any], st: JobState, ok: bool, reason: str, message: str
    ) -> None:
        st.finished = True
        t = now_iso()
        if ok:
            conditions = [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastTransitionTime": t},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastTransitionTime": t},
            ]  # fmt: skip
            extra = {"conditions": conditions, "completionTime": t}
        else:
            conditions = [
                {"type": "FailureTarget", "status": "True", "reason": reason, "message": message,
                 "lastTransitionTime": t},
                {"type": "Failed", "status": "True", "reason": reason, "message": message,
                 "lastTransitionTime": t},
            ]  # fmt: skip
            extra = {"conditions": conditions}
        log.info("kubelet.job_finished", job=f"{st.namespace}/{st.name}", ok=ok, reason=reason)
        await self._job_status(job, st, extra)

    # -- Deployments ----------------------------------------------------------------------------

    async def _sync_deployments(self, deployments: list[dict[str, Any]]) -> None:
        seen = set()
        for dep in deployments:
            meta = dep["metadata"]
            key = (meta.get("namespace", "default"), meta["name"])
            seen.add(key)
            state = self.deployments.setdefault(key, DeploymentState(*key))
            await self._sync_deployment(dep, state)
        for key in set(self.deployments) - seen:
            state = self.deployments.pop(key)
            for pod in state.pods:
                await self._kill(pod)
                with contextlib.suppress(RuntimeError):
                    await self._delete_pod(pod)
                self.finished.append(pod)

    async def _sync_deployment(self, dep: dict[str, Any], st: DeploymentState) -> None:
        spec = dep.get("spec") or {}
        template = spec.get("template") or {}
        want = int(spec.get("replicas", 1))
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        # A changed template replaces the pods (old ones go first: Recreate, simplest here).
        for pod in [p for p in st.pods if p.template_hash != digest]:
            await self._kill(pod)
            with contextlib.suppress(RuntimeError):
                await self._delete_pod(pod)
            st.pods.remove(pod)
            self.finished.append(pod)
        while len(st.pods) > want:
            pod = st.pods.pop()
            await self._kill(pod)
            with contextlib.suppress(RuntimeError):
                await self._delete_pod(pod)
            self.finished.append(pod)
        name = dep["metadata"]["name"]
        while len(st.pods) < want:
            pod = self._new_pod(st.namespace, f"{name}-{digest}", template, ("Deployment", name),
                                {"pod-template-hash": digest})  # fmt: skip
            pod.template_hash = digest
            st.pods.append(pod)
        now = time.monotonic()
        for pod in st.pods:
            if pod.proc is None and now >= pod.restart_after:
                await self._launch(pod, dep)
            elif pod.proc is not None and self._reap(pod):
                if pod.exit_code == 0 and not pod.in_main:
                    pod.next_stage()
                    await self._launch(pod, dep)
                    await self._write_pod(pod, dep)
                    continue
                # restartPolicy Always: the container restarts in its pod (same address) after
                # a (compressed) back-off.
                delay = self.backoff * (2 ** min(pod.restarts, 4))
                await self._write_pod(pod, dep)
                pod.proc, pod.restarts = None, pod.restarts + 1
                pod.restart_after = now + delay
                pod.waiting_reason, pod.waiting_message = (
                    "CrashLoopBackOff",
                    (f"back-off {delay:g}s restarting failed container"),
                )
                continue
            await self._write_pod(pod, dep)
        ready = sum(1 for p in st.pods if p.ready)
        status: dict[str, Any] = {
            "replicas": len(st.pods),
            "updatedReplicas": sum(1 for p in st.pods if p.template_hash == digest),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, want - ready),
        }
        generation = dep["metadata"].get("generation")
        if generation is not None:
            status["observedGeneration"] = generation
        deadline = float(spec.get("progressDeadlineSeconds", 600))
        t = now_iso()
        if ready >= want:
            progressing = {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable",
                "message": f'ReplicaSet "{name}-{digest}" has successfully progressed.',
            }
        elif now - st.created > deadline:
            progressing = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{name}-{digest}" has timed out progressing.',
            }
        else:
            progressing = {
                "type": "Progressing",
                "status": "True",
                "reason": "ReplicaSetUpdated",
                "message": f'ReplicaSet "{name}-{digest}" is progressing.',
            }
        available = {"type": "Available", "status": "True" if ready >= want else "False",
                     "reason": "MinimumReplicasAvailable" if ready >= want else
                     "MinimumReplicasUnavailable"}  # fmt: skip
        status["conditions"] = [available, progressing]
        old = dep.get("status") or {}
        same_conditions = [(c.get("type"), c.get("status"), c.get("reason"))
                           for c in old.get("conditions") or []] == [
            (c["type"], c["status"], c["reason"]) for c in status["conditions"]]  # fmt: skip
        if not same_conditions:
            for c in status["conditions"]:
                c["lastTransitionTime"] = c["lastUpdateTime"] = t
        else:
            status.pop("conditions")
        if any(old.get(k) != v for k, v in status.items()):
            ns = st.namespace
            await self._req("PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/{name}/status",
                            {"status": status})  # fmt: skip

    async def _probe_loop(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
            while True:
                pods = [p for s in self.deployments.values() for p in s.pods]
                await asyncio.gather(*(self._probe(http, p) for p in pods))
                await asyncio.sleep(self.probe_period)

    async def _probe(self, http: aiohttp.ClientSession, pod: PodRun) -> None:
        if not pod.running or not pod.in_main:
            pod.ready = False
            return
        probe = pod.container.get("readinessProbe")
        if not probe:
            pod.ready = True
            return
        get = probe.get("httpGet")
        if not get:
            pod.ready = True  # exec/tcp probes: not stood in; running counts as ready
            return
        try:
            port = _probe_port(pod.container, get.get("port"))
        except PodConfigError:
            pod.ready = False
            return
        url = f"{get.get('scheme', 'HTTP').lower()}://{pod.ip}:{port}{get.get('path', '/')}"
        ok = False
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
            async with http.get(url, ssl=False) as resp:
                ok = 200 <= resp.status < 400
        if ok:
            pod.ready, pod.probe_failures = True, 0
        else:
            pod.probe_failures += 1
            if not pod.ready or pod.probe_failures >= int(probe.get("failureThreshold", 3)):
                pod.ready = False

    # -- Services -------------------------------------------------------------------------------

    async def _sync_services(self, services: list[dict[str, Any]]) -> None:
        ready = [p for s in self.deployments.values() for p in s.pods if p.ready and p.ip]
        table: dict[tuple[str, str], list[str]] = {}
        for svc in services:
            meta = svc["metadata"]
            ns = meta.get("namespace", "default")
            selector = (svc.get("spec") or {}).get("selector") or {}
            if not selector:
                continue
            ips = [p.ip for p in ready if p.namespace == ns and
                   all(p.labels.get(k) == v for k, v in selector.items())]  # fmt: skip
            table[(ns, meta["name"])] = ips
        await asyncio.to_thread(self.network.set_services, table)


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command, args and env values; $$ escapes."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2 : end]
            out.append(env[name] if name in env else value[i : end + 1])
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _failure_action(policy: Mapping[str, Any] | None, pod: PodRun) -> str:
    """The podFailurePolicy action for a failed pod: FailJob, Ignore, Count (the default)."""
    for rule in (policy or {}).get("rules") or []:
        on = rule.get("onExitCodes")
        if not on:
            continue
        if on.get("containerName") not in (None, pod.container.get("name")):
            continue
        values = {int(v) for v in on.get("values") or []}
        hit = pod.exit_code in values
        if (on.get("operator") == "In") == hit:
            return str(rule.get("action", "Count"))
    return "Count"


def _pod_script(
    root: Path,
    *,
    mounts: list[tuple[str, str, bool]],
    hosts: str,
    termination: tuple[str, str],
    readonly_root: bool,
    uid: int,
    gid: int,
    fs_group: int | None,
    workdir: str,
    hostname: str,
    keep: list[str] | None = None,
) -> str:
    """Runs as root in the pod's network namespace and a private mount namespace (`ip netns
    exec` makes one, slave to the host's), sets up the container's filesystem view, then execs the
    container's argv ("$@") as its user, with no new privileges and no capabilities."""
    q = shlex.quote
    r = q(str(root))
    opens, binds = keep_host_paths_lines(keep or [], mount="/bin/mount")
    lines = [
        "set -eu",
        *opens,
        f"/bin/hostname {q(hostname)}",  # its own UTS namespace: the pod's name
        # /dev as a container runtime makes it: a small tmpfs with the usual devices.
        f"/bin/mount -t tmpfs -o mode=755,size=1m,nosuid tmpfs {r}/dev",
        f"for d in null zero full random urandom tty; do : > {r}/dev/$d; "
        f"/bin/mount --bind /dev/$d {r}/dev/$d; done",
        f"mkdir {r}/dev/shm {r}/dev/pts",
        f"/bin/mount -t tmpfs -o mode=1777,size=64m,nosuid,nodev tmpfs {r}/dev/shm",
        f"ln -s /proc/self/fd {r}/dev/fd",
        f"ln -s /proc/self/fd/0 {r}/dev/stdin",
        f"ln -s /proc/self/fd/1 {r}/dev/stdout",
        f"ln -s /proc/self/fd/2 {r}/dev/stderr",
        f"/bin/mount --rbind {r}/dev /dev",
        f"/bin/mount --bind {q(hosts)} /etc/hosts",
    ]
    own_tmp = all(path != "/tmp" for _, path, _ in mounts)
    if own_tmp:  # the image's /tmp: empty, the pod's own, part of its root filesystem
        lines.append(f"/bin/mount --bind {r}/tmp /tmp")
    src, target = termination
    lines += [
        f"mkdir -p $(dirname {q(target)}) && [ -e {q(target)} ] || : > {q(target)}",
        f"/bin/mount --bind {q(src)} {q(target)}",
    ]
    for source, path, ro in mounts:
        is_file = Path(source).is_file()
        prepare = f": > {q(path)}" if is_file else f"mkdir -p {q(path)}"
        lines.append(f"[ -e {q(path)} ] || {prepare}")
        lines.append(f"/bin/mount --bind {q(source)} {q(path)}")
        if ro:
            lines.append(f"/bin/mount -o remount,bind,ro {q(path)}")
    lines.extend(binds)
    if readonly_root:
        lines.append("/bin/mount -o remount,bind,ro /")
        if own_tmp:
            lines.append("/bin/mount -o remount,bind,ro /tmp")
    groups = f"--groups {int(fs_group)}" if fs_group is not None else "--clear-groups"
    lines += [
        f"cd {q(workdir)}",
        f"exec /usr/bin/setpriv --reuid {uid} --regid {gid} {groups} --no-new-privs "
        f'--inh-caps=-all --bounding-set=-all -- "$@"',
    ]
    return "\n".join(lines) + "\n"

"""A container of a pod spec, started as a local process the way a kubelet would start it.

- The command is Kubernetes' combination of the container's `command`/`args` with the image's
  ENTRYPOINT/CMD (`images`); the environment is the image's ENV, the API Service's variables
  (`KUBERNETES_SERVICE_HOST`/`_PORT`, ... pointing at the front), `HOSTNAME`, then the
  container's `env` with `valueFrom` resolved (fieldRef, resourceFieldRef; secretKeyRef and
  configMapKeyRef through `lookup`) and `$(VAR)` references expanded.
- It runs in a private mount namespace (`unshare -m`): the service-account files bind-mounted
  at /var/run/secrets/kubernetes.io/serviceaccount, every emptyDir a fresh directory at its
  mountPath, the termination-message file at its terminationMessagePath, any extra mounts the
  caller gives (a hosts file at /etc/hosts, ...). A mount point missing on this machine is made
  in an overlay of its nearest existing parent, so the machine's own tree is never written.
  With `readOnlyRootFilesystem` the root is remounted read-only, as in the pod.
- It runs as the securityContext's user and groups (else the image's USER), with no new
  privileges when `allowPrivilegeEscalation: false`, the capability bounding set the
  securityContext leaves, in its own process group, and dies with the test process.
- Pods share the host's network; each has its own loopback address as its pod IP. A wildcard
  listen address (`0.0.0.0`, `::`) in env or args becomes the pod IP, and the pods' Python binds
  the pod IP for a wildcard bind (podnet/sitecustomize.py), as a pod's own network namespace
  would confine it. Service links (`<SVC>_SERVICE_HOST` of other Services) are not injected.

The harness's own additions to a pod's environment: PYTHONPATH (podnet/, then the test
process's PYTHONPATH, so a run against another checkout runs that checkout's code; paths under
/tmp are hidden in pods that mount an emptyDir at /tmp, so keep such checkouts elsewhere, e.g.
/var/tmp) and INPOD_POD_IP.

Needs root (mount namespaces, bind mounts, changing user): `can_launch()` says why not.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import die_with_parent

from .authn import SERVICE_ACCOUNT_DIR
from .front import ApiEndpoint
from .images import ImageConfig, image_config

#: (kind "Secret"/"ConfigMap", namespace, name, key) -> the value, or None if absent.
Lookup = Callable[[str, str, str, str], str | None]

PODNET = Path(__file__).resolve().parent / "podnet"
WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", "[::]"})
DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
#: The capabilities a container runtime (containerd) grants by default.
DEFAULT_CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
)  # fmt: skip
_TOOLS = ("unshare", "mount", "setpriv", "mkdir", "touch")


class PodStartError(RuntimeError):
    """The kubelet would not start this container (the message says why, as it would)."""


def can_launch() -> str | None:
    """None when pods can be launched here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "the in-pod harness needs root (mount namespaces and bind mounts, as in CI)"
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        return f"the in-pod harness needs {', '.join(missing)} (util-linux, coreutils)"
    return None


@dataclass(frozen=True)
class Mount:
    """A host path (file or directory) seen at `target` inside the pod."""

    source: Path
    target: str
    read_only: bool = False


# --- the environment --------------------------------------------------------------------

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` is a literal `$`."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REFERENCE.sub(one, value)


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIXES = {
    "": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip


def quantity(value: str | int | float) -> float:
    """A resource quantity (`100m`, `512Mi`, `2`) as a number."""
    match = _QUANTITY.match(str(value))
    if match is None or match.group(2) not in _SUFFIXES:
        raise ValueError(f"not a quantity: {value!r}")
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


def _node_capacity(resource: str) -> float:
    if resource.endswith("cpu"):
        return float(os.cpu_count() or 1)
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _field_ref(path: str, pod: Mapping[str, Any], pod_ip: str) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    values = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", "inpod-node"),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.hostIP": "127.0.0.1",
        "status.hostIPs": "127.0.0.1",
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
    }
    if path not in values:
        raise PodStartError(f"unsupported fieldRef {path!r}")
    return str(values[path])


def _resource_ref(ref: Mapping[str, Any], container: Mapping[str, Any]) -> str:
    kind, _, resource = str(ref["resource"]).partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(resource)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(resource)
    amount = quantity(value) if value is not None else _node_capacity(resource)
    divisor = quantity(ref.get("divisor", "1"))
    return str(math.ceil(amount / divisor))


def _value_from(
    source: Mapping[str, Any],
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    pod_ip: str,
    lookup: Lookup | None,
) -> str | None:
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    if "fieldRef" in source:
        return _field_ref(source["fieldRef"]["fieldPath"], pod, pod_ip)
    if "resourceFieldRef" in source:
        return _resource_ref(source["resourceFieldRef"], container)
    for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
        if key in source:
            ref = source[key]
            found = lookup(kind, namespace, ref["name"], ref["key"]) if lookup else None
            if found is None and not ref.get("optional"):
                raise PodStartError(
                    f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']}"
                )
            return found
    raise PodStartError(f"unsupported valueFrom {sorted(source)}")


def service_env(api: ApiEndpoint) -> dict[str, str]:
    """The variables every pod gets for the `kubernetes` Service in `default`."""
    host, port = api.host, str(api.port)
    url = f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": url,
        f"KUBERNETES_PORT_{port}_TCP": url,
        f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{port}_TCP_PORT": port,
        f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
    }


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    *,
    image: ImageConfig,
    api: ApiEndpoint,
    pod_ip: str,
    lookup: Lookup | None = None,
) -> dict[str, str]:
    """The environment the container's process gets (without the harness's own plumbing)."""
    declared: dict[str, str] = dict(service_env(api))
    if container.get("envFrom"):
        raise PodStartError("envFrom is not supported by this harness")
    for entry in container.get("env") or []:
        if "valueFrom" in entry:
            value = _value_from(entry["valueFrom"], pod, container, pod_ip, lookup)
            if value is None:
                continue
        else:
            value = expand(str(entry.get("value", "")), declared)
        declared[entry["name"]] = value
    env = {**image.env, "HOSTNAME": str(pod["metadata"]["name"]), "HOME": image.home}
    env.update(declared)
    return {k: (pod_ip if v in WILDCARD_ADDRESSES else v) for k, v in env.items()}


def container_command(
    container: Mapping[str, Any], image: ImageConfig, env: Mapping[str, str], pod_ip: str
) -> list[str]:
    """Kubernetes' rule: `command` replaces ENTRYPOINT (and drops CMD), `args` replaces CMD."""
    command = container.get("command")
    args = container.get("args")
    if command:
        argv = [*command, *(args or [])]
    else:
        argv = [*image.entrypoint, *(args if args is not None else image.cmd)]
    if not argv:
        raise PodStartError(f'container "{container.get("name")}": no command specified')
    argv = [expand(str(a), env) for a in argv]
    return [pod_ip if a in WILDCARD_ADDRESSES else a for a in argv]


# --- the user, groups and capabilities ----------------------------------------------------


def _identity(
    pod: Mapping[str, Any], container: Mapping[str, Any], image: ImageConfig
) -> tuple[int, int, list[int]]:
    pod_ctx = (pod.get("spec") or {}).get("securityContext") or {}
    ctx = container.get("securityContext") or {}
    image_uid, image_gid = image.uid_gid()
    uid = ctx.get("runAsUser", pod_ctx.get("runAsUser", image_uid))
    gid = ctx.get("runAsGroup", pod_ctx.get("runAsGroup", image_gid))
    non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
    if non_root and uid == 0:
        raise PodStartError(
            f"container has runAsNonRoot and image will run as root (pod: "
            f'"{pod["metadata"]["name"]}", container: {container["name"]})'
        )
    groups = [g for g in [pod_ctx.get("fsGroup"), *(pod_ctx.get("supplementalGroups") or [])]
              if g is not None]  # fmt: skip
    return int(uid), int(gid), [int(g) for g in groups]


def _setpriv(pod: Mapping[str, Any], container: Mapping[str, Any], image: ImageConfig) -> list[str]:
    uid, gid, groups = _identity(pod, container, image)
    ctx = container.get("securityContext") or {}
    caps = ctx.get("capabilities") or {}
    drop = {c.upper() for c in caps.get("drop") or []}
    add = {c.upper() for c in caps.get("add") or []}
    keep = set() if "ALL" in drop else set(DEFAULT_CAPABILITIES) - drop
    keep |= add
    bounding = ",".join(["-all", *(f"+{c.lower()}" for c in sorted(keep))])
    argv = [
        shutil.which("setpriv") or "setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups",
        f"--bounding-set={bounding}",
        "--inh-caps=-all",
        "--pdeathsig=SIGKILL",  # set after the user change, which clears the parent's setting
    ]
    if ctx.get("allowPrivilegeEscalation") is False or ctx.get("privileged") is False:
        argv.append("--no-new-privs")
    return argv


# --- the mount namespace ----------------------------------------------------------------


def _nearest_existing(path: str) -> str:
    current = Path(path)
    while not current.exists():
        current = current.parent
    return str(current)


def _submounts(root: str) -> list[str]:
    """Top-level mount points strictly below `root` (to be carried over an overlay of it)."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point != root and point.startswith(root.rstrip("/") + "/"):
                points.append(point)
    points.sort()
    top: list[str] = []
    for point in points:
        if not any(point.startswith(t.rstrip("/") + "/") or point == t for t in top):
            top.append(point)
    return top


def mount_script(
    mounts: Sequence[Mount],
    scratch: Path,
    *,
    read_only_root: bool,
    workdir: str,
    keep: Sequence[str] = (),
) -> list[str]:
    """Shell lines that build the pod's view of the file system inside the mount namespace;
    `keep`: host paths the pod's process runs from, bound back if the pod's mounts hide them."""
    q = shlex.quote
    opens, binds = keep_host_paths_lines(keep)
    lines = ["set -e", *opens]
    missing = [m for m in mounts if not Path(m.target).exists()]
    overlays = sorted({_nearest_existing(m.target) for m in missing}, key=lambda p: p.count("/"))
    for i, lower in enumerate(overlays):
        upper, work = scratch / f"overlay-{i}" / "upper", scratch / f"overlay-{i}" / "work"
        upper.mkdir(parents=True)
        work.mkdir(parents=True)
        carried = _submounts(lower)
        for j, point in enumerate(carried):
            stage = scratch / f"overlay-{i}" / f"carried-{j}"
            stage.mkdir()
            lines.append(f"mount --rbind {q(point)} {q(str(stage))}")
        lines.append(
            f"mount -t overlay overlay -o lowerdir={q(lower)},upperdir={q(str(upper))},"
            f"workdir={q(str(work))} {q(lower)}"
        )
        for j, point in enumerate(carried):
            stage = scratch / f"overlay-{i}" / f"carried-{j}"
            lines.append(f"mount --move {q(str(stage))} {q(point)}")
    for m in missing:
        if m.source.is_dir():
            lines.append(f"mkdir -p {q(m.target)}")
        else:
            lines.append(f"mkdir -p {q(str(Path(m.target).parent))} && touch {q(m.target)}")

    # A mount that hides another mount's source (an emptyDir at /tmp) goes after it.
    def hides_a_source(m: Mount) -> bool:
        return any(
            str(o.source).startswith(m.target.rstrip("/") + "/") for o in mounts if o is not m
        )

    for m in sorted(mounts, key=lambda m: (hides_a_source(m), m.target.count("/"))):
        lines.append(f"mount --bind {q(str(m.source))} {q(m.target)}")
        if m.read_only:
            lines.append(f"mount -o remount,bind,ro {q(m.target)}")
    lines.extend(binds)
    if read_only_root:
        lines.append("mount -o remount,bind,ro /")
        lines.extend(f"mount -o remount,bind,ro {q(lower)}" for lower in overlays)
    lines.append(f"cd {q(workdir)}")
    return lines


# --- the process ------------------------------------------------------------------------


class PodProcess:
    """One running container: its process group, its files on this machine, its outcome."""

    def __init__(
        self,
        name: str,
        namespace: str,
        container: str,
        pod_ip: str,
        proc: subprocess.Popen[bytes],
        log_path: Path,
        termination_path: Path,
        volumes: dict[str, Path],
        argv: list[str],
        env: dict[str, str],
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.container = container
        self.pod_ip = pod_ip
        self.proc = proc
        self.log_path = log_path
        self.termination_path = termination_path
        self.volumes = volumes
        self.argv = argv
        self.env = env

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout=timeout)

    def terminate(self) -> None:
        """SIGTERM to the process group (a pod's deletion begins); `stop` waits for it."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the process group, SIGKILL after `grace` seconds (a pod's deletion)."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
        self._signal(signal.SIGKILL)  # whatever the container left behind in its group

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a node dies."""
        self._signal(signal.SIGKILL)
        self.proc.wait()

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def logs(self, tail: int = 8000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-tail:]
        except OSError:
            return ""

    def termination_message(self) -> str:
        """What the container wrote to its terminationMessagePath (the kubelet reads 4 KiB)."""
        try:
            return self.termination_path.read_bytes()[:4096].decode("utf-8", "replace")
        except OSError:
            return ""


def _pythonpath(extra: Iterable[str]) -> str:
    parts = [str(PODNET), *extra]
    return os.pathsep.join(p for p in parts if p)


# A pod mounts its own /tmp (an emptyDir, or the image's), which hides this machine's /tmp; the
# checkout, its virtualenv and PYTHONPATH may lie there (CI clones wherever it likes), so each is
# opened before the pod's mounts and bound back at its own path after them.
_TMP = "/tmp/"
_KEEP_FDS = (7, 8, 9)  # /bin/sh (dash) redirects single-digit descriptors only
_REPO_ROOT = Path(__file__).resolve().parents[3]


def kept_host_paths(extra: Iterable[str] = ()) -> list[str]:
    """The top-most of the checkout, sys.prefix and `extra` that lie under /tmp."""
    under = {
        os.path.realpath(p)
        for p in (str(_REPO_ROOT), sys.prefix, *extra)
        if p and os.path.isabs(p) and os.path.realpath(p).startswith(_TMP)
    }
    top = sorted(p for p in under if not any(p.startswith(t + "/") for t in under))
    if len(top) > len(_KEEP_FDS):
        raise PodStartError(f"too many paths under /tmp for the pods to keep: {top}")
    return top


def keep_host_paths_lines(
    paths: Sequence[str], mount: str = "mount"
) -> tuple[list[str], list[str]]:
    """Shell lines: those that open `paths` before the pod's mounts, and those that bind each
    back at its own path after them (through the open descriptor: the path itself is hidden)."""
    q = shlex.quote
    pairs = list(zip(_KEEP_FDS, paths, strict=False))
    opens = [f"exec {fd}<{q(path)}" for fd, path in pairs]
    binds = [
        line
        for fd, path in pairs
        for line in (
            f"mkdir -p {q(path)}",
            f"{mount} --no-canonicalize --bind /proc/self/fd/{fd} {q(path)}",
            f"exec {fd}<&-",
        )
    ]
    return opens, binds


def launch_pod(
    pod: Mapping[str, Any],
    *,
    api: ApiEndpoint,
    pod_ip: str,
    workdir: Path,
    credentials: Path | None = None,
    container: str | None = None,
    extra_mounts: Sequence[Mount] = (),
    lookup: Lookup | None = None,
) -> PodProcess:
    """Start one container of a Pod-shaped object (metadata + spec) as a kubelet would.

    `credentials` is the service account's directory (token, ca.crt, namespace), mounted
    unless the pod sets `automountServiceAccountToken: false`; `workdir` (created) holds the
    emptyDirs, the termination-message file, the overlays and `<container>.log`.
    """
    spec = pod.get("spec") or {}
    containers = {c["name"]: c for c in spec.get("containers") or []}
    if not containers:
        raise PodStartError("the pod has no containers")
    chosen = containers[container] if container else next(iter(containers.values()))
    image = image_config(str(chosen.get("image")))
    workdir.mkdir(parents=True, exist_ok=True)

    env = container_env(pod, chosen, image=image, api=api, pod_ip=pod_ip, lookup=lookup)
    argv = container_command(chosen, image, env, pod_ip)
    # The harness's plumbing: the pods' Python (and, for a run against another checkout, the
    # test process's PYTHONPATH, so the pod runs that checkout's code) and the pod IP.
    env["PYTHONPATH"] = _pythonpath([os.environ.get("PYTHONPATH", "")])
    env["INPOD_POD_IP"] = pod_ip

    mounts: list[Mount] = []
    volumes: dict[str, Path] = {}
    for volume in spec.get("volumes") or []:
        if "emptyDir" in volume:
            path = workdir / "volumes" / volume["name"]
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o777)  # an emptyDir is world-writable
            volumes[volume["name"]] = path
    for mount in chosen.get("volumeMounts") or []:
        if mount["name"] not in volumes:
            raise PodStartError(f'volume "{mount["name"]}": only emptyDir volumes are supported')
        source = volumes[mount["name"]]
        if mount.get("subPath"):
            source = source / mount["subPath"]
            source.mkdir(parents=True, exist_ok=True)
        mounts.append(Mount(source, mount["mountPath"], bool(mount.get("readOnly"))))
    if credentials is not None and spec.get("automountServiceAccountToken", True):
        mounts.append(Mount(credentials, SERVICE_ACCOUNT_DIR, read_only=True))
    termination = workdir / "termination-log"
    termination.write_bytes(b"")
    termination.chmod(0o666)
    mounts.append(
        Mount(
            termination,
            str(chosen.get("terminationMessagePath") or DEFAULT_TERMINATION_MESSAGE_PATH),
        )
    )
    mounts.extend(extra_mounts)

    ctx = chosen.get("securityContext") or {}
    script = mount_script(
        mounts,
        workdir / "fs",
        read_only_root=bool(ctx.get("readOnlyRootFilesystem")),
        workdir=str(chosen.get("workingDir") or image.workdir),
        keep=kept_host_paths(os.environ.get("PYTHONPATH", "").split(os.pathsep)),
    )
    privileges = _setpriv(pod, chosen, image)
    script.append("exec " + " ".join(shlex.quote(a) for a in [*privileges, "--", *argv]))
    (workdir / "start.sh").write_text("\n".join(script) + "\n")

    log_path = workdir / f"{chosen['name']}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                shutil.which("unshare") or "unshare",
                "--mount",
                "--propagation=private",
                "--",
                "/bin/sh",
                "-c",
                "\n".join(script),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    meta = pod.get("metadata") or {}
    return PodProcess(
        name=str(meta.get("name")),
        namespace=str(meta.get("namespace", "default")),
        container=str(chosen["name"]),
        pod_ip=pod_ip,
        proc=proc,
        log_path=log_path,
        termination_path=termination,
        volumes=volumes,
        argv=argv,
        env=env,
    )

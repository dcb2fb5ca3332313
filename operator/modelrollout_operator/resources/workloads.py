"""Pod templates the operator creates, made to run under Pod Security "restricted" (pure).

Applied to every pod template in manifests.py (training Job, serving Deployments): the chart's
pod and container securityContext (operator setting `workloads`) with the "restricted" fields
forced on top, so a values override can add but never weaken them; a read-only root
filesystem with an emptyDir wherever a runtime writes; the chart's imagePullSecrets; default
CPU/memory requests for containers that name none; and no API token in pods that do not call
the API.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from ..settings import WorkloadSettings

# What "restricted" (Pod Security Standards, latest) requires; forced whatever the settings say.
RESTRICTED_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER: dict[str, Any] = {
    "privileged": False,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
DEFAULT_USER = 10001

# Writable places every runtime gets: /tmp (tempfile, the trainer's work dir, the single-version
# server's artifact cache) and HOME pointed at it (library caches: torch, Triton).
SCRATCH: dict[str, str] = {"tmp": "/tmp"}


def _merged(base: Mapping[str, Any], forced: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in forced.items():
        out[key] = copy.deepcopy(value)
    return out


def _pod_security(settings: WorkloadSettings) -> dict[str, Any]:
    pod = _merged(settings.pod_security_context, RESTRICTED_POD)
    # runAsNonRoot is checked by the kubelet against the image's USER; a numeric non-zero user
    # makes it hold for images that run as root by default (Triton's).
    if not pod.get("runAsUser"):
        pod["runAsUser"] = DEFAULT_USER
    if not pod.get("runAsGroup"):
        pod["runAsGroup"] = DEFAULT_USER
    return pod


def _container(
    container: Mapping[str, Any],
    settings: WorkloadSettings,
    scratch: Mapping[str, str],
) -> dict[str, Any]:
    out = copy.deepcopy(dict(container))
    context = _merged(settings.container_security_context, RESTRICTED_CONTAINER)
    drop = sorted(set(context["capabilities"].get("drop", [])) | {"ALL"})
    context["capabilities"] = {"drop": drop}  # "restricted" allows adding NET_BIND_SERVICE only
    if context.get("runAsUser") == 0:
        context.pop("runAsUser")
    out["securityContext"] = _merged(out.get("securityContext") or {}, context)
    resources = copy.deepcopy(out.get("resources") or {})
    requests = dict(resources.get("requests") or {})
    for key, value in (settings.resources.get("requests") or {}).items():
        requests.setdefault(key, value)
    if requests:
        resources["requests"] = requests
    limits = dict(resources.get("limits") or {})
    for key, value in (settings.resources.get("limits") or {}).items():
        limits.setdefault(key, value)
    if limits:
        resources["limits"] = limits
    out["resources"] = resources
    mounts = list(out.get("volumeMounts") or [])
    taken = {m.get("mountPath") for m in mounts}
    for volume, path in scratch.items():
        if path not in taken:
            mounts.append({"name": volume, "mountPath": path})
    out["volumeMounts"] = mounts
    env = list(out.get("env") or [])
    if not any(e.get("name") == "HOME" for e in env) and "tmp" in scratch:
        env.append({"name": "HOME", "value": scratch["tmp"]})
    out["env"] = env
    return out


def restricted_pod_spec(
    pod_spec: Mapping[str, Any],
    settings: WorkloadSettings,
    *,
    scratch: Mapping[str, str] | None = None,
    service_account: str | None = None,
) -> dict[str, Any]:
    """`pod_spec` hardened for "restricted", with scratch emptyDirs ({volume name: mount path}).

    `service_account`: run as it (the API token mounted, for the workload's own data access);
    None: the namespace's default account and no token mounted.
    """
    scratch = dict(SCRATCH if scratch is None else scratch)
    out = copy.deepcopy(dict(pod_spec))
    out["securityContext"] = _merged(out.get("securityContext") or {}, _pod_security(settings))
    for key in ("initContainers", "containers"):
        if out.get(key):
            out[key] = [_container(c, settings, scratch) for c in out[key]]
    volumes = list(out.get("volumes") or [])
    named = {v.get("name") for v in volumes}
    for volume in scratch:
        if volume not in named:
            volumes.append({"name": volume, "emptyDir": {"sizeLimit": settings.scratch_size_limit}})
    out["volumes"] = volumes
    secrets: Sequence[Mapping[str, str]] = settings.image_pull_secrets
    if secrets:
        have = list(out.get("imagePullSecrets") or [])
        out["imagePullSecrets"] = have + [dict(s) for s in secrets if s not in have]
    if service_account:
        out["serviceAccountName"] = service_account
    else:
        out["automountServiceAccountToken"] = False
    return out

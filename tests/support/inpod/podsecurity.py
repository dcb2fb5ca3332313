"""Pod Security Standards, profile "restricted" (latest): the field checks of the policy.

Pure functions over a pod spec. Each failed check gives kube-apiserver's wording, e.g.
`allowPrivilegeEscalation != false (container "trainer" must set
securityContext.allowPrivilegeEscalation=false)`, and `violation_message` joins them as the
PodSecurity admission plugin does: `violates PodSecurity "restricted:latest": ...`.
The restricted profile includes the baseline one; where restricted is stricter (volume types,
capabilities, seccomp) its check replaces the baseline one, as in the upstream policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

#: The label that makes a namespace enforce a level.
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
LEVEL = "restricted:latest"

ALLOWED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
ALLOWED_SECCOMP = ("RuntimeDefault", "Localhost")
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)

Spec = Mapping[str, Any]


def containers(spec: Spec) -> Iterator[Mapping[str, Any]]:
    """Init, regular and ephemeral containers, in the order the policy visits them."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _ctx(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return container.get("securityContext") or {}


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _containers_phrase(names: Sequence[str], prefix: str = "") -> str:
    noun = "container" if len(names) == 1 else "containers"
    return f"{prefix}{noun} {_quoted(names)}"


def _verb(names: Sequence[str], singular: str, plural: str) -> str:
    return singular if len(names) == 1 else plural


def _allow_privilege_escalation(spec: Spec) -> str | None:
    bad = [
        c["name"] for c in containers(spec) if _ctx(c).get("allowPrivilegeEscalation") is not False
    ]
    if not bad:
        return None
    return (
        f"allowPrivilegeEscalation != false ({_containers_phrase(bad)} must set "
        "securityContext.allowPrivilegeEscalation=false)"
    )


def _capabilities(spec: Spec) -> str | None:
    no_drop: list[str] = []
    adds: list[str] = []
    for c in containers(spec):
        caps = _ctx(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            no_drop.append(c["name"])
        extra = [a for a in caps.get("add") or [] if a not in ALLOWED_ADDED_CAPABILITIES]
        if extra:
            adds.append(f'container "{c["name"]}" must not include {_quoted(extra)} in '
                        "securityContext.capabilities.add")  # fmt: skip
    details = []
    if no_drop:
        details.append(
            f'{_containers_phrase(no_drop)} must set securityContext.capabilities.drop=["ALL"]'
        )
    details.extend(adds)
    return f"unrestricted capabilities ({'; '.join(details)})" if details else None


def _host_namespaces(spec: Spec) -> str | None:
    set_ = [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    return f"host namespaces ({', '.join(set_)})" if set_ else None


def _host_ports(spec: Spec) -> str | None:
    details = []
    for c in containers(spec):
        ports = [str(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")]
        if ports:
            noun = "hostPort" if len(ports) == 1 else "hostPorts"
            details.append(f'container "{c["name"]}" uses {noun} {", ".join(ports)}')
    return f"hostPort ({'; '.join(details)})" if details else None


def _privileged(spec: Spec) -> str | None:
    bad = [c["name"] for c in containers(spec) if _ctx(c).get("privileged")]
    if not bad:
        return None
    return f"privileged ({_containers_phrase(bad)} must not set securityContext.privileged=true)"


def _proc_mount(spec: Spec) -> str | None:
    bad = [c["name"] for c in containers(spec) if _ctx(c).get("procMount") not in (None, "Default")]
    if not bad:
        return None
    return f'procMount ({_containers_phrase(bad)} must not set securityContext.procMount to "Unmasked")'


def _volume_types(spec: Spec) -> str | None:
    names: list[str] = []
    types: list[str] = []
    for volume in spec.get("volumes") or []:
        kinds = [k for k in volume if k != "name" and k not in ALLOWED_VOLUME_TYPES]
        if kinds:
            names.append(volume["name"])
            types.extend(k for k in kinds if k not in types)
    if not names:
        return None
    noun = "volume" if len(names) == 1 else "volumes"
    verb = _verb(names, "uses", "use")
    tnoun = "type" if len(types) == 1 else "types"
    return (
        f"restricted volume types ({noun} {_quoted(names)} {verb} "
        f"restricted volume {tnoun} {_quoted(types)})"
    )


def _run_as_non_root(spec: Spec) -> str | None:
    pod_value = (spec.get("securityContext") or {}).get("runAsNonRoot")
    details = []
    if pod_value is False:
        details.append("pod must not set securityContext.runAsNonRoot=false")
    explicit_false: list[str] = []
    unset: list[str] = []
    for c in containers(spec):
        value = _ctx(c).get("runAsNonRoot")
        if value is False:
            explicit_false.append(c["name"])
        elif value is None and pod_value is not True:
            unset.append(c["name"])
    if explicit_false:
        details.append(
            f"{_containers_phrase(explicit_false)} must not set securityContext.runAsNonRoot=false"
        )
    if unset and pod_value is None:
        details.append(
            f"{_containers_phrase(unset, 'pod or ')} must set securityContext.runAsNonRoot=true"
        )
    return f"runAsNonRoot != true ({'; '.join(details)})" if details else None


def _run_as_user(spec: Spec) -> str | None:
    details = []
    if (spec.get("securityContext") or {}).get("runAsUser") == 0:
        details.append("pod must not set runAsUser=0")
    bad = [c["name"] for c in containers(spec) if _ctx(c).get("runAsUser") == 0]
    if bad:
        details.append(f"{_containers_phrase(bad)} must not set runAsUser=0")
    return f"runAsUser=0 ({'; '.join(details)})" if details else None


def _seccomp(spec: Spec) -> str | None:
    pod_type = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    details = []
    if pod_type is not None and pod_type not in ALLOWED_SECCOMP:
        details.append(f'pod must not set securityContext.seccompProfile.type to "{pod_type}"')
    unset: list[str] = []
    for c in containers(spec):
        kind = (_ctx(c).get("seccompProfile") or {}).get("type")
        if kind is not None and kind not in ALLOWED_SECCOMP:
            details.append(
                f'container "{c["name"]}" must not set securityContext.seccompProfile.type '
                f'to "{kind}"'
            )
        elif kind is None and pod_type is None:
            unset.append(c["name"])
    if unset:
        details.append(
            f"{_containers_phrase(unset, 'pod or ')} must set "
            'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"'
        )
    return f"seccompProfile ({'; '.join(details)})" if details else None


def _sysctls(spec: Spec) -> str | None:
    sysctls = (spec.get("securityContext") or {}).get("sysctls") or []
    bad = [s["name"] for s in sysctls if s.get("name") not in SAFE_SYSCTLS]
    return f"forbidden sysctls ({', '.join(bad)})" if bad else None


CHECKS = (
    _allow_privilege_escalation,
    _capabilities,
    _host_namespaces,
    _host_ports,
    _privileged,
    _proc_mount,
    _volume_types,
    _run_as_non_root,
    _run_as_user,
    _seccomp,
    _sysctls,
)


def violations(spec: Spec) -> list[str]:
    """Every restricted check the pod spec fails, in kube-apiserver's words."""
    return [found for check in CHECKS if (found := check(spec)) is not None]


def violation_message(found: Sequence[str]) -> str:
    return f'violates PodSecurity "{LEVEL}": {", ".join(found)}'


def pod_spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec a Pod or a workload (Job, Deployment, CronJob, ...) carries, if any."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        return (spec.get("template") or {}).get("spec")
    if kind in (
        "Job",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "ReplicationController",
    ):
        return (spec.get("template") or {}).get("spec")
    return None

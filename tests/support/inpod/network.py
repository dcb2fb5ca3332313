"""Pod networking for the in-pod harness: one network namespace per pod on a private bridge.

Pods bind what their spec says (`--host 0.0.0.0 --port 8000` for every serving pod and the
gateway), so they cannot share the host's network: each gets a named network namespace with a
veth into a bridge this module creates (10.244.K.0/24, no uplink, no forwarding: traffic stays on
this machine). The host's address on the bridge (`host_ip`) is where harness servers that pods
must reach listen (the API front, S3, Prometheus). Service names resolve through a hosts file per
pod, kept current in place so a bind mount of it at /etc/hosts sees every update.

Needs root (ip, netns). A flock per bridge index marks it in use: a bridge left by a crashed run
(its lock free) is removed and reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"
PREFIX = "mrpod"
LOCKS = Path(tempfile.gettempdir()) / "modelrollout-inpod-net"


class NetworkError(RuntimeError):
    """The bridge or a pod's namespace could not be set up."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([IP, *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


@dataclass(frozen=True)
class PodAddress:
    pod: str  # "<namespace>/<name>"
    netns: str
    ip: str
    veth: str


def service_names(service: str, namespace: str) -> list[str]:
    """The names a Service answers to from a pod in another namespace (cluster DNS)."""
    return [
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def hosts_content(
    pod_ip: str,
    pod_name: str,
    pod_namespace: str,
    services: Mapping[tuple[str, str], Iterable[str]],
) -> str:
    """/etc/hosts for one pod: itself, and every Service with a ready endpoint.

    A Service's short name resolves only in its own namespace, as with cluster DNS search paths.
    """
    lines = [
        "# written by the in-pod harness's kubelet stand-in",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"{pod_ip}\t{pod_name}",
    ]
    for (namespace, service), ips in sorted(services.items()):
        names = service_names(service, namespace)
        if namespace == pod_namespace:
            names.insert(0, service)
        lines.extend(f"{ip}\t{' '.join(names)}" for ip in sorted(ips))
    return "\n".join(lines) + "\n"


class PodNetwork:
    """A private bridge, a network namespace per pod, and their hosts files."""

    def __init__(self) -> None:
        self.index = 0
        self.bridge = ""
        self.host_ip = ""
        self._lock: int | None = None
        self._pods: dict[str, PodAddress] = {}
        self._free = list(range(2, 255))
        self._dir = tempfile.TemporaryDirectory(prefix="inpod-net-")
        # pod -> (file, name, namespace, ip)
        self._hosts: dict[str, tuple[Path, str, str, str]] = {}
        self._services: dict[tuple[str, str], list[str]] = {}

    # -- the bridge ---------------------------------------------------------------------------

    def start(self) -> None:
        if os.geteuid() != 0:
            raise NetworkError("pod networking needs root (network namespaces, veth, bridge)")
        LOCKS.mkdir(exist_ok=True)
        routes = _ip("-4", "route", "show").stdout.splitlines()
        for k in range(10, 250):
            if any(r.startswith(f"10.244.{k}.") and f" dev {PREFIX}{k} " not in r for r in routes):
                continue  # a network of this machine's own
            fd = os.open(LOCKS / f"{k}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._lock, self.index = fd, k
            break
        else:
            raise NetworkError("no free 10.244.K.0/24 for a pod bridge")
        self.bridge = f"{PREFIX}{self.index}"
        self._remove_leftovers()
        self.host_ip = f"10.244.{self.index}.1"
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def _remove_leftovers(self) -> None:
        """What a crashed run with this index left: its namespaces and bridge."""
        for line in _ip("netns", "list", check=False).stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(f"{self.bridge}-"):
                _ip("netns", "del", name, check=False)
        _ip("link", "del", self.bridge, check=False)

    def close(self) -> None:
        for pod in list(self._pods):
            self.detach(pod)
        if self.bridge:
            _ip("link", "del", self.bridge, check=False)
            self.bridge = ""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        self._dir.cleanup()

    # -- pods -----------------------------------------------------------------------------------

    def attach(self, pod: str) -> PodAddress:
        """A network namespace for `pod` ("namespace/name") with an address on the bridge."""
        if pod in self._pods:
            return self._pods[pod]
        if not self._free:
            raise NetworkError("the pod bridge is out of addresses")
        n = self._free.pop(0)
        netns = f"{self.bridge}-{n}"
        veth = f"mrv{self.index}x{n}"
        address = PodAddress(pod=pod, netns=netns, ip=f"10.244.{self.index}.{n}", veth=veth)
        try:
            _ip("netns", "add", netns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
            _ip("link", "set", veth, "master", self.bridge, "up")
            _ip("-n", netns, "addr", "add", f"{address.ip}/24", "dev", "eth0")
            _ip("-n", netns, "link", "set", "eth0", "up")
            _ip("-n", netns, "link", "set", "lo", "up")
            _ip("-n", netns, "route", "add", "default", "via", self.host_ip)
        except NetworkError:
            _ip("netns", "del", netns, check=False)
            _ip("link", "del", veth, check=False)
            self._free.append(n)
            raise
        self._pods[pod] = address
        return address

    def detach(self, pod: str) -> None:
        """Remove a pod's namespace (its processes must be gone) and free its address."""
        address = self._pods.pop(pod, None)
        self._hosts.pop(pod, None)
        if address is None:
            return
        _kill_netns_pids(address.netns)
        _ip("netns", "del", address.netns, check=False)
        _ip("link", "del", address.veth, check=False)
        self._free.append(int(address.ip.rsplit(".", 1)[1]))

    def address(self, pod: str) -> PodAddress | None:
        return self._pods.get(pod)

    # -- name resolution ------------------------------------------------------------------------

    def hosts_file(self, pod: str, ip: str | None = None) -> Path:
        """The pod's /etc/hosts (bind-mount it); rewritten in place as Services change.

        `ip`: the address of a pod that runs outside this network (on the host's network).
        """
        if pod not in self._hosts:
            own = self._pods[pod].ip if pod in self._pods else ip
            if own is None:
                raise NetworkError(f"{pod} is not attached and no ip was given")
            namespace, _, name = pod.partition("/")
            path = Path(self._dir.name) / f"{namespace}_{name}.hosts"
            path.write_text(hosts_content(own, name, namespace, self._services))
            path.chmod(0o644)
            self._hosts[pod] = (path, name, namespace, own)
        return self._hosts[pod][0]

    def set_services(self, services: Mapping[tuple[str, str], Iterable[str]]) -> None:
        """(namespace, service) -> IPs of its ready endpoints; updates every pod's hosts file."""
        fresh = {key: sorted(ips) for key, ips in services.items() if ips}
        if fresh == self._services:
            return
        self._services = fresh
        for path, name, namespace, ip in list(self._hosts.values()):
            text = hosts_content(ip, name, namespace, fresh)
            # In place (same inode): a bind mount keeps the inode it was made with.
            with path.open("r+") as handle:
                handle.seek(0)
                handle.write(text)
                handle.truncate()

    @property
    def services(self) -> dict[tuple[str, str], list[str]]:
        return dict(self._services)


def _kill_netns_pids(netns: str) -> None:
    pids = _ip("netns", "pids", netns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)

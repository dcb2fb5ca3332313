"""The in-pod harness assembled: emulator + API front + chart RBAC + service accounts + pods.

`Harness` is what the tests in tests/inpod use: it renders nothing itself (it is given a
`RenderedChart`), enforces that chart's RBAC at the front, writes each chart ServiceAccount's
projected files, launches the chart's Deployments as pods, and reads the front's record of
refused requests so a test fails naming what was refused (`assert_no_refusals`).
"""

from __future__ import annotations

import base64
import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.support.kubernetes import objects_of

from .authn import ServiceAccount, ServiceAccountFiles, TokenAuthenticator
from .chart import ROOT, RenderedChart
from .front import ApiFront, Record
from .pods import Mount, PodProcess, launch_pod
from .rbac import Authorizer
from .schemas import load_crds
from .tls import ClusterTLS

CRDS = sorted((ROOT / "crds").glob("*.yaml"))
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}

#: What a cluster administrator applying manifests may do (the tests' own writes).
ADMIN = ServiceAccount("kube-system", "inpod-admin")
ADMIN_RBAC: tuple[dict[str, Any], ...] = (
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "inpod-admin"},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "inpod-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "inpod-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": ADMIN.name, "namespace": ADMIN.namespace}],
    },
)  # fmt: skip


def random_pod_ip() -> str:
    """A loopback address for a pod, unlikely to be another run's (127.0.0.0/8 is all lo)."""
    return str(ipaddress.IPv4Address("127.0.0.0") + random.randint(2 << 16, (1 << 24) - 2))


@dataclass
class Harness:
    """One cluster: started with `start()`, torn down with `stop()` (pods first)."""

    emulator: Any
    chart: RenderedChart
    workdir: Path
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    tls: ClusterTLS = field(default_factory=ClusterTLS)
    authn: TokenAuthenticator = field(default_factory=TokenAuthenticator)
    pods: list[PodProcess] = field(default_factory=list)
    accounts: dict[ServiceAccount, ServiceAccountFiles] = field(default_factory=dict)
    front: ApiFront | None = None
    #: Where the front listens: the pods' KUBERNETES_SERVICE_HOST (`::1` for an IPv6 cluster).
    front_host: str = "127.0.0.1"

    async def start(self) -> None:
        self.namespaces.setdefault(self.chart.namespace, {})
        for crd_path in CRDS:
            crd = yaml.safe_load(crd_path.read_text())
            self.emulator.objects[
                "apiextensions.k8s.io/v1/customresourcedefinitions", None, crd["metadata"]["name"]
            ] = crd
        self.front = ApiFront(
            backend_url=str(self.emulator.url),
            tls=self.tls,
            authn=self.authn,
            authorizer=Authorizer([*self.chart.rbac(), *ADMIN_RBAC]),
            custom_resources=load_crds(CRDS),
            namespaces=self.namespaces,
            host=self.front_host,
        )
        await self.front.start()
        for doc in self.chart.of_kind("ServiceAccount"):
            meta = doc["metadata"]
            self.account(ServiceAccount(meta.get("namespace", self.chart.namespace), meta["name"]))
        self.account(ADMIN)

    async def stop(self) -> None:
        for pod in self.pods:  # every pod's deletion at once, then wait for each
            pod.terminate()
        for pod in self.pods:
            pod.stop(grace=5)
        if self.front is not None:
            await self.front.stop()

    def account(self, account: ServiceAccount) -> ServiceAccountFiles:
        """The account's projected files (token, ca.crt, namespace), made on first use."""
        if account not in self.accounts:
            root = self.workdir / "serviceaccounts" / account.namespace / account.name
            self.accounts[account] = ServiceAccountFiles(root, account, self.authn, self.tls.ca_pem)
        return self.accounts[account]

    def launch(
        self,
        component: str,
        *,
        replica: int = 0,
        extra_mounts: Sequence[Mount] = (),
    ) -> PodProcess:
        """Start the chart's `component` Deployment's pod, with its service account's files."""
        assert self.front is not None
        pod = self.chart.pod(component, replica)
        files = self.account(self.chart.service_account(component))
        process = launch_pod(
            pod,
            api=self.front.endpoint,
            pod_ip=random_pod_ip(),
            workdir=self.workdir / "pods" / pod["metadata"]["name"],
            credentials=files.root,
            extra_mounts=extra_mounts,
            lookup=self.lookup,
        )
        self.pods.append(process)
        return process

    def lookup(self, kind: str, namespace: str, name: str, key: str) -> str | None:
        """A key of a Secret or ConfigMap: the chart's own, else one in the emulator."""
        candidates = [
            d for d in self.chart.of_kind(kind)
            if d["metadata"]["name"] == name
            and d["metadata"].get("namespace", self.chart.namespace) == namespace
        ]  # fmt: skip
        for _, (ns, found_name, body) in enumerate(
            objects_of(self.emulator, "secrets" if kind == "Secret" else "configmaps")
        ):
            if (ns, found_name) == (namespace, name):
                candidates.append(body)
        for doc in candidates:
            if key in (doc.get("stringData") or {}):
                return str(doc["stringData"][key])
            if key in (doc.get("data") or {}):
                value = doc["data"][key]
                return base64.b64decode(value).decode() if kind == "Secret" else str(value)
        return None

    def session(self, account: ServiceAccount = ADMIN) -> aiohttp.ClientSession:
        """An HTTP client of the front authenticated as `account` (the admin by default)."""
        assert self.front is not None
        token = self.account(account).token
        return aiohttp.ClientSession(
            base_url=self.front.endpoint.url,
            headers={"Authorization": f"Bearer {token}"},
            connector=aiohttp.TCPConnector(ssl=self.tls.client_context()),
        )

    # --- what the front saw -------------------------------------------------------------

    def records_of(self, account: ServiceAccount | None) -> list[Record]:
        """Requests made as `account`; None: requests that did not authenticate."""
        assert self.front is not None
        user = account.username if account is not None else ""
        return [r for r in self.front.records if r.user == user]

    def refusals(self, account: ServiceAccount | None = None) -> list[Record]:
        """Refused requests (401, 403, 400, 422) of `account`, or of every account.

        Conflicts of optimistic concurrency (409, a failed resourceVersion test) are not
        refusals: clients retry them, as kopf does.
        """
        assert self.front is not None
        return [
            r
            for r in self.front.records
            if r.code in (400, 401, 403, 422)
            and r.reason != "Conflict"
            and (account is None or r.user == account.username)
        ]

    def assert_no_refusals(self, what: str = "") -> None:
        """Fail naming every request the front refused (401s first: no identity at all)."""
        found = sorted(self.refusals(), key=lambda r: r.code != 401)
        if found:
            lines = [f"  {r.code} {r.user or '<no valid token>'} {r.verb} {r.resource}"
                     f"{' in ' + r.namespace if r.namespace else ''}: {r.message}"
                     for r in found[:20]]  # fmt: skip
            raise AssertionError(
                f"the API front refused {len(found)} request(s){' ' + what if what else ''}:\n"
                + "\n".join(lines)
            )

    def describe(self) -> str:
        """Logs of every pod, for a failure message."""
        return "\n".join(f"=== pod {p.name} ({p.container})\n{p.logs(4000)}" for p in self.pods)

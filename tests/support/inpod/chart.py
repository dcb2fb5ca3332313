"""The chart as `helm template` renders it, read back as workloads and RBAC objects.

The harness never retypes what the chart says: the operator's and the gateway's command,
args, env, service account, ports and volumes come from the rendered Deployments, and the
RBAC the front enforces from the rendered (Cluster)Roles and bindings.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .authn import ServiceAccount

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "model-rollout"
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


def find_helm() -> str | None:
    """MODELROLLOUT_HELM, then .tools/bin/helm (scripts/setup.sh puts it there), then PATH."""
    for candidate in (os.environ.get("MODELROLLOUT_HELM"), str(ROOT / ".tools" / "bin" / "helm")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("helm")


class RenderError(RuntimeError):
    """helm could not render the chart (its message says why)."""


@dataclass(frozen=True)
class RenderedChart:
    """The documents of one `helm template` run, in the release namespace `namespace`."""

    documents: tuple[dict[str, Any], ...]
    namespace: str

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        """Copies of the documents of these kinds."""
        return [copy.deepcopy(d) for d in self.documents if d.get("kind") in kinds]

    def deployment(self, component: str) -> dict[str, Any]:
        """The Deployment labelled `app.kubernetes.io/component: <component>`."""
        found = [
            d
            for d in self.of_kind("Deployment")
            if (d["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == component
        ]
        if len(found) != 1:
            raise LookupError(f"expected one {component} Deployment, the chart has {len(found)}")
        return copy.deepcopy(found[0])  # the rendering stays as helm made it

    def pod(self, component: str, replica: int = 0) -> dict[str, Any]:
        """A Pod of the component's Deployment, named as its ReplicaSet would name it."""
        deployment = self.deployment(component)
        template = copy.deepcopy(deployment["spec"]["template"])
        name = deployment["metadata"]["name"]
        template_hash = hashlib.sha256(yaml.safe_dump(template).encode()).hexdigest()[:10]
        metadata = dict(template.get("metadata") or {})
        metadata.update(
            name=f"{name}-{template_hash}-{replica:05d}",
            namespace=deployment["metadata"].get("namespace", self.namespace),
        )
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}

    def service_account(self, component: str) -> ServiceAccount:
        deployment = self.deployment(component)
        spec = deployment["spec"]["template"]["spec"]
        namespace = deployment["metadata"].get("namespace", self.namespace)
        return ServiceAccount(namespace, spec.get("serviceAccountName") or "default")

    def rbac(self) -> list[dict[str, Any]]:
        return self.of_kind(*RBAC_KINDS)

    def without_verb(self, role_name_part: str, resource: str, verb: str) -> RenderedChart:
        """A copy whose Role/ClusterRole named *role_name_part* no longer grants `verb` on
        `resource` (`experiments/status`, ...) in any of its rules; LookupError if none did."""
        documents = copy.deepcopy(list(self.documents))
        removed = False
        for doc in documents:
            if doc.get("kind") not in ("Role", "ClusterRole"):
                continue
            if role_name_part not in doc["metadata"]["name"]:
                continue
            rules: list[dict[str, Any]] = []
            for rule in doc.get("rules") or []:
                resources, verbs = rule.get("resources") or [], rule.get("verbs") or []
                if resource not in resources or verb not in verbs:
                    rules.append(rule)
                    continue
                removed = True
                others = [r for r in resources if r != resource]
                if others:  # the other resources keep every verb
                    rules.append({**rule, "resources": others})
                rest = [v for v in verbs if v != verb]
                if rest:
                    rules.append({**rule, "resources": [resource], "verbs": rest})
            doc["rules"] = rules
        if not removed:
            raise LookupError(f"no role *{role_name_part}* grants {verb} on {resource}")
        return RenderedChart(tuple(documents), self.namespace)


def render(
    values: Sequence[str] = (),
    *,
    namespace: str = "mr-system",
    chart: Path = CHART,
    api_versions: Iterable[str] = (),
    release: str = "mr",
) -> RenderedChart:
    """`helm template <release> <chart> --namespace <namespace> --set <values>...`."""
    helm = find_helm()
    if helm is None:
        raise RenderError("helm not found: run tools/fetch_k8s_tools.sh (scripts/setup.sh does)")
    args = [helm, "template", release, str(chart), "--namespace", namespace]
    for value in values:
        args += ["--set", value]
    for api in api_versions:
        args += ["--api-versions", api]
    with tempfile.TemporaryDirectory(prefix="helm-home-") as home:
        # Offline and isolated from the user's repositories and plugins.
        env = {
            **os.environ,
            "HELM_CACHE_HOME": f"{home}/cache",
            "HELM_CONFIG_HOME": f"{home}/config",
            "HELM_DATA_HOME": f"{home}/data",
        }
        proc = subprocess.run(
            args, capture_output=True, text=True, env=env, check=False, timeout=60
        )
    if proc.returncode != 0:
        raise RenderError(proc.stderr.strip())
    documents = tuple(d for d in yaml.safe_load_all(proc.stdout) if d)
    return RenderedChart(documents, namespace)

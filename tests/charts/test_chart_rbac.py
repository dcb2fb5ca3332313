"""The chart's RBAC grants exactly what the code calls: nothing missing, nothing more.

What the operator's own client calls is read from its source (every `get/list/create/patch/
delete/event` on a `Resource`); what kopf needs is listed below with the reason. The rendered
(Cluster)Roles and bindings of each service account are flattened to (where, group, resource,
verb) and compared with that set, in cluster and in namespace scope. The in-pod tests
(tests/inpod) then run the processes against an API front that enforces these rules.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chart_helpers import ROOT, of_kind

from conftest import Render
from modelrollout_operator.k8s.client import CONFIGMAPS, HTTPROUTES, Resource
from modelrollout_operator.resources.manifests import owner_reference

OPERATOR = ROOT / "operator" / "modelrollout_operator"
# Not the operator process: the CLI's control verbs run with the user's own credentials, and
# local mode talks to no API server.
NOT_IN_THE_POD = ("cli", "local")
RELEASE = "mr-system"
CALLS = {"get": "get", "list": "list", "create": "create", "patch": "patch", "delete": "delete"}
# Routers keep the resource they write in an attribute (handlers/services.py passes these).
ROUTER_ATTRIBUTES = {"_configmaps": CONFIGMAPS, "_httproutes": HTTPROUTES}
# Calls whose resource is a loop variable: (file, variable) -> the resources it takes.
INDIRECT = {("handlers/versioning.py", "res"): ("SERVICES", "DEPLOYMENTS")}
# Resources written only in the gateway's (release) namespace.
RELEASE_ONLY = {("", "configmaps")}

Grant = tuple[str, str, str, str]  # (where: "cluster" or a namespace, group, resource, verb)


def _resources_of(module_name: str) -> dict[str, Resource]:
    module = importlib.import_module(module_name)
    found = {n: v for n, v in vars(module).items() if isinstance(v, Resource)}
    client = importlib.import_module("modelrollout_operator.k8s.client")
    found.update({n: v for n, v in vars(client).items() if isinstance(v, Resource)})
    return found


def _calls(path: Path) -> Iterator[tuple[str, str, str]]:
    """(group, resource[/subresource], verb) of every API call in one source file."""
    relative = path.relative_to(OPERATOR).as_posix()
    module = "modelrollout_operator." + relative.removesuffix(".py").replace("/", ".")
    resources = _resources_of(module.removesuffix(".__init__"))
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
            node.func, "id", None
        )  # fmt: skip
        if name == "event" and isinstance(node.func, ast.Attribute) and len(node.args) == 4:
            yield ("", "events", "create")  # KubeClient.event(involved, type, reason, message)
            continue
        if name not in CALLS or not node.args:
            continue
        first = node.args[0]
        targets: list[Resource] = []
        if isinstance(first, ast.Name) and first.id in resources:
            targets = [resources[first.id]]
        elif isinstance(first, ast.Attribute) and first.attr in ROUTER_ATTRIBUTES:
            targets = [ROUTER_ATTRIBUTES[first.attr]]
        elif isinstance(first, ast.Name) and (relative, first.id) in INDIRECT:
            targets = [resources[n] for n in INDIRECT[(relative, first.id)]]
        else:
            continue  # dict.get, list(...), ...: not an API call
        sub = next(
            (k.value.value for k in node.keywords
             if k.arg == "subresource" and isinstance(k.value, ast.Constant)),
            None,
        )  # fmt: skip
        for res in targets:
            yield (res.group, f"{res.plural}/{sub}" if sub else res.plural, CALLS[name])


def operator_code_calls() -> set[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = set()
    for path in sorted(OPERATOR.rglob("*.py")):
        if path.relative_to(OPERATOR).parts[0] in NOT_IN_THE_POD:
            continue
        found |= set(_calls(path))
    return found


def kopf_needs() -> set[tuple[str, str, str]]:
    """What kopf itself calls in the watched namespaces for our handlers."""
    needs = set()
    for plural in ("modelversions", "experiments", "models"):
        needs |= {
            ("modelrollout.dev", plural, "list"),  # its watch starts with a list
            ("modelrollout.dev", plural, "watch"),
            # the daemons' finalizer and the progress annotations (handlers/starting.py)
            ("modelrollout.dev", plural, "patch"),
        }
    return needs


def admission_needs() -> set[tuple[str, str, str]]:
    """OwnerReferencesPermissionEnforcement: blockOwnerDeletion needs update on finalizers."""
    ref = owner_reference({"kind": "ModelVersion", "metadata": {"name": "m", "uid": "u"}})
    assert ref["blockOwnerDeletion"] is True  # Jobs, Deployments, Services a version owns
    return {("modelrollout.dev", "modelversions/finalizers", "update")}


def expected_operator(scope: str, watched: list[str], peering: bool) -> set[Grant]:
    namespaced = (operator_code_calls() | kopf_needs() | admission_needs()) - {
        c for c in operator_code_calls() if (c[0], c[1]) in RELEASE_ONLY
    }
    release = {c for c in operator_code_calls() if (c[0], c[1]) in RELEASE_ONLY}
    # kopf's resource observer: list and watch CRDs, in every scope.
    cluster = {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")}
    if scope == "namespace":
        # kopf's namespace observer runs whenever --namespace is given.
        cluster |= {("", "namespaces", "list"), ("", "namespaces", "watch")}
        where = watched
        if peering:  # --peering: the KopfPeering in each namespace, watched and touched
            namespaced |= {("kopf.dev", "kopfpeerings", v) for v in ("list", "watch", "patch")}
    else:
        where = ["cluster"]
        if peering:
            cluster |= {("kopf.dev", "clusterkopfpeerings", v) for v in ("list", "watch", "patch")}
    grants = {("cluster", *c) for c in cluster} | {(RELEASE, *c) for c in release}
    grants |= {(ns, *c) for ns in where for c in namespaced}
    return grants


def granted(docs: list[dict[str, Any]], service_account: str) -> set[Grant]:
    roles = {
        (r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"]): r
        for r in of_kind(docs, "Role") + of_kind(docs, "ClusterRole")
    }
    out: set[Grant] = set()
    for binding in of_kind(docs, "RoleBinding") + of_kind(docs, "ClusterRoleBinding"):
        subjects = binding.get("subjects") or []
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == service_account
            and s["namespace"] == RELEASE for s in subjects
        ):  # fmt: skip
            continue
        where = binding["metadata"]["namespace"] if binding["kind"] == "RoleBinding" else "cluster"
        ref = binding["roleRef"]
        ns = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
        role = roles[(ref["kind"], ns, ref["name"])]
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        out.add((where, group, resource, verb))
    return out


def test_the_code_scan_sees_the_calls_it_should() -> None:
    """The scan is not vacuous: known calls of each kind are found."""
    calls = operator_code_calls()
    assert ("batch", "jobs", "create") in calls
    assert ("modelrollout.dev", "modelversions/status", "patch") in calls
    assert ("", "pods", "list") in calls
    assert ("", "events", "create") in calls
    assert ("", "configmaps", "delete") in calls
    assert ("gateway.networking.k8s.io", "httproutes", "patch") in calls
    assert ("apps", "deployments", "create") in calls and ("", "services", "create") in calls


@pytest.mark.parametrize(
    ("values", "scope", "watched", "peering"),
    [
        pytest.param((), "cluster", [], False, id="cluster"),
        pytest.param(("operator.replicas=2",), "cluster", [], True, id="cluster-peering"),
        pytest.param(("rbac.scope=namespace",), "namespace", [RELEASE], False, id="namespace"),
        pytest.param(
            ("rbac.scope=namespace", "rbac.watchNamespaces={ml,research}", "operator.replicas=3"),
            "namespace",
            ["ml", "research"],
            True,
            id="namespaces-peering",
        ),
    ],
)
def test_operator_rules_are_exactly_what_the_code_calls(
    render: Render, values: tuple[str, ...], scope: str, watched: list[str], peering: bool
) -> None:
    docs = render(values)
    have = granted(docs, "mr-model-rollout-operator")
    want = expected_operator(scope, watched, peering)
    assert sorted(want - have) == [], "missing from the chart's RBAC"
    assert sorted(have - want) == [], "granted but never used"


@pytest.mark.parametrize("values", [(), ("rbac.scope=namespace",)], ids=["cluster", "namespace"])
def test_gateway_reads_only_configmaps_of_its_own_namespace(
    render: Render, values: tuple[str, ...]
) -> None:
    # modelrollout_inference/watching.py: one list, then a watch, of the namespace's ConfigMaps.
    source = (ROOT / "inference" / "modelrollout_inference" / "watching.py").read_text()
    assert 'f"/api/v1/namespaces/{self.namespace}/configmaps"' in source
    assert '"/api/v1/configmaps"' not in source
    docs = render(values)
    assert granted(docs, "mr-model-rollout-gateway") == {
        (RELEASE, "", "configmaps", "list"),
        (RELEASE, "", "configmaps", "watch"),
    }
    assert not [r for r in of_kind(docs, "ClusterRole") if "gateway" in r["metadata"]["name"]]


def test_every_rule_names_its_user_in_the_code() -> None:
    """Each rule of the operator's and gateway's roles carries a comment naming its user."""
    for template in ("_helpers.tpl", "operator-rbac.yaml", "gateway-rbac.yaml"):
        lines = (ROOT / "charts" / "model-rollout" / "templates" / template).read_text()
        lines_list = lines.splitlines()
        for i, line in enumerate(lines_list):
            if line.strip().startswith("- apiGroups:"):
                above = lines_list[i - 1].strip()
                assert above.startswith("#") or above.startswith("{{- if"), (template, line)

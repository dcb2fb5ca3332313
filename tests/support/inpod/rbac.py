"""RBAC authorization from (Cluster)Roles and (Cluster)RoleBindings, as kube-apiserver decides.

A ClusterRoleBinding grants its ClusterRole everywhere; a RoleBinding grants its Role (or a
ClusterRole) in its own namespace only. A rule matches when its verbs, API groups, resources
(`resource/subresource`, `*`, `*/subresource`) and resourceNames all match; non-resource
requests match `nonResourceURLs` (with a trailing `*` as a prefix). Every authenticated user
may read the discovery endpoints, as the built-in `system:discovery` ClusterRole allows.

Denials are worded as kube-apiserver words them, so a test failure names what is missing:
`User "system:serviceaccount:mr-system:mr-operator" cannot patch resource "experiments/status"
in API group "modelrollout.dev" in the namespace "ml"`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .authn import ServiceAccount
from .requestinfo import RequestInfo

Rule = Mapping[str, Any]

#: What `system:discovery` (bound to system:authenticated) allows.
DISCOVERY_URLS = (
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/readyz",
    "/version",
    "/version/",
    "/openapi",
    "/openapi/*",
)
DISCOVERY_RULE: Rule = {"nonResourceURLs": list(DISCOVERY_URLS), "verbs": ["get"]}


def _matches(values: Sequence[str] | None, wanted: str) -> bool:
    return values is not None and ("*" in values or wanted in values)


def _resource_matches(rule: Rule, info: RequestInfo) -> bool:
    combined = info.resource_and_subresource
    for resource in rule.get("resources") or []:
        if resource in ("*", combined):
            return True
        if info.subresource and resource == f"*/{info.subresource}":
            return True
    return False


def _url_matches(rule: Rule, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url == "*" or url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(rule: Rule, info: RequestInfo) -> bool:
    """Whether one PolicyRule allows the request."""
    if not _matches(rule.get("verbs"), info.verb):
        return False
    if not info.resource_request:
        return _url_matches(rule, info.path)
    names = rule.get("resourceNames") or []
    return (
        _matches(rule.get("apiGroups"), info.api_group)
        and _resource_matches(rule, info)
        and (not names or info.name in names)
    )


@dataclass(frozen=True)
class _Binding:
    namespace: str | None  # None: a ClusterRoleBinding
    role_kind: str
    role_name: str
    subjects: tuple[Mapping[str, Any], ...]


def _subject_matches(subject: Mapping[str, Any], account: ServiceAccount) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return name == account.name and subject.get("namespace") == account.namespace
    if kind == "User":
        return name == account.username
    if kind == "Group":
        return name in account.groups
    return False


class Authorizer:
    """The RBAC authorizer over a fixed set of RBAC objects (e.g. a rendered chart)."""

    def __init__(self, objects: Iterable[Mapping[str, Any]]) -> None:
        self._roles: dict[tuple[str | None, str, str], list[Rule]] = {}
        self._bindings: list[_Binding] = []
        for obj in objects:
            kind, meta = obj.get("kind"), obj.get("metadata") or {}
            if kind in ("Role", "ClusterRole"):
                namespace = meta.get("namespace") if kind == "Role" else None
                self._roles[(namespace, kind, meta["name"])] = list(obj.get("rules") or [])
            elif kind in ("RoleBinding", "ClusterRoleBinding"):
                ref = obj["roleRef"]
                self._bindings.append(
                    _Binding(
                        namespace=meta.get("namespace") if kind == "RoleBinding" else None,
                        role_kind=ref["kind"],
                        role_name=ref["name"],
                        subjects=tuple(obj.get("subjects") or ()),
                    )
                )

    def rules_for(self, account: ServiceAccount, namespace: str) -> list[Rule]:
        """The rules that apply to `account` in `namespace` ('' for cluster scope)."""
        rules: list[Rule] = [DISCOVERY_RULE]
        for binding in self._bindings:
            if binding.namespace is not None and binding.namespace != namespace:
                continue
            if not any(_subject_matches(s, account) for s in binding.subjects):
                continue
            role_ns = binding.namespace if binding.role_kind == "Role" else None
            rules.extend(self._roles.get((role_ns, binding.role_kind, binding.role_name), []))
        return rules

    def allows(self, account: ServiceAccount, info: RequestInfo) -> bool:
        namespace = info.namespace if info.resource_request else ""
        return any(rule_allows(rule, info) for rule in self.rules_for(account, namespace))


def forbidden_message(account: ServiceAccount, info: RequestInfo) -> str:
    """kube-apiserver's wording of a denial (without the `... is forbidden:` prefix)."""
    user = account.username
    if not info.resource_request:
        return f'User "{user}" cannot {info.verb} path "{info.path}"'
    what = f'User "{user}" cannot {info.verb} resource "{info.resource_and_subresource}"'
    what += f' in API group "{info.api_group}"'
    if info.namespace:
        return f'{what} in the namespace "{info.namespace}"'
    return f"{what} at the cluster scope"


def qualified_resource(info: RequestInfo) -> str:
    """`experiments.modelrollout.dev`, or `pods` for the core group."""
    return f"{info.resource}.{info.api_group}" if info.api_group else info.resource

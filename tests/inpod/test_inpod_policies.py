"""The front's pure decisions, as properties: request attributes, RBAC rules, Pod Security."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.support.inpod import podsecurity
from tests.support.inpod.authn import ServiceAccount
from tests.support.inpod.rbac import Authorizer, forbidden_message, rule_allows
from tests.support.inpod.requestinfo import RequestInfo, parse

NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
GROUPS = st.sampled_from(["", "apps", "batch", "modelrollout.dev"])
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
SUBRESOURCES = st.sampled_from(["", "status", "finalizers", "scale"])


@st.composite
def requests(draw: st.DrawFn) -> RequestInfo:
    """A resource request and the method/URL that makes it."""
    verb = draw(st.sampled_from(VERBS))
    named = verb in ("get", "update", "patch", "delete")
    group = draw(GROUPS)
    namespace = draw(st.one_of(st.just(""), NAMES))
    resource = draw(NAMES.filter(lambda r: r not in ("namespaces", "watch")))
    name = draw(NAMES) if named else ""
    subresource = draw(SUBRESOURCES) if named else ""
    return RequestInfo(
        verb=verb,
        path="",
        resource_request=True,
        api_group=group,
        api_version="v1",
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
    )


def url_of(info: RequestInfo) -> tuple[str, str, dict[str, str]]:
    base = f"/api/{info.api_version}" if not info.api_group else (
        f"/apis/{info.api_group}/{info.api_version}"
    )  # fmt: skip
    if info.namespace:
        base += f"/namespaces/{info.namespace}"
    path = "/".join(p for p in (base, info.resource, info.name, info.subresource) if p)
    method = {"get": "GET", "list": "GET", "watch": "GET", "create": "POST", "update": "PUT",
              "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE"}[info.verb]  # fmt: skip
    return method, path, {"watch": "true"} if info.verb == "watch" else {}


@given(requests())
def test_request_attributes_are_read_back_from_method_and_url(info: RequestInfo) -> None:
    method, path, query = url_of(info)
    parsed = parse(method, path, query)
    assert (parsed.verb, parsed.api_group, parsed.namespace, parsed.resource) == (
        info.verb, info.api_group, info.namespace, info.resource,
    )  # fmt: skip
    assert (parsed.name, parsed.subresource) == (info.name, info.subresource)


@given(requests(), st.sampled_from(VERBS))
def test_a_rule_allows_exactly_its_verb_group_and_resource(info: RequestInfo, other: str) -> None:
    exact = {"apiGroups": [info.api_group], "resources": [info.resource_and_subresource],
             "verbs": [info.verb]}  # fmt: skip
    assert rule_allows(exact, info)
    assert rule_allows({**exact, "verbs": ["*"]}, info)
    assert rule_allows({**exact, "apiGroups": ["*"], "resources": ["*"]}, info)
    assert rule_allows({**exact, "verbs": [other]}, info) == (other == info.verb)
    if info.subresource:
        # The resource alone does not grant its subresources, `*/sub` does.
        assert not rule_allows({**exact, "resources": [info.resource]}, info)
        assert rule_allows({**exact, "resources": [f"*/{info.subresource}"]}, info)
    if info.name:
        assert not rule_allows({**exact, "resourceNames": [info.name + "x"]}, info)
        assert rule_allows({**exact, "resourceNames": [info.name]}, info)


@given(requests(), NAMES)
def test_a_role_binding_grants_in_its_namespace_only(info: RequestInfo, elsewhere: str) -> None:
    account = ServiceAccount("system", "op")
    namespace = info.namespace or "ml"
    info = RequestInfo(**{**info.__dict__, "namespace": namespace})
    rule = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
    objects: list[dict[str, Any]] = [
        {"kind": "Role", "metadata": {"name": "r", "namespace": namespace}, "rules": [rule]},
        {"kind": "RoleBinding", "metadata": {"name": "r", "namespace": namespace},
         "roleRef": {"kind": "Role", "name": "r"},
         "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "system"}]},
    ]  # fmt: skip
    authorizer = Authorizer(objects)
    assert authorizer.allows(account, info)
    if elsewhere != namespace:
        moved = RequestInfo(**{**info.__dict__, "namespace": elsewhere})
        assert not authorizer.allows(account, moved)
        message = forbidden_message(account, moved)
        assert f'cannot {info.verb} resource "{info.resource_and_subresource}"' in message
        assert message.endswith(f'in the namespace "{elsewhere}"')


RESTRICTED_CONTAINER: dict[str, Any] = {
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
}
#: Each required setting, and the words of the check that fails without it.
REQUIRED = {
    "allowPrivilegeEscalation": "allowPrivilegeEscalation != false",
    "capabilities": "unrestricted capabilities",
    "runAsNonRoot": "runAsNonRoot != true",
    "seccompProfile": "seccompProfile",
}


@given(st.lists(NAMES, min_size=1, max_size=4, unique=True), st.data())
def test_restricted_pods_pass_and_each_missing_setting_is_named(
    names: list[str], data: st.DataObject
) -> None:
    containers = [{"name": n, **copy.deepcopy(RESTRICTED_CONTAINER)} for n in names]
    spec: dict[str, Any] = {"containers": containers, "volumes": [{"name": "t", "emptyDir": {}}]}
    assert podsecurity.violations(spec) == []
    victim = data.draw(st.sampled_from(names))
    setting = data.draw(st.sampled_from(sorted(REQUIRED)))
    for container in containers:
        if container["name"] == victim:
            del container["securityContext"][setting]
    found = podsecurity.violations(spec)
    assert len(found) == 1
    assert found[0].startswith(REQUIRED[setting])
    assert f'container "{victim}"' in found[0]


@given(st.sampled_from(["hostPath", "nfs", "iscsi", "gcePersistentDisk"]), NAMES)
def test_restricted_pods_refuse_volume_types_outside_the_list(kind: str, name: str) -> None:
    spec = {"containers": [{"name": "c", **copy.deepcopy(RESTRICTED_CONTAINER)}],
            "volumes": [{"name": name, kind: {}}]}  # fmt: skip
    assert podsecurity.violations(spec) == [
        f'restricted volume types (volume "{name}" uses restricted volume type "{kind}")'
    ]

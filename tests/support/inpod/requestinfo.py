"""What a request asks for, as kube-apiserver's RequestInfoFactory reads it from method and URL.

`/apis/modelrollout.dev/v1alpha1/namespaces/ml/experiments/e1/status` with PATCH is the verb
`patch` on `experiments/status` in API group `modelrollout.dev`, namespace `ml`, name `e1`.
Paths outside `/api/*` and `/apis/*/*/...` are non-resource requests (`/version`, `/healthz`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: Namespace subresources (`/api/v1/namespaces/{name}/status`), not resources of their own.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True)
class RequestInfo:
    """The authorization attributes of one request."""

    verb: str
    path: str
    resource_request: bool = False
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""

    @property
    def resource_and_subresource(self) -> str:
        """`experiments/status`, or `experiments` when there is no subresource."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _is_true(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def parse(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """The attributes of `method path?query`."""
    parts = [p for p in path.strip("/").split("/") if p]
    nonresource = RequestInfo(verb=method.lower(), path=path)
    if len(parts) < 2 or parts[0] not in ("api", "apis"):
        return nonresource
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 3:
            return nonresource
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:  # discovery of a group version: /api/v1, /apis/g/v
        return nonresource

    watch_prefix = rest[0] == "watch"  # the deprecated /watch/ path form
    if watch_prefix:
        rest = rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""

    method = method.upper()
    if method == "GET" or method == "HEAD":
        if watch_prefix or _is_true(query.get("watch")):
            verb = "watch"
        else:
            verb = "get" if name else "list"
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    return RequestInfo(
        verb=verb,
        path=path,
        resource_request=True,
        api_group=group,
        api_version=version,
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
    )

"""The admission chain the front runs on create, update and patch, in kube-apiserver's order.

1. OwnerReferencesPermissionEnforcement: changing an existing object's ownerReferences needs
   `delete` on it (a create is exempt: its creator could delete it); setting `blockOwnerDeletion: true` needs `update` on the owner's
   `<resource>/finalizers` (403).
2. Validation of the object after the change: custom resources against their CRD (schema,
   unknown fields, CEL; 422, or 400 for an unknown field, as with strict field validation);
   built-in kinds strictly against the Kubernetes 1.35 schemas.
3. PodSecurity "restricted" in namespaces labelled `pod-security.kubernetes.io/enforce:
   restricted` (403). Upstream enforces it on Pods and only warns on workloads; with no
   controllers behind this front a workload's pods are never created, so the front refuses a
   workload (Job, Deployment, ...) whose pod template would be refused, at the write that
   carries it, where a test sees it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import podsecurity
from .authn import ServiceAccount
from .rbac import Authorizer, forbidden_message, qualified_resource
from .requestinfo import RequestInfo
from .schemas import CustomResource, FieldProblem, builtin_problems

#: (apiVersion, kind) -> plural resource name, or None if the cluster does not serve it.
ResolveResource = Callable[[str, str], Awaitable[str | None]]
#: namespace -> its labels.
NamespaceLabels = Callable[[str], Awaitable[Mapping[str, str]]]


class AdmissionDenied(Exception):
    """A refusal, carried to the client as a Kubernetes Status."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class AdmissionRequest:
    info: RequestInfo
    account: ServiceAccount
    obj: dict[str, Any]  # the object as it would be stored (a patch already applied)
    old: dict[str, Any] | None  # the stored object (update, patch)


def _name_of(obj: Mapping[str, Any], info: RequestInfo) -> str:
    return str((obj.get("metadata") or {}).get("name") or info.name)


def _forbidden_prefix(info: RequestInfo, name: str) -> str:
    what = qualified_resource(info)
    return f'{what} "{name}" is forbidden' if name else f"{what} is forbidden"


class Admission:
    """The chain, over the authorizer (for owner references) and two lookups in the cluster."""

    def __init__(
        self,
        authorizer: Authorizer,
        custom_resources: Mapping[tuple[str, str, str], CustomResource],
        resolve_resource: ResolveResource,
        namespace_labels: NamespaceLabels,
    ) -> None:
        self._authorizer = authorizer
        self._crds = custom_resources
        self._resolve = resolve_resource
        self._labels = namespace_labels

    def custom_resource(self, info: RequestInfo) -> CustomResource | None:
        return self._crds.get((info.api_group, info.api_version, info.resource))

    async def admit(self, request: AdmissionRequest) -> dict[str, Any]:
        """The object to store (defaulted, for a custom resource); AdmissionDenied if refused."""
        await self._owner_references(request)
        obj = self._validate(request)
        await self._pod_security(request, obj)
        return obj

    # --- OwnerReferencesPermissionEnforcement ---------------------------------------------

    async def _owner_references(self, request: AdmissionRequest) -> None:
        info, account = request.info, request.account
        new_refs = (request.obj.get("metadata") or {}).get("ownerReferences") or []
        old_refs = ((request.old or {}).get("metadata") or {}).get("ownerReferences") or []
        if new_refs == old_refs:
            return
        name = _name_of(request.obj, info)
        if info.verb != "create":  # a creator could delete what it made: no check on create
            self._may_delete(request, name, new_refs)
        blocking_before = {
            (r.get("apiVersion"), r.get("kind"), r.get("name"), r.get("uid"))
            for r in old_refs
            if r.get("blockOwnerDeletion")
        }
        for ref in new_refs:
            key = (ref.get("apiVersion"), ref.get("kind"), ref.get("name"), ref.get("uid"))
            if not ref.get("blockOwnerDeletion") or key in blocking_before:
                continue
            api_version = str(ref.get("apiVersion"))
            group, _, version = api_version.rpartition("/")
            plural = await self._resolve(api_version, str(ref.get("kind")))
            if plural is None:
                raise AdmissionDenied(
                    403,
                    "Forbidden",
                    f"{_forbidden_prefix(info, name)}: cannot set blockOwnerDeletion in this "
                    f"case because cannot find RESTMapping for APIVersion {api_version} "
                    f"Kind {ref.get('kind')}",
                )
            finalizers = RequestInfo(
                verb="update",
                path=info.path,
                resource_request=True,
                api_group=group,
                api_version=version,
                namespace=info.namespace,
                resource=plural,
                subresource="finalizers",
                name=str(ref.get("name")),
            )
            if not self._authorizer.allows(account, finalizers):
                raise AdmissionDenied(
                    403,
                    "Forbidden",
                    f"{_forbidden_prefix(info, name)}: cannot set blockOwnerDeletion if an "
                    "ownerReference refers to a resource you can't set finalizers on: "
                    f"{forbidden_message(account, finalizers)}, {ref}",
                )

    def _may_delete(self, request: AdmissionRequest, name: str, new_refs: Any) -> None:
        """Changing an existing object's ownerReferences needs `delete` on it."""
        info, account = request.info, request.account
        delete = RequestInfo(
            verb="delete",
            path=info.path,
            resource_request=True,
            api_group=info.api_group,
            api_version=info.api_version,
            namespace=info.namespace,
            resource=info.resource,
            name=name,
        )
        if not self._authorizer.allows(account, delete):
            raise AdmissionDenied(
                403,
                "Forbidden",
                f"{_forbidden_prefix(info, name)}: cannot set an ownerRef on a resource you "
                f"can't delete: {forbidden_message(account, delete)}, {new_refs}",
            )

    # --- validation ---------------------------------------------------------------------

    def _validate(self, request: AdmissionRequest) -> dict[str, Any]:
        info, obj = request.info, request.obj
        name = _name_of(obj, info)
        crd = self.custom_resource(info)
        problems: Sequence[FieldProblem] | None
        if crd is not None:
            problems = crd.problems(obj, request.old)
            kind = f"{crd.kind}.{crd.group}"
            stored: dict[str, Any] = crd.defaulted(obj) if info.verb == "create" else obj
        else:
            problems = builtin_problems(obj) or []
            group = info.api_group
            kind = f"{obj.get('kind')}.{group}" if group else str(obj.get("kind"))
            stored = obj
        unknown = [p for p in problems if p.unknown_field]
        if unknown:
            fields = ", ".join(f'unknown field "{p.path}"' for p in unknown)
            raise AdmissionDenied(400, "BadRequest", f"strict decoding error: {fields}")
        if problems:
            details = ", ".join(str(p) for p in problems)
            raise AdmissionDenied(422, "Invalid", f'{kind} "{name}" is invalid: {details}')
        return stored

    # --- PodSecurity --------------------------------------------------------------------

    async def _pod_security(self, request: AdmissionRequest, obj: Mapping[str, Any]) -> None:
        info = request.info
        if not info.namespace or info.subresource:
            return
        spec = podsecurity.pod_spec_of(obj)
        if spec is None:
            return
        labels = await self._labels(info.namespace)
        if labels.get(podsecurity.ENFORCE_LABEL) != "restricted":
            return
        found = podsecurity.violations(spec)
        if found:
            raise AdmissionDenied(
                403,
                "Forbidden",
                f"{_forbidden_prefix(info, _name_of(obj, info))}: "
                f"{podsecurity.violation_message(found)}",
            )

"""One pass over a ModelVersion: gather facts, ask the pure lifecycle, apply its actions."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError

from ..api.v1alpha1 import (
    Condition,
    ModelVersion,
    ModelVersionPhase,
    ModelVersionSpec,
    ModelVersionStatus,
    set_condition,
)
from ..k8s.client import DEPLOYMENTS, JOBS, MODELVERSIONS, PODS, SERVICES, Conflict
from ..resources.lifecycle import (
    CountTraining,
    CreateJob,
    EnsureServing,
    JobFacts,
    ScaleServing,
    ServingFacts,
    VersionStep,
    advance_version,
    init_failure,
)
from ..resources.manifests import (
    serving_deployment,
    serving_selector,
    serving_service,
    training_job,
)
from ..resources.naming import LABEL_MODELVERSION, job_name, serving_name
from ..resources.updating import stamped, update_patch
from ..rollout import EmitEvent
from .services import Services
from .statuses import status_patch

log = structlog.get_logger(__name__)


def _job_facts(job: dict[str, Any], pods: list[dict[str, Any]]) -> JobFacts:
    st = job.get("status") or {}
    conditions = {c.get("type"): c for c in st.get("conditions") or [] if c.get("status") == "True"}
    failed = "Failed" in conditions
    succeeded = "Complete" in conditions or (int(st.get("succeeded") or 0) > 0 and not failed)
    message = None
    # The newest terminated trainer container holds the result (retries leave older pods).
    newest = ""
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated") or {}
            finished = str(term.get("finishedAt") or "")
            if term.get("message") and finished >= newest:
                newest, message = finished, term["message"]
    cond = conditions.get("Failed") or {}
    return JobFacts(
        succeeded=succeeded,
        failed=failed,
        reason=str(cond.get("reason") or ""),
        message=str(cond.get("message") or ""),
        termination_message=message,
    )


def _serving_facts(
    deployment: dict[str, Any], pods: list[dict[str, Any]] | None = None
) -> ServingFacts:
    spec = deployment.get("spec") or {}
    st = deployment.get("status") or {}
    failed = None
    for c in st.get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
            failed = str(c.get("message") or "ProgressDeadlineExceeded")
    return ServingFacts(
        replicas=int(spec.get("replicas", 1)),
        ready_replicas=int(st.get("readyReplicas") or 0),
        failed_reason=failed,
        init_failure=init_failure(pods or []),
    )


async def version_pass(services: Services, namespace: str, name: str) -> VersionStep | None:
    """Advance one ModelVersion; None when it is gone (an invalid spec is reported and waited
    on: its serving part may be fixed)."""
    kube = services.kube
    with services.metrics.reconcile_duration.labels("modelversion").time():
        body = await kube.get(MODELVERSIONS, namespace, name)
        if body is None:
            return None
        try:
            mv = ModelVersion.model_validate({**body, "status": _known_status(body.get("status"))})
        except ValidationError as exc:
            # Not the end of the daemon: the spec's mutable parts (serving) may be fixed.
            return await _invalid(services, body, exc)
        if mv.status is not None and any(c.type == "SpecValid" for c in mv.status.conditions):
            # Fixed since it was reported invalid: the report goes.
            mv.status.conditions = [c for c in mv.status.conditions if c.type != "SpecValid"]
        job_facts = None
        serving_facts = None
        if mv.spec.training is not None and (mv.status is None or mv.status.artifact is None):
            job = await kube.get(JOBS, namespace, job_name(name))
            uid = (body.get("metadata") or {}).get("uid")
            if job is not None and not owned_by(job, uid):
                # The Job of an earlier ModelVersion of this name, deleted and recreated before
                # its Job was collected: its result is not this version's. Delete it (only it,
                # with its pods); the next pass creates this version's own.
                log.info("modelversion.stale_job", name=name, namespace=namespace,
                         job=job_name(name))  # fmt: skip
                stale_uid = (job.get("metadata") or {}).get("uid")
                await kube.delete(JOBS, namespace, job_name(name), uid=stale_uid,
                                  propagation="Background")  # fmt: skip
                job = None  # creating ours waits (409) until the old one is gone
            if job is not None:
                job_uid = (job.get("metadata") or {}).get("uid")
                pods = await kube.list(PODS, namespace, {"job-name": job_name(name)})
                job_facts = _job_facts(job, [p for p in pods if owned_by(p, job_uid)])
        deployment = await kube.get(DEPLOYMENTS, namespace, serving_name(name))
        if deployment is not None:
            serving_pods: list[dict[str, Any]] = []
            if not int((deployment.get("status") or {}).get("readyReplicas") or 0):
                # Not serving yet: its pods' init containers say whether one refused to start.
                serving_pods = await kube.list(PODS, namespace, serving_selector(name))
            serving_facts = _serving_facts(deployment, serving_pods)
        step = advance_version(mv, job_facts, serving_facts, datetime.now(UTC))
        await _apply(services, body, mv, step)
        if deployment is not None and owned_by(deployment, (body.get("metadata") or {}).get("uid")):
            await _reconcile_serving(services, body, mv, step, deployment)
        return step


def with_trainer_image(spec: ModelVersionSpec, default: str) -> ModelVersionSpec:
    """`spec` with spec.training.image set: its own, else the chart's default trainer image."""
    if spec.training is None or spec.training.image:
        return spec
    training = spec.training.model_copy(update={"image": default})
    return spec.model_copy(update={"training": training})


def _desired_deployment(
    services: Services, body: dict[str, Any], mv: ModelVersion, artifact_uri: str, sha256: str
) -> dict[str, Any]:
    return stamped(
        serving_deployment(
            body,
            mv.spec,
            artifact_uri,
            sha256,
            triton_image=services.settings.triton_image,
            gateway_image=services.settings.gateway_image,
            triton_startup_seconds=services.settings.triton_startup_seconds,
            workloads=services.settings.workloads,
        )
    )


async def _reconcile_serving(
    services: Services,
    body: dict[str, Any],
    mv: ModelVersion,
    step: VersionStep,
    deployment: dict[str, Any],
) -> None:
    """spec.serving edited: the Deployment follows (resources/updating.py)."""
    status = step.status
    if status.phase not in (ModelVersionPhase.DEPLOYING, ModelVersionPhase.READY):
        return  # retired versions stay scaled down; failed and rejected ones are settled
    if status.artifact is None:
        return
    desired = _desired_deployment(services, body, mv, status.artifact.uri, status.artifact.sha256)
    patch = update_patch(deployment, desired)
    if patch is None:
        return
    meta = body["metadata"]
    await services.kube.patch(DEPLOYMENTS, meta.get("namespace"), serving_name(meta["name"]), patch)
    log.info("modelversion.serving_updated", name=meta["name"], namespace=meta.get("namespace"),
             replicas=mv.spec.serving.replicas, runtime=mv.spec.serving.runtime.value)  # fmt: skip


async def _invalid(services: Services, body: dict[str, Any], exc: ValidationError) -> VersionStep:
    """SpecValid False in status (an event when it changes); the daemon keeps watching."""
    meta = body["metadata"]
    problems = "; ".join(
        f"spec.{'.'.join(str(p) for p in e.get('loc', ()))}: "
        f"{str(e.get('msg', '')).removeprefix('Value error, ')}"
        for e in exc.errors()[:5]
    )
    message = f"invalid spec: {problems}"[:1000]
    log.warning("modelversion.invalid", name=meta["name"], namespace=meta.get("namespace"),
                error=message)  # fmt: skip
    try:
        status = ModelVersionStatus.model_validate(_known_status(body.get("status")) or {})
    except ValidationError:
        status = ModelVersionStatus()
    old = next((c for c in status.conditions if c.type == "SpecValid"), None)
    if old is None or old.status != "False" or old.message != message:
        cond = Condition(type="SpecValid", status="False", reason="InvalidSpec", message=message,
                         last_transition_time=datetime.now(UTC))  # fmt: skip
        status = status.model_copy(update={"conditions": set_condition(status.conditions, cond)})
        patch = status_patch(body.get("status"), status.to_wire())
        if patch:
            await services.kube.patch(
                MODELVERSIONS, meta.get("namespace"), meta["name"], {"status": patch},
                subresource="status", resource_version=meta.get("resourceVersion"),
            )  # fmt: skip
        await services.kube.event(body, "Warning", "InvalidSpec", message)
    return VersionStep(status=status)


def owned_by(obj: dict[str, Any], uid: str | None) -> bool:
    """Whether `obj` names the object with `uid` among its owners (no uid known: assume so)."""
    if not uid:
        return True
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(r, dict) and r.get("uid") == uid for r in refs)


def _known_status(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    fields = {f.alias or k for k, f in ModelVersionStatus.model_fields.items()}
    return {k: v for k, v in raw.items() if k in fields}


async def _apply(
    services: Services, body: dict[str, Any], mv: ModelVersion, step: VersionStep
) -> None:
    kube = services.kube
    meta = body["metadata"]
    namespace, name = meta.get("namespace"), meta["name"]
    for action in step.actions:
        if isinstance(action, CreateJob):
            # Conflict: an earlier pass created it and then lost its status write.
            with contextlib.suppress(Conflict):
                await kube.create(
                    JOBS,
                    namespace,
                    training_job(
                        body,
                        with_trainer_image(mv.spec, services.settings.trainer_image),
                        workloads=services.settings.workloads,
                    ),
                )
        elif isinstance(action, EnsureServing):
            deployment = _desired_deployment(services, body, mv, action.artifact_uri, action.sha256)
            for res, manifest in (
                (SERVICES, serving_service(body, mv.spec)),
                (DEPLOYMENTS, deployment),
            ):
                with contextlib.suppress(Conflict):
                    await kube.create(res, namespace, manifest)
        elif isinstance(action, ScaleServing):
            await kube.patch(
                DEPLOYMENTS, namespace, serving_name(name), {"spec": {"replicas": action.replicas}}
            )
    new_status = step.status.to_wire()
    patch = status_patch(body.get("status"), new_status)
    if patch:
        # Conditional on the version read: a concurrent writer makes it 409 (Conflict), and
        # the next pass reads again and decides again.
        await kube.patch(
            MODELVERSIONS, namespace, name, {"status": patch}, subresource="status",
            resource_version=meta.get("resourceVersion"),
        )  # fmt: skip
    # Events and counters only after the status is written: a lost write repeats the pass,
    # and the phase change (hence the event) is then seen again only if it really happens.
    for action in step.actions:
        if isinstance(action, EmitEvent):
            await kube.event(body, action.type, action.reason, action.message)
            log.info("modelversion.phase", name=name, namespace=namespace,
                     phase=step.status.phase.value, message=action.message)  # fmt: skip
        elif isinstance(action, CountTraining):
            services.metrics.training_jobs.labels(namespace, mv.spec.model, action.result).inc()


async def retire(services: Services, namespace: str, name: str, reason: str) -> None:
    """Mark a ModelVersion Retired (its daemon then scales its server to zero)."""
    kube = services.kube
    body = await kube.get(MODELVERSIONS, namespace, name)
    if body is None:
        return
    status = body.get("status") or {}
    if status.get("phase") == ModelVersionPhase.RETIRED.value:
        return
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Ready"]
    conditions.append({"type": "Ready", "status": "False", "reason": "Retired",
                       "message": reason, "lastTransitionTime": now})  # fmt: skip
    await kube.patch(
        MODELVERSIONS,
        namespace,
        name,
        {"status": {"phase": "Retired", "message": reason, "conditions": conditions}},
        subresource="status",
        resource_version=(body.get("metadata") or {}).get("resourceVersion"),
    )
    await kube.event(body, "Normal", "Retired", reason)


__all__ = ["LABEL_MODELVERSION", "retire", "version_pass"]

"""kopf: one daemon per Model, turning the continuous-learning loop (rollout/learning.py).

Each pass gathers facts (the Model, its ModelVersions and Experiments through the operator's
client, labelled rows and live accuracy through the metrics provider), asks the pure loop,
writes the Model's status (conditional on the resourceVersion read: a concurrent writer
makes it 409 and the pass decides again), then acts: creates the next ModelVersion or its
Experiment, deletes versions beyond the history limit, posts an Event per decision. A crash
between the status and the actions is safe: the status names what is owed, and every action
is idempotent (a create that finds the object is a no-op).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import kopf
import structlog
from pydantic import ValidationError

from ..api.v1alpha1 import GROUP, VERSION, ModelPhase, ModelSpec, ModelStatus, parse_duration
from ..api.v1alpha1.base import MAX_DURATION_SECONDS
from ..k8s.client import EXPERIMENTS, MODELVERSIONS, PODS, Conflict, Resource
from ..metrics import PrometheusProvider
from ..metrics.promql import accuracy_queries, quote, seconds
from ..resources.naming import job_name
from ..rollout import EmitEvent
from ..rollout.learning import (
    LABEL_MANAGED,
    Context,
    Counts,
    CreateExperiment,
    CreateVersion,
    DeleteVersion,
    ExperimentFacts,
    VersionFacts,
    decide,
)
from .failures import describe, log_failed_pass
from .services import Services
from .statuses import status_patch

log = structlog.get_logger(__name__)

MODELS = Resource(GROUP, VERSION, "models")
#: Passes that concluded something go again at once (the next step is decided without waiting).
AGAIN_SECONDS = 0.05


@kopf.daemon(GROUP, VERSION, "models", cancellation_timeout=10.0)
async def drive_model(
    name: str, namespace: str | None, memo: Any, stopped: kopf.DaemonStopped, **_: Any
) -> None:
    services: Services = memo.services
    ns = namespace or "default"
    while not stopped:
        try:
            delay = await model_pass(services, ns, name)
        except Conflict as exc:  # someone wrote the Model in between: read and decide again
            log.info("model.conflict", name=name, namespace=ns, error=str(exc))
            delay = AGAIN_SECONDS
        except Exception as exc:  # no failure ends the loop of a Model
            log_failed_pass(log, "model.pass_failed", exc, name=name, namespace=ns)
            delay = services.settings.version_poll_interval
        if delay is None:
            return
        await stopped.wait(delay)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def known_status(raw: Any) -> ModelStatus:
    if not isinstance(raw, dict):
        return ModelStatus()
    fields = {f.alias or k for k, f in ModelStatus.model_fields.items()}
    try:
        return ModelStatus.model_validate({k: v for k, v in raw.items() if k in fields})
    except ValidationError:
        return ModelStatus()  # a status we cannot read is rebuilt from the cluster


def version_facts(body: dict[str, Any]) -> VersionFacts | None:
    spec, st = body.get("spec") or {}, body.get("status") or {}
    version = spec.get("version")
    if not isinstance(version, int):
        return None
    test = ((st.get("metrics") or {}).get("test")) or {}
    labels = (body.get("metadata") or {}).get("labels") or {}
    return VersionFacts(
        name=str(body["metadata"]["name"]),
        version=version,
        phase=str(st.get("phase") or ""),
        message=str(st.get("message") or ""),
        test_metrics={k: float(v) for k, v in test.items() if isinstance(v, int | float)},
        managed=labels.get(LABEL_MANAGED) == "model",
    )


def experiment_facts(body: dict[str, Any]) -> ExperimentFacts:
    spec, st = body.get("spec") or {}, body.get("status") or {}
    return ExperimentFacts(
        name=str(body["metadata"]["name"]),
        baseline=str(spec.get("baseline", "")),
        candidate=str(spec.get("candidate", "")),
        phase=str(st.get("phase") or ""),
        message=str(st.get("message") or ""),
        undo_until=_time((st.get("holdback") or {}).get("endsAt")),
    )


def built_rows(pods: list[dict[str, Any]]) -> int | None:
    """Rows the training Job's dataset step wrote (its termination message), if it told."""
    for pod in pods:
        for cs in (pod.get("status") or {}).get("initContainerStatuses") or []:
            if cs.get("name") != "dataset":
                continue
            term = (cs.get("state") or {}).get("terminated") or {}
            lines = str(term.get("message") or "").strip().splitlines()
            try:
                rows = json.loads(lines[-1]).get("rows") if lines else None
            except (ValueError, AttributeError):
                continue
            if isinstance(rows, int) and term.get("exitCode") == 0:
                return rows
    return None


async def with_dataset_rows(
    services: Services, namespace: str, status: ModelStatus, versions: list[VersionFacts]
) -> list[VersionFacts]:
    """The versions, those in flight with the rows their dataset step built (once known)."""
    floor = max(status.concluded_version, status.in_service_version or 0)
    known = {(h.name, h.version) for h in status.history if h.dataset_rows is not None}
    out = []
    for v in versions:
        if v.managed and v.version > floor and (v.name, v.version) not in known:
            pods = await services.kube.list(PODS, namespace, {"job-name": job_name(v.name)})
            v = dataclasses.replace(v, dataset_rows=built_rows(pods))
        out.append(v)
    return out


async def counts_for(
    services: Services,
    namespace: str,
    model: str,
    spec: ModelSpec,
    status: ModelStatus,
    since: datetime | None,
    now: datetime,
) -> Counts:
    """Labels of the model since the last training, live accuracy of the version in service;
    None where Prometheus cannot say (never a reason to train)."""
    provider = services.provider
    if not isinstance(provider, PrometheusProvider):
        return Counts()
    t = spec.triggers
    rows = accuracy = samples = None
    if t.new_labelled_rows is not None and since is not None:
        window = min(MAX_DURATION_SECONDS, max(1.0, (now - since).total_seconds()))
        promql = (
            "sum(increase(modelrollout_feedback_total"
            f"{{namespace={quote(namespace)},model={quote(model)}}}[{seconds(window)}]))"
        )
        try:
            rows = await provider.query(promql)
            rows = 0.0 if rows is None else rows  # no series yet: no labels
        except Exception as exc:  # unknown: never a reason to train
            log.warning("model.count_failed", model=model, error=describe(exc))
    if t.accuracy_below is not None and status.in_service_version is not None:
        queries = accuracy_queries(
            model,
            str(status.in_service_version),
            parse_duration(t.accuracy_window),
            namespace=namespace,
        )
        try:
            assert queries.samples is not None and queries.successes is not None
            samples = await provider.query(queries.samples)
            correct = await provider.query(queries.successes)
            if samples and correct is not None:
                accuracy = correct / samples
        except Exception as exc:
            log.warning("model.accuracy_failed", model=model, error=describe(exc))
    return Counts(labelled_rows=rows, accuracy=accuracy, accuracy_samples=samples)


async def model_pass(services: Services, namespace: str, name: str) -> float | None:
    """One turn of the loop; seconds until the next, or None when the Model is gone."""
    kube = services.kube
    settings = services.settings
    body = await kube.get(MODELS, namespace, name)
    if body is None:
        return None
    meta = body.get("metadata") or {}
    try:
        spec = ModelSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        problem = f"invalid spec: {exc.errors()[0].get('msg', exc)}"[:1000]
        if (body.get("status") or {}).get("message") != problem:
            await kube.patch(MODELS, namespace, name, {"status": {"message": problem}},
                             subresource="status")  # fmt: skip
            await kube.event(body, "Warning", "InvalidSpec", problem)
        return settings.ready_poll_interval
    status = known_status(body.get("status"))
    versions = [
        f
        for b in await kube.list(MODELVERSIONS, namespace)
        if (b.get("spec") or {}).get("model") == name and (f := version_facts(b)) is not None
    ]
    versions = await with_dataset_rows(services, namespace, status, versions)
    experiments = [
        experiment_facts(b)
        for b in await kube.list(EXPERIMENTS, namespace)
        if (b.get("spec") or {}).get("model") == name
    ]
    now = datetime.now(UTC)
    created = _time(meta.get("creationTimestamp"))
    # Labels count from the last training; before any, from the first version's adoption
    # (or the Model's creation).
    adopted = next((h.finished_at for h in status.history if h.finished_at is not None), None)
    since = status.last_training_at or adopted or created or now
    counts = await counts_for(services, namespace, name, spec, status, since, now)
    ctx = Context(name=name, namespace=namespace, trainer_image=settings.trainer_image,
                  created_at=created)  # fmt: skip
    decision = decide(ctx, spec, status, versions, experiments, counts, now)
    new = decision.status
    generation = meta.get("generation")
    if isinstance(generation, int):
        new.observed_generation = generation
    patch = status_patch(body.get("status"), new.to_wire())
    if patch:
        await kube.patch(MODELS, namespace, name, {"status": patch}, subresource="status",
                         resource_version=meta.get("resourceVersion"))  # fmt: skip
    for action in decision.actions:
        if isinstance(action, CreateVersion):
            with contextlib.suppress(Conflict):  # created by an earlier pass already
                await kube.create(MODELVERSIONS, namespace, action.body)
        elif isinstance(action, CreateExperiment):
            with contextlib.suppress(Conflict):
                await kube.create(EXPERIMENTS, namespace, action.body)
        elif isinstance(action, DeleteVersion):
            await kube.delete(MODELVERSIONS, namespace, action.name)
            log.info("model.pruned", model=name, namespace=namespace, version=action.name)
    for action in decision.actions:
        if isinstance(action, EmitEvent):
            await kube.event(body, action.type, action.reason, action.message)
            log.info("model.decision", model=name, namespace=namespace, reason=action.reason,
                     message=action.message)  # fmt: skip
    if decision.requeue_after <= 0:
        return AGAIN_SECONDS
    if new.phase in (ModelPhase.TRAINING, ModelPhase.ROLLING_OUT):
        return settings.version_poll_interval
    return max(AGAIN_SECONDS, min(decision.requeue_after, settings.ready_poll_interval))


__all__ = ["MODELS", "drive_model", "model_pass"]

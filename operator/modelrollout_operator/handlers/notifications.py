"""The kopf driver's side of notifications: the Notifier, Secrets, and the pass's hook."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime

import structlog
from pydantic import ValidationError

from ..api.v1alpha1 import ExperimentSpec, ExperimentStatus, SecretKeyRef, Webhook
from ..k8s.client import KubeClient, Resource
from ..notifying import Notifier, notifications_for
from ..observability import OperatorMetrics
from ..rollout.model import EmitEvent
from ..settings import OperatorSettings

log = structlog.get_logger(__name__)

#: The operator reads webhook signing keys (chart RBAC: `get` on secrets).
SECRETS = Resource("", "v1", "secrets")


def default_webhooks(settings: OperatorSettings) -> list[Webhook]:
    """The chart's notify.webhooks; an invalid entry is logged and left out."""
    out = []
    for i, raw in enumerate(settings.notify_webhooks):
        try:
            out.append(Webhook.model_validate(raw))
        except ValidationError as exc:
            log.error("notify.invalid_default", index=i, error=str(exc).splitlines()[0])
    return out


def secret_reader(kube: KubeClient):  # type: ignore[no-untyped-def]
    async def read(namespace: str, ref: SecretKeyRef) -> bytes | None:
        body = await kube.get(SECRETS, namespace, ref.name)
        data = (body or {}).get("data") or {}
        value = data.get(ref.key)
        return base64.b64decode(value) if isinstance(value, str) else None

    return read


def build_notifier(
    settings: OperatorSettings, kube: KubeClient, metrics: OperatorMetrics
) -> Notifier:
    return Notifier(
        defaults=default_webhooks(settings),
        read_secret=secret_reader(kube),
        count=lambda kind, result: metrics.notifications.labels(kind, result).inc(),
        queue_size=settings.notify_queue_size,
        timeout=settings.notify_timeout,
        attempts=settings.notify_attempts,
    )


def notify_pass(
    notifier: Notifier | None,
    *,
    namespace: str,
    name: str,
    spec: ExperimentSpec,
    old: ExperimentStatus,
    new: ExperimentStatus,
    events: Sequence[EmitEvent],
    now: datetime,
) -> None:
    """Hand a recorded pass's transitions to the background; never waits, never raises."""
    if notifier is None or not notifier.wanted(spec.notify):
        return
    try:
        found = notifications_for(
            name=name, namespace=namespace, spec=spec, old=old, new=new, events=events, now=now
        )
        for notification in found:
            notifier.submit(namespace, spec.notify, notification)
    except Exception as exc:  # a notification must never fail a pass
        log.warning("notify.skipped", name=name, namespace=namespace, error=repr(exc))

"""kopf: one daemon per unsettled ModelVersion, following its Job and its Deployment."""

from __future__ import annotations

from typing import Any

import kopf
import structlog

from ..api.v1alpha1 import GROUP, VERSION, ModelVersionPhase
from .failures import log_failed_pass
from .services import Services
from .versioning import version_pass

log = structlog.get_logger(__name__)
_SETTLED = {ModelVersionPhase.REJECTED.value, ModelVersionPhase.FAILED.value}


def _unsettled(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in _SETTLED


@kopf.daemon(GROUP, VERSION, "modelversions", when=_unsettled, cancellation_timeout=10.0)
async def follow_version(
    name: str, namespace: str | None, memo: Any, stopped: kopf.DaemonStopped, **_: Any
) -> None:
    services: Services = memo.services
    settings = services.settings
    while not stopped:
        try:
            step = await version_pass(services, namespace or "default", name)
        except Exception as exc:  # keep following: the next pass retries from the cluster's state
            log_failed_pass(log, "modelversion.pass_failed", exc, name=name, namespace=namespace)
            await stopped.wait(settings.version_poll_interval)
            continue
        if step is None or step.settled:
            return
        # Ready and Retired versions change rarely: look less often.
        calm = step.status.phase in (ModelVersionPhase.READY, ModelVersionPhase.RETIRED)
        await stopped.wait(settings.ready_poll_interval if calm else settings.version_poll_interval)

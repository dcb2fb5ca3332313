"""kopf: one daemon per active Experiment, a pass every analysis interval."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import kopf
import structlog

from ..api.v1alpha1 import GROUP, VERSION, TrafficProvider
from ..k8s.client import KubeError
from ..routing import GatewayRouter
from .driving import PassState, experiment_pass
from .failures import log_failed_pass
from .services import Services
from .spreading import first_pass_delay, interval_of

log = structlog.get_logger(__name__)


# No `when` filter on the phase: a finished Experiment gets one pass after a restart, which
# re-applies its final routing in case the process died between the status and the traffic.
@kopf.daemon(GROUP, VERSION, "experiments", cancellation_timeout=10.0)
async def drive_experiment(
    name: str,
    namespace: str | None,
    spec: kopf.Spec,
    memo: Any,
    stopped: kopf.DaemonStopped,
    **_: Any,
) -> None:
    services: Services = memo.services
    ns = namespace or "default"
    wait = first_pass_delay(
        ns,
        name,
        interval_of(spec),
        uptime=time.monotonic() - services.started_at,
        window=services.settings.startup_spread,
    )
    if wait:
        await stopped.wait(wait)
    due = time.monotonic()
    state = PassState()
    while not stopped:
        started = time.monotonic()
        services.metrics.analysis_lag.observe(max(0.0, started - due))
        state.decided_at = None
        try:
            delay = await experiment_pass(services, ns, name, state)
        except Exception as exc:  # no failure ends the daemon of an active Experiment
            log_failed_pass(log, "experiment.pass_failed", exc, name=name, namespace=namespace)
            delay = services.settings.version_poll_interval
        if delay is None:
            return
        # Due `delay` after the instant the pass decided at, not after it ended: the pass's own
        # time must not stretch the interval (it did: 4.5 passes/s of 10 expected at N=20).
        due = (state.decided_at or started) + delay
        await stopped.wait(max(0.0, due - time.monotonic()))


# The watch's DELETED event, not @kopf.on.delete: Experiments carry no finalizer
# (handlers/finalizing.py), so kopf calls no delete handler for one already gone; the event
# comes for every Experiment deleted while the operator runs, finished ones included.
@kopf.on.event(GROUP, VERSION, "experiments")
async def forget_experiment(
    event: kopf.RawEvent, name: str, namespace: str | None, memo: Any, **_: Any
) -> None:
    if event.get("type") != "DELETED":
        return
    body = event.get("object") or {}
    model = str((body.get("spec") or {}).get("model", ""))
    await forget(memo.services, namespace or "default", name, model)


async def forget(services: Services, namespace: str, name: str, model: str) -> None:
    """A deleted Experiment's series and routing ConfigMap go (best effort, idempotent)."""
    services.metrics.forget(namespace, name, model)
    # The routing ConfigMap lives in the gateway's namespace, out of reach of the Experiment's
    # owner references: delete it here.
    router = services.routers.get(TrafficProvider.GATEWAY)
    if isinstance(router, GatewayRouter):
        try:
            await router.forget(namespace, name)
        except (KubeError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("routing.forget_failed", experiment=f"{namespace}/{name}", error=str(exc))

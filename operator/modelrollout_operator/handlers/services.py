"""Services built once at startup and kept in kopf's memo: no module globals."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..api.v1alpha1 import TrafficProvider
from ..k8s.client import CONFIGMAPS, HTTPROUTES, Connection, KubeClient
from ..k8s.credentials import pod_namespace
from ..metrics import MetricsProvider, PrometheusProvider
from ..notifying import Notifier
from ..observability import HealthServer, OperatorMetrics
from ..routing import GatewayRouter, HTTPRouteRouter, Router
from ..settings import OperatorSettings
from .notifications import build_notifier


@dataclass
class Services:
    settings: OperatorSettings
    kube: KubeClient
    provider: MetricsProvider
    routers: dict[TrafficProvider, Router]
    metrics: OperatorMetrics
    server: HealthServer | None = None
    notifier: Notifier | None = None  # webhooks (notifying/): fed by passes, never awaited
    ready: bool = False
    started_at: float = field(default_factory=time.monotonic)  # for spreading.py

    async def close(self) -> None:
        if self.server is not None:
            await self.server.stop()
        if self.notifier is not None:
            await self.notifier.close()
        if isinstance(self.provider, PrometheusProvider):
            await self.provider.close()
        await self.kube.close()


def gateway_namespace(settings: OperatorSettings) -> str:
    """Where routing ConfigMaps go: the gateway's namespace (the chart sets it), else ours."""
    return settings.gateway_namespace or pod_namespace() or settings.default_namespace


def build_services(settings: OperatorSettings) -> Services:
    kube = KubeClient(Connection.discover(settings))
    metrics = OperatorMetrics()
    routers: dict[TrafficProvider, Router] = {
        TrafficProvider.GATEWAY: GatewayRouter(
            kube, CONFIGMAPS, namespace=gateway_namespace(settings)
        ),
        TrafficProvider.HTTP_ROUTE: HTTPRouteRouter(kube, HTTPROUTES),
    }
    services = Services(
        settings=settings,
        kube=kube,
        provider=PrometheusProvider(
            settings.prometheus_url,
            timeout=settings.prometheus_timeout,
            max_concurrency=settings.prometheus_max_concurrency,
        ),
        routers=routers,
        metrics=metrics,
    )
    services.notifier = build_notifier(settings, kube, metrics)
    services.server = HealthServer(
        metrics.registry,
        lambda: services.ready,
        host=settings.http_host,
        port=settings.http_port,
    )
    return services

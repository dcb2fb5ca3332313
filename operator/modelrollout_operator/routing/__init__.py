"""Traffic providers: the router sees weights, never phases."""

from .base import ExperimentRef, ObjectApi, Router, RoutingError, VersionRef
from .gateway import GatewayRouter
from .httproute import HTTPRouteRouter
from .table import build_routing_table

__all__ = [
    "ExperimentRef",
    "GatewayRouter",
    "HTTPRouteRouter",
    "ObjectApi",
    "Router",
    "RoutingError",
    "VersionRef",
    "build_routing_table",
]

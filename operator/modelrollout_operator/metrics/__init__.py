"""Metrics providers: what the analysis measures, behind one small protocol."""

from .base import MetricsProvider, Target, metric_target
from .prometheus import PrometheusProvider

__all__ = ["MetricsProvider", "PrometheusProvider", "Target", "metric_target"]

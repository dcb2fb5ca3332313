"""Numbers as people read them in events and `kubectl describe`."""

from __future__ import annotations

from ..api.v1alpha1 import MetricCheck, MetricKind


def format_value(check: MetricCheck, value: float) -> str:
    """Latency in ms or s, rates and accuracies with three decimals, others compactly."""
    if check.kind == MetricKind.LATENCY:
        if abs(value) < 1.0:
            return f"{value * 1000:.3g}ms"
        return f"{value:.3g}s"
    if check.kind in (MetricKind.ACCURACY, MetricKind.ERROR_RATE, MetricKind.FALLBACK_RATE):
        return f"{value:.3f}"
    return f"{value:.4g}"


def label(check: MetricCheck) -> str:
    """The metric's name, with its quantile for latency (e.g. "latency p99")."""
    if check.kind == MetricKind.LATENCY:
        q = check.effective_quantile * 100
        return f"{check.name} p{q:g}"
    return check.name

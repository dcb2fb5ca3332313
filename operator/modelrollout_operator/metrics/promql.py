"""PromQL for the built-in metrics and user templates: pure string building, no I/O.

Built-ins read the gateway's metrics (contracts.md §1). Accuracy is a proportion tested on
cumulative evidence, so it uses `increase()` over everything since the candidate got traffic;
error rate and latency use `rate()` over the metric's own window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..api.v1alpha1 import MetricCheck, MetricKind, parse_duration

_LABEL_VALUE = re.compile(r'["\\\n]')
_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
TEMPLATE_VARIABLES = frozenset({"model", "version", "namespace", "window"})

# Triton's own metrics, for custom templates (documented; Triton serves them on :8002).
TRITON_AVG_REQUEST_SECONDS = (
    'sum(rate(nv_inference_request_duration_us{model="{{model}}",version="{{version}}"}[{{window}}]))'
    ' / sum(rate(nv_inference_request_success{model="{{model}}",version="{{version}}"}[{{window}}]))'
    " / 1e6"
)
TRITON_FAILURE_RATE = (
    'sum(rate(nv_inference_request_failure{model="{{model}}",version="{{version}}"}[{{window}}]))'
    ' / sum(rate(nv_inference_count{model="{{model}}",version="{{version}}"}[{{window}}]))'
)


class TemplateError(ValueError):
    """A user template names a variable the operator does not provide."""


def quote(value: str) -> str:
    """A PromQL string literal (label values come from object names, but never trust them)."""
    return '"' + _LABEL_VALUE.sub(lambda m: "\\" + {"\n": "n"}.get(m[0], m[0]), value) + '"'


def seconds(value: float) -> str:
    """A PromQL range in whole seconds, at least 1s."""
    return f"{max(1, round(value))}s"


@dataclass(frozen=True)
class Queries:
    """The value query and, where one exists, the sample-count (and success-count) queries."""

    value: str | None
    samples: str | None = None
    successes: str | None = None


def _sel(model: str, version: str, extra: str = "") -> str:
    return f"{{model={quote(model)},version={quote(version)}{extra}}}"


def accuracy_queries(model: str, version: str, since_seconds: float) -> Queries:
    rng = seconds(since_seconds)
    sel = _sel(model, version)
    return Queries(
        value=None,  # the proportion is successes / samples, computed from the counts
        samples=f"sum(increase(modelrollout_feedback_total{sel}[{rng}]))",
        successes=f"sum(increase(modelrollout_feedback_correct_total{sel}[{rng}]))",
    )


def error_rate_queries(model: str, version: str, window: str) -> Queries:
    rng = seconds(parse_duration(window))
    sel = _sel(model, version)
    errors = _sel(model, version, ',code=~"5.."')
    return Queries(
        # A version that never failed has no 5xx series at all: that is 0 errors, not no
        # data. The denominator stays strict, so no requests at all is still no data.
        value=(
            f"(sum(rate(modelrollout_requests_total{errors}[{rng}])) or vector(0))"
            f" / sum(rate(modelrollout_requests_total{sel}[{rng}]))"
        ),
        samples=f"sum(increase(modelrollout_requests_total{sel}[{rng}]))",
    )


def latency_queries(model: str, version: str, window: str, quantile: float) -> Queries:
    rng = seconds(parse_duration(window))
    sel = _sel(model, version)
    return Queries(
        value=(
            f"histogram_quantile({quantile:g}, sum by (le) "
            f"(rate(modelrollout_request_duration_seconds_bucket{sel}[{rng}])))"
        ),
        samples=f"sum(increase(modelrollout_request_duration_seconds_count{sel}[{rng}]))",
    )


def render_template(template: str, *, model: str, version: str, namespace: str, window: str) -> str:
    """Substitute {{model}} {{version}} {{namespace}} {{window}}; unknown names are an error."""
    unknown = sorted({m for m in _VARIABLE.findall(template) if m not in TEMPLATE_VARIABLES})
    if unknown:
        raise TemplateError(
            f"unknown template variable(s) {', '.join(unknown)}; "
            f"use {', '.join(sorted(TEMPLATE_VARIABLES))}"
        )
    values = {"model": model, "version": version, "namespace": namespace, "window": window}
    return _VARIABLE.sub(lambda m: values[m[1]], template)


def queries_for(
    check: MetricCheck, *, model: str, version: str, namespace: str, since_seconds: float
) -> Queries:
    """The queries that measure `check` for one version."""
    if check.kind == MetricKind.ACCURACY:
        return accuracy_queries(model, version, since_seconds)
    if check.kind == MetricKind.ERROR_RATE:
        return error_rate_queries(model, version, check.window)
    if check.kind == MetricKind.LATENCY:
        return latency_queries(model, version, check.window, check.effective_quantile)
    assert check.query is not None  # the API's validator: custom metrics carry a query
    window = seconds(parse_duration(check.window))
    return Queries(
        value=render_template(
            check.query, model=model, version=version, namespace=namespace, window=window
        )
    )

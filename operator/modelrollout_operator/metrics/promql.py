"""PromQL for the built-in metrics and user templates: pure string building, no I/O.

Built-ins read the gateway's metrics (contracts.md §1). Accuracy is a proportion tested on
cumulative evidence, so it uses `increase()` over everything since the candidate got traffic;
latency and the absolute bounds of error and fallback rates use `rate()` over the metric's
own window, and error and fallback rates judged against the baseline add the cumulative
tally (`increase()` since the start) that the confidence sequence tests.

A failure of a version counts against that version even when another answered for it: the
gateway then answers 200 under the version that rescued the request and counts a fallback
under the one that failed. So, for a version v,

    errors(v)    = 5xx answered by v + fallbacks where v failed
    requests(v)  = requests answered by v + fallbacks where v failed
    errorRate    = errors(v) / requests(v)
    fallbackRate = fallbacks(v) / requests(v)

A shadow run's candidate answers nobody: its labels are joined to the mirrored predictions
and counted in the shadow feedback series (`shadow=True`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..api.v1alpha1 import MetricCheck, MetricKind, parse_duration
from ..errors import ModelRolloutError

_LABEL_VALUE = re.compile(r'["\\\n]')
_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
TEMPLATE_VARIABLES = frozenset({"model", "version", "namespace", "window"})

# Triton's own metrics (its /metrics on port 8002; labels model, version; failures also by
# reason since 24.x; `namespace` is added by the scrape). Read when clients reach Triton
# without the gateway (the HTTPRoute provider); also usable in custom templates, as below.
TRITON_SUCCESS = "nv_inference_request_success"
TRITON_FAILURE = "nv_inference_request_failure"
TRITON_REQUEST_SUMMARY = "nv_inference_request_summary_us"  # --metrics-config=summary_latencies
TRITON_QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)  # the quantiles Triton's summary exports
TRITON_AVG_REQUEST_SECONDS = (
    'sum(rate(nv_inference_request_duration_us{namespace="{{namespace}}",model="{{model}}",version="{{version}}"}[{{window}}]))'
    ' / sum(rate(nv_inference_request_success{namespace="{{namespace}}",model="{{model}}",version="{{version}}"}[{{window}}]))'
    " / 1e6"
)
TRITON_FAILURE_RATE = (
    'sum(rate(nv_inference_request_failure{namespace="{{namespace}}",model="{{model}}",version="{{version}}"}[{{window}}]))'
    ' / (sum(rate(nv_inference_request_success{namespace="{{namespace}}",model="{{model}}",version="{{version}}"}[{{window}}]))'
    ' + sum(rate(nv_inference_request_failure{namespace="{{namespace}}",model="{{model}}",version="{{version}}"}[{{window}}])))'
)


class TemplateError(ModelRolloutError, ValueError):
    """A user template names a variable the operator does not provide."""


def quote(value: str) -> str:
    """A PromQL string literal (label values come from object names, but never trust them)."""
    return '"' + _LABEL_VALUE.sub(lambda m: "\\" + {"\n": "n"}.get(m[0], m[0]), value) + '"'


def seconds(value: float) -> str:
    """A PromQL range in whole seconds, at least 1s."""
    return f"{max(1, round(value))}s"


@dataclass(frozen=True)
class Queries:
    """The value query and, where one exists, the sample-count (and success-count) queries.

    `events` / `trials`: the cumulative tally of a failure rate (failed requests among
    requests since the candidate got traffic), for the test against the baseline.
    """

    value: str | None
    samples: str | None = None
    successes: str | None = None
    events: str | None = None
    trials: str | None = None


def _sel(model: str, version: str, extra: str = "", namespace: str | None = None) -> str:
    # The gateway's series carry the namespace the model is routed for: model `churn` in two
    # namespaces is two sets of series (contracts.md §1).
    ns = f"namespace={quote(namespace)}," if namespace is not None else ""
    return f"{{{ns}model={quote(model)},version={quote(version)}{extra}}}"


def accuracy_queries(
    model: str,
    version: str,
    since_seconds: float,
    *,
    shadow: bool = False,
    namespace: str | None = None,
) -> Queries:
    """Labels joined to `version`'s predictions since the start: answered ones, or (`shadow`)
    the mirrored ones of a shadow run's candidate."""
    rng = seconds(since_seconds)
    sel = _sel(model, version, namespace=namespace)
    total, correct = (
        ("modelrollout_shadow_feedback_total", "modelrollout_shadow_feedback_correct_total")
        if shadow
        else ("modelrollout_feedback_total", "modelrollout_feedback_correct_total")
    )
    return Queries(
        value=None,  # the proportion is successes / samples, computed from the counts
        samples=f"sum(increase({total}{sel}[{rng}]))",
        successes=f"sum(increase({correct}{sel}[{rng}]))",
    )


def _sum(function: str, metric: str, selector: str, rng: str) -> str:
    # A series that does not exist (no 5xx yet, no fallback yet, or a version that never
    # answered because it failed every time) counts 0, not no data.
    return f"(sum({function}({metric}{selector}[{rng}])) or vector(0))"


def _failure_terms(
    model: str, version: str, function: str, rng: str, namespace: str | None = None
) -> tuple[str, str, str]:
    """(errors, fallbacks, requests) of one version, each a scalar-like PromQL expression."""
    sel = _sel(model, version, namespace=namespace)
    errors_sel = _sel(model, version, ',code=~"5.."', namespace=namespace)
    answered = _sum(function, "modelrollout_requests_total", sel, rng)
    errors = _sum(function, "modelrollout_requests_total", errors_sel, rng)
    fallbacks = _sum(function, "modelrollout_fallbacks_total", sel, rng)
    return f"{errors} + {fallbacks}", fallbacks, f"{answered} + {fallbacks}"


def failure_rate_queries(
    model: str,
    version: str,
    window: str,
    *,
    fallbacks_only: bool = False,
    since_seconds: float | None = None,
    namespace: str | None = None,
) -> Queries:
    """errorRate (or, `fallbacks_only`, fallbackRate) of one version.

    The value is the rate over `window` (0 / 0 when the version had no requests: NaN, which
    the provider reads as no data); with `since_seconds`, also the cumulative tally.
    """
    rng = seconds(parse_duration(window))
    errors, fallbacks, requests = _failure_terms(model, version, "rate", rng, namespace)
    failed = fallbacks if fallbacks_only else errors
    _, _, window_requests = _failure_terms(model, version, "increase", rng, namespace)
    events = trials = None
    if since_seconds is not None:
        since = seconds(since_seconds)
        all_errors, all_fallbacks, all_requests = _failure_terms(
            model, version, "increase", since, namespace
        )
        events = all_fallbacks if fallbacks_only else all_errors
        trials = all_requests
    return Queries(
        value=f"({failed}) / ({requests})",
        samples=window_requests,
        events=events,
        trials=trials,
    )


def error_rate_queries(
    model: str, version: str, window: str, since_seconds: float | None = None
) -> Queries:
    return failure_rate_queries(model, version, window, since_seconds=since_seconds)


def fallback_rate_queries(
    model: str, version: str, window: str, since_seconds: float | None = None
) -> Queries:
    return failure_rate_queries(
        model, version, window, fallbacks_only=True, since_seconds=since_seconds
    )


def latency_queries(
    model: str, version: str, window: str, quantile: float, namespace: str | None = None
) -> Queries:
    rng = seconds(parse_duration(window))
    sel = _sel(model, version, namespace=namespace)
    return Queries(
        value=(
            f"histogram_quantile({quantile:g}, sum by (le) "
            f"(rate(modelrollout_request_duration_seconds_bucket{sel}[{rng}])))"
        ),
        samples=f"sum(increase(modelrollout_request_duration_seconds_count{sel}[{rng}]))",
    )


def _triton_terms(
    model: str, version: str, function: str, rng: str, namespace: str | None = None
) -> tuple[str, str]:
    """(failed, requests) of one version as Triton counts them: each request once, any batch."""
    sel = _sel(model, version, namespace=namespace)
    # No failure series yet counts 0; no success series (never served) stays no data.
    failed = f"(sum({function}({TRITON_FAILURE}{sel}[{rng}])) or vector(0))"
    return failed, f"sum({function}({TRITON_SUCCESS}{sel}[{rng}])) + {failed}"


def triton_error_rate_queries(
    model: str,
    version: str,
    window: str,
    since_seconds: float | None = None,
    namespace: str | None = None,
) -> Queries:
    """errorRate from Triton: failed / (succeeded + failed) requests of the version.

    Requests that never reached Triton (a pod down, a refused connection) are not in these
    counters: the HTTPRoute's own metrics, if any, are the place for those. Triton's series
    carry no namespace of their own: `namespace` is the target label the scrape adds (the
    chart's Triton PodMonitor, or the usual `kubernetes-pods` relabelling), so model `churn`
    served by Triton in two namespaces is read apart.
    """
    rng = seconds(parse_duration(window))
    failed, requests = _triton_terms(model, version, "rate", rng, namespace)
    _, window_requests = _triton_terms(model, version, "increase", rng, namespace)
    events = trials = None
    if since_seconds is not None:
        events, trials = _triton_terms(
            model, version, "increase", seconds(since_seconds), namespace
        )
    return Queries(
        value=f"({failed}) / ({requests})", samples=window_requests, events=events, trials=trials
    )


def triton_latency_queries(
    model: str, version: str, window: str, quantile: float, namespace: str | None = None
) -> Queries:
    """latency from Triton's request summary (seconds): the slowest replica's quantile.

    Triton computes the quantile over its own sliding window, per pod; quantiles cannot be
    merged across pods, so the worst pod stands for the version. A quantile Triton does not
    export (see TRITON_QUANTILES) has no series: no data, never a pass.
    """
    rng = seconds(parse_duration(window))
    by_quantile = _sel(
        model, version, f",quantile={quote(format(quantile, 'g'))}", namespace=namespace
    )
    sel = _sel(model, version, namespace=namespace)
    return Queries(
        value=f"max({TRITON_REQUEST_SUMMARY}{by_quantile}) / 1e6",
        samples=f"sum(increase({TRITON_REQUEST_SUMMARY}_count{sel}[{rng}]))",
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
    check: MetricCheck,
    *,
    model: str,
    version: str,
    namespace: str,
    since_seconds: float,
    shadow: bool = False,
    triton: bool = False,
) -> Queries:
    """The queries that measure `check` for one version (`shadow`: a shadow run's candidate,
    whose accuracy comes from its mirrored predictions; `triton`: clients reach the version's
    Triton without the gateway, so its error rate and latency are Triton's own metrics)."""
    if triton and check.kind == MetricKind.ERROR_RATE:
        since = since_seconds if check.max_degradation is not None else None
        return triton_error_rate_queries(
            model, version, check.window, since_seconds=since, namespace=namespace
        )
    if triton and check.kind == MetricKind.LATENCY:
        return triton_latency_queries(
            model, version, check.window, check.effective_quantile, namespace=namespace
        )
    if check.kind == MetricKind.ACCURACY:
        return accuracy_queries(model, version, since_seconds, shadow=shadow, namespace=namespace)
    if check.is_failure_rate:
        # The cumulative tally only when the check compares with the baseline.
        since = since_seconds if check.max_degradation is not None else None
        return failure_rate_queries(
            model,
            version,
            check.window,
            fallbacks_only=check.kind == MetricKind.FALLBACK_RATE,
            since_seconds=since,
            namespace=namespace,
        )
    if check.kind == MetricKind.LATENCY:
        return latency_queries(
            model, version, check.window, check.effective_quantile, namespace=namespace
        )
    assert check.query is not None  # the API's validator: custom metrics carry a query
    window = seconds(parse_duration(check.window))
    return Queries(
        value=render_template(
            check.query, model=model, version=version, namespace=namespace, window=window
        )
    )

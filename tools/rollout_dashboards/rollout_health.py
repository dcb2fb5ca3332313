"""The "Rollout health" dashboard: what users of one model experience during a rollout."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import dashboard as dashboard_models

from rollout_dashboards import metrics as m
from rollout_dashboards.panels import (
    Query,
    annotation,
    datasource_variable,
    label_variable,
    phase_timeline,
    row,
    time_series,
)
from rollout_dashboards.promql import quantile, selector, wilson_bound

UID = "modelrollout-health"

# Every series is filtered by namespace too: model `churn` in two namespaces is two models.
_MODEL = {"namespace": "$namespace", "model": "$model"}
_EXPERIMENT = {"namespace": "$namespace", "model": "$model", "experiment": "$experiment"}
_BY_VERSION = "namespace, model, version"  # one series per namespace's model


def _rate(metric: str, by: str, **matchers: str) -> str:
    return f"sum by ({by}) (rate({selector(metric, **matchers)}[$__rate_interval]))"


def _increase(metric: str, by: str, window: str, **matchers: str) -> str:
    return f"sum by ({by}) (increase({selector(metric, **matchers)}[{window}]))"


def _feedback(window: str, *, shadow: bool = False) -> tuple[str, str]:
    """(correct, total) labels per version: joined to answers, or (`shadow`) to the mirrored
    predictions of a shadow version."""
    correct_metric, total_metric = (
        (m.SHADOW_FEEDBACK_CORRECT, m.SHADOW_FEEDBACK)
        if shadow
        else (m.FEEDBACK_CORRECT, m.FEEDBACK)
    )
    correct = _increase(correct_metric, _BY_VERSION, window, **_MODEL)
    total = _increase(total_metric, _BY_VERSION, window, **_MODEL)
    return correct, total


def failure_rates() -> tuple[str, str]:
    """(error rate, fallback rate) per version, as the analysis counts them (contracts.md §1):
    a fallback is a failure of the version that failed and one of its requests.

    A version that never answered (it failed every request behind fallback) has no request
    series, one that never failed has no 5xx or fallback series: both count 0, not missing.
    """
    errors = _rate(m.REQUESTS, _BY_VERSION, **_MODEL, code="5..")
    fallbacks = _rate(m.FALLBACKS, _BY_VERSION, **_MODEL)
    answered = _rate(m.REQUESTS, _BY_VERSION, **_MODEL)
    e = f"(({errors}) or ({answered}) * 0 or ({fallbacks}) * 0)"
    f = f"(({fallbacks}) or ({answered}) * 0)"
    a = f"(({answered}) or ({fallbacks}) * 0)"
    requests = f"({a} + {f})"
    return f"({e} + {f}) / {requests}", f"{f} / {requests}"


def _counter_event(metric: str, matchers: dict[str, str]) -> str:
    # A counter born at 1 shows no increase(): also mark series that are new in the window.
    series = selector(metric, **matchers)
    return f"increase({series}[2m]) > 0 or ({series} > 0 unless {series} offset 2m)"


def _option(value: str) -> dashboard_models.VariableOption:
    return dashboard_models.VariableOption(text=value, value=value, selected=True)


def traffic_panels() -> list[dashboard_builders.Panel]:
    return [
        time_series(
            "Traffic weight per version",
            "Weight (0-100) each gateway applies to each version; max over gateway replicas.",
            [
                Query(
                    f"max by (namespace, model, version, route) ({selector(m.TRAFFIC_WEIGHT, **_MODEL)})",
                    "{{model}} v{{version}} ({{route}})",
                )
            ],
            unit="percent",
            stepped=True,
            min_value=0,
            max_value=100,
        ),
        time_series(
            "Requests per second by version",
            "Inference requests answered, by the version and route that answered them.",
            [
                Query(
                    _rate(m.REQUESTS, "namespace, model, version, route", **_MODEL),
                    "{{model}} v{{version}} ({{route}})",
                )
            ],
            unit="reqps",
            stacked=True,
        ),
        phase_timeline(
            "Experiment phase",
            "Lit while the experiment is in that phase (Progressing, Paused, Promoting, ...).",
            Query(
                f"max by (experiment, phase) ({selector(m.EXPERIMENT_PHASE, **_EXPERIMENT)}) == 1",
                "{{experiment}}: {{phase}}",
            ),
        ),
        time_series(
            "Canary weight and step",
            "The candidate's weight and the current step as the operator decided them.",
            [
                Query(
                    f"max by (experiment) ({selector(m.EXPERIMENT_WEIGHT, **_EXPERIMENT)})",
                    "{{experiment}} weight",
                ),
                Query(
                    f"max by (experiment) ({selector(m.EXPERIMENT_STEP, **_EXPERIMENT)})",
                    "{{experiment}} step",
                ),
            ],
            unit="none",
            stepped=True,
            width=24,
        ),
    ]


def quality_panels() -> list[dashboard_builders.Panel]:
    correct, total = _feedback("$window")
    return [
        time_series(
            "Accuracy per version (95% Wilson interval)",
            "Correct / total feedback over $window per version, with the Wilson score interval "
            "the analysis reasons with, and the accuracy bound you set in the variable.",
            [
                Query(f"({correct}) / ({total})", "v{{version}} accuracy"),
                Query(wilson_bound(correct, total, upper=False), "v{{version}} lower"),
                Query(wilson_bound(correct, total, upper=True), "v{{version}} upper"),
                Query("vector($accuracy_bound)", "bound"),
            ],
            unit="percentunit",
            min_value=0,
            max_value=1,
        ),
        shadow_accuracy_panel(),
        time_series(
            "Feedback samples per version",
            "Labels joined to predictions over $window: the sample size behind the accuracy.",
            [Query(total, "{{model}} v{{version}}")],
            unit="short",
            bars=True,
        ),
        time_series(
            "Shadow agreement",
            "Mirrored requests by outcome: the shadow version agreed, disagreed or failed.",
            [
                Query(
                    _rate(m.SHADOW_REQUESTS, "namespace, model, version, outcome", **_MODEL),
                    "{{model}} v{{version}} {{outcome}}",
                )
            ],
            unit="reqps",
            stacked=True,
        ),
        time_series(
            "Feedback dropped",
            "Labels that found no logged prediction (unknown, expired or evicted request ids).",
            [
                Query(
                    _rate(m.FEEDBACK_DROPPED, "namespace, model, reason", **_MODEL),
                    "{{model}} {{reason}}",
                )
            ],
            unit="reqps",
        ),
    ]


def shadow_accuracy_panel() -> dashboard_builders.Panel:
    correct, total = _feedback("$window", shadow=True)
    served_correct, served_total = _feedback("$window")
    return time_series(
        "Shadow accuracy vs served (95% Wilson interval)",
        "A shadow version answers nobody: labels joined to its mirrored predictions over "
        "$window, with the Wilson score interval, beside the accuracy of the versions that "
        "answered. The shadow Experiment's verdict compares the two.",
        [
            Query(f"({correct}) / ({total})", "v{{version}} shadow accuracy"),
            Query(wilson_bound(correct, total, upper=False), "v{{version}} shadow lower"),
            Query(wilson_bound(correct, total, upper=True), "v{{version}} shadow upper"),
            Query(f"({served_correct}) / ({served_total})", "v{{version}} served accuracy"),
        ],
        unit="percentunit",
        min_value=0,
        max_value=1,
    )


def latency_and_error_panels() -> list[dashboard_builders.Panel]:
    latency = [
        Query(quantile(q, m.REQUEST_DURATION, _BY_VERSION, _MODEL), f"v{{{{version}}}} p{label}")
        for q, label in ((0.5, "50"), (0.95, "95"), (0.99, "99"))
    ]
    error_rate, fallback_rate = failure_rates()
    return [
        time_series(
            "Latency p50 / p95 / p99 per version",
            "Time to answer at the gateway, from modelrollout_request_duration_seconds.",
            latency,
            unit="s",
            width=24,
        ),
        time_series(
            "Error rate per version",
            "Share of a version's requests it failed: answered with a 5xx, or rescued by "
            "fallback (answered 200 by another version). The errorRate analysis counts the same.",
            [Query(error_rate, "{{model}} v{{version}}")],
            unit="percentunit",
        ),
        time_series(
            "Fallback rate",
            "Share of a version's requests that fell back to another version because it failed "
            "(error, timeout, unready, non-finite output, shape mismatch): the fallbackRate "
            "analysis.",
            [Query(fallback_rate, "{{model}} v{{version}}")],
            unit="percentunit",
        ),
    ]


def triton_panels() -> list[dashboard_builders.Panel]:
    """Versions served by Triton behind an HTTPRoute: Triton's own counters and summaries."""
    success = _rate(m.TRITON_SUCCESS, _BY_VERSION, **_MODEL)
    failure = _rate(m.TRITON_FAILURE, _BY_VERSION, **_MODEL)
    latency = [
        Query(
            f"max by ({_BY_VERSION}) "
            f"({selector(m.TRITON_REQUEST_SUMMARY, **_MODEL, quantile=q)}) / 1e6",
            f"v{{{{version}}}} p{label} (slowest pod)",
        )
        for q, label in (("0.5", "50"), ("0.99", "99"))
    ]
    latency.append(
        Query(
            f"{_rate(m.TRITON_DURATION, _BY_VERSION, **_MODEL)} / {success} / 1e6",
            "v{{version}} mean",
        )
    )
    return [
        time_series(
            "Triton requests per second by version",
            "Requests Triton answered and failed, per version (nv_inference_request_success / "
            "_failure): the traffic signal when an HTTPRoute, not the gateway, splits it.",
            [
                Query(success, "{{model}} v{{version}} ok"),
                Query(failure, "{{model}} v{{version}} failed"),
            ],
            unit="reqps",
        ),
        time_series(
            "Triton error rate per version",
            "Failed / (succeeded + failed) requests as Triton counts them, any failure reason; "
            "what the errorRate analysis reads for a Triton version behind an HTTPRoute.",
            [Query(f"{failure} / ({success} + {failure})", "{{model}} v{{version}}")],
            unit="percentunit",
        ),
        time_series(
            "Triton latency per version",
            "Triton's request summary quantiles (over its own sliding window; the slowest pod "
            "stands for the version, as in the analysis) and the mean from its duration counter.",
            latency,
            unit="s",
            width=24,
        ),
    ]


def build() -> dashboard_builders.Dashboard:
    board = (
        dashboard_builders.Dashboard("Model rollout / Rollout health")
        .uid(UID)
        .description("Per model: traffic split, accuracy, latency, errors and experiment phase.")
        .tags(["model-rollout"])
        .refresh("30s")
        .time("now-3h", "now")
        .with_variable(datasource_variable())
        .with_variable(
            label_variable(
                "namespace",
                "Namespace",
                f'label_values({{__name__=~"{m.REQUESTS}|{m.TRITON_SUCCESS}"}}, namespace)',
            )
        )
        .with_variable(
            label_variable(
                "model",
                "Model",
                # the gateway's requests, or Triton's when an HTTPRoute splits the traffic
                f'label_values({{__name__=~"{m.REQUESTS}|{m.TRITON_SUCCESS}",'
                f'namespace=~"$namespace"}}, model)',
            )
        )
        .with_variable(
            label_variable(
                "experiment",
                "Experiment",
                f'label_values({m.EXPERIMENT_PHASE}{{namespace=~"$namespace",model=~"$model"}},'
                " experiment)",
            )
        )
        .with_variable(
            dashboard_builders.CustomVariable("window")
            .label("Accuracy window")
            .values("5m,15m,30m,1h,3h")
            .current(_option("15m"))
        )
        .with_variable(
            dashboard_builders.TextBoxVariable("accuracy_bound")
            .label("Accuracy bound")
            .default_value("0.85")
            .current(_option("0.85"))
        )
        .annotation(
            annotation(
                "Steps", f"changes({selector(m.EXPERIMENT_STEP, **_EXPERIMENT)}[2m]) > 0", "blue"
            )
        )
        .annotation(annotation("Promotions", _counter_event(m.PROMOTIONS, _EXPERIMENT), "green"))
        .annotation(annotation("Rollbacks", _counter_event(m.ROLLBACKS, _EXPERIMENT), "red"))
    )
    for title, panels in (
        ("Traffic", traffic_panels()),
        ("Quality", quality_panels()),
        ("Latency and errors", latency_and_error_panels()),
        ("Triton (HTTPRoute provider: the gateway is not in the path)", triton_panels()),
    ):
        board = board.with_row(row(title))
        for panel in panels:
            board = board.with_panel(panel)
    return board

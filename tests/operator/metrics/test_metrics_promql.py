"""PromQL rendering for built-in metrics and user templates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.api.v1alpha1 import MetricCheck
from modelrollout_operator.metrics.promql import (
    TemplateError,
    queries_for,
    quote,
    render_template,
)


def check(**kw: object) -> MetricCheck:
    return MetricCheck.model_validate(kw)


def test_accuracy_counts_feedback_since_the_start() -> None:
    q = queries_for(
        check(name="acc", kind="accuracy", maxDegradation=0.02),
        model="scorer", version="2", namespace="ml", since_seconds=125.4,
    )  # fmt: skip
    assert q.value is None
    assert q.samples == (
        'sum(increase(modelrollout_feedback_total{namespace="ml",model="scorer",version="2"}[125s]))'
    )
    assert q.successes == (
        'sum(increase(modelrollout_feedback_correct_total{namespace="ml",model="scorer",version="2"}[125s]))'
    )


def test_latency_uses_the_histogram_quantile_over_the_window() -> None:
    q = queries_for(
        check(name="p99", kind="latency", quantile=0.99, max=0.25, window="30s"),
        model="scorer", version="2", namespace="ml", since_seconds=1,
    )  # fmt: skip
    assert q.value == (
        "histogram_quantile(0.99, sum by (le) (rate(modelrollout_request_duration_seconds_bucket"
        '{namespace="ml",model="scorer",version="2"}[30s])))'
    )
    assert q.samples is not None and "modelrollout_request_duration_seconds_count" in q.samples


def test_error_rate_counts_fallbacks_as_errors_of_the_version_that_failed() -> None:
    q = queries_for(
        check(name="err", kind="errorRate", max=0.01, window="1m"),
        model="scorer", version="1", namespace="ml", since_seconds=1,
    )  # fmt: skip
    assert q.value is not None
    failed, requests = q.value.split(") / (")
    five = 'sum(rate(modelrollout_requests_total{namespace="ml",model="scorer",version="1",code=~"5.."}[60s]))'
    fell = 'sum(rate(modelrollout_fallbacks_total{namespace="ml",model="scorer",version="1"}[60s]))'
    answered = (
        'sum(rate(modelrollout_requests_total{namespace="ml",model="scorer",version="1"}[60s]))'
    )
    assert five in failed and fell in failed and answered not in failed
    assert answered in requests and fell in requests and five not in requests
    # a missing series (no 5xx, no fallback, never answered) is 0, not no data
    assert q.value.count("or vector(0)") == 4
    # an absolute bound needs no cumulative tally: two queries, not four
    assert q.events is None and q.trials is None


def test_failure_rates_against_the_baseline_add_the_tally_since_the_start() -> None:
    q = queries_for(
        check(name="fb", kind="fallbackRate", maxDegradation=0.01, window="30s"),
        model="scorer", version="2", namespace="ml", since_seconds=300,
    )  # fmt: skip
    assert q.value is not None and q.events is not None and q.trials is not None
    assert "code=" not in q.value  # fallbacks only
    assert q.events == (
        '(sum(increase(modelrollout_fallbacks_total{namespace="ml",model="scorer",version="2"}[300s]))'
        " or vector(0))"
    )
    assert "modelrollout_requests_total" in q.trials and "[300s]" in q.trials
    assert "modelrollout_fallbacks_total" in q.trials


def test_a_shadow_candidates_accuracy_reads_the_shadow_feedback() -> None:
    acc = check(name="acc", kind="accuracy", maxDegradation=0.02)
    q = queries_for(acc, model="scorer", version="2", namespace="ml", since_seconds=60,
                    shadow=True)  # fmt: skip
    assert q.samples == (
        'sum(increase(modelrollout_shadow_feedback_total{namespace="ml",model="scorer",version="2"}[60s]))'
    )
    assert q.successes == (
        'sum(increase(modelrollout_shadow_feedback_correct_total{namespace="ml",model="scorer",version="2"}'
        "[60s]))"
    )


def test_custom_templates_get_their_variables() -> None:
    q = queries_for(
        check(name="q", kind="custom", max=5,
              query='sum(rate(x{model="{{model}}",v="{{ version }}",ns="{{namespace}}"}[{{window}}]))'),
        model="scorer", version="3", namespace="ml", since_seconds=1,
    )  # fmt: skip
    assert q.value == 'sum(rate(x{model="scorer",v="3",ns="ml"}[60s]))'


def test_unknown_template_variables_are_named() -> None:
    with pytest.raises(TemplateError, match=r"unknown template variable.*pod"):
        render_template("x{{pod}}", model="m", version="1", namespace="n", window="1m")


@given(st.text())
def test_quoted_label_values_never_break_out(value: str) -> None:
    quoted = quote(value)
    body = quoted[1:-1]
    # Every quote and backslash inside is escaped; newlines are gone.
    assert "\n" not in body
    i = 0
    while i < len(body):
        if body[i] == "\\":
            assert body[i + 1] in '"\\n'
            i += 2
            continue
        assert body[i] != '"'
        i += 1

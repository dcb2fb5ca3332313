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
        'sum(increase(modelrollout_feedback_total{model="scorer",version="2"}[125s]))'
    )
    assert q.successes == (
        'sum(increase(modelrollout_feedback_correct_total{model="scorer",version="2"}[125s]))'
    )


def test_latency_uses_the_histogram_quantile_over_the_window() -> None:
    q = queries_for(
        check(name="p99", kind="latency", quantile=0.99, max=0.25, window="30s"),
        model="scorer", version="2", namespace="ml", since_seconds=1,
    )  # fmt: skip
    assert q.value == (
        "histogram_quantile(0.99, sum by (le) (rate(modelrollout_request_duration_seconds_bucket"
        '{model="scorer",version="2"}[30s])))'
    )
    assert q.samples is not None and "modelrollout_request_duration_seconds_count" in q.samples


def test_error_rate_divides_5xx_by_all_requests() -> None:
    q = queries_for(
        check(name="err", kind="errorRate", max=0.01, window="1m"),
        model="scorer", version="1", namespace="ml", since_seconds=1,
    )  # fmt: skip
    assert q.value is not None
    assert 'code=~"5.."' in q.value and "[60s]" in q.value
    # no 5xx series yet is zero errors (`or vector(0)`), but no requests at all stays no data
    assert "or vector(0)" in q.value
    assert q.value.endswith(
        '/ sum(rate(modelrollout_requests_total{model="scorer",version="1"}[60s]))'
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

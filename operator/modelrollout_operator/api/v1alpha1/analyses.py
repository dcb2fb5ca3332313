"""What an Experiment measures each interval, and the record of each analysis."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from .base import ApiModel, Duration, cel, parse_duration

#: The variables a custom query may name; the operator fills them in (metrics/promql.py).
TEMPLATE_VARIABLES = ("model", "version", "namespace", "window")
#: A custom query whose every {{...}} is a known variable (RE2 and Python agree on it).
TEMPLATE_PATTERN = r"^([^{]|\{[^{]|\{\{\s*(" + "|".join(TEMPLATE_VARIABLES) + r")\s*\}\})*\{?$"
#: Metrics that are proportions: they cannot degrade by a whole (or more).
PROPORTIONS = ("accuracy", "errorRate", "fallbackRate")
#: The shortest analysis interval: each pass queries Prometheus twice per metric.
MIN_INTERVAL = "1s"

MetricName = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-zA-Z][a-zA-Z0-9_-]*$")
]


class MetricKind(StrEnum):
    ACCURACY = "accuracy"
    ERROR_RATE = "errorRate"
    FALLBACK_RATE = "fallbackRate"
    LATENCY = "latency"
    CUSTOM = "custom"


class Degradation(StrEnum):
    ABSOLUTE = "absolute"
    RELATIVE = "relative"


class MetricCheck(ApiModel):
    """One metric of the analysis, with absolute bounds and/or a bound relative to the baseline."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "(self.kind == 'custom') == has(self.query)",
                "custom metrics need a query; built-in metrics take none",
            ),
            (
                "!has(self.quantile) || self.kind == 'latency'",
                "quantile applies to latency metrics only",
            ),
            (
                "has(self.min) || has(self.max) || has(self.maxDegradation)",
                "a metric needs at least one bound: min, max or maxDegradation",
            ),
            ("!has(self.min) || !has(self.max) || self.min <= self.max", "min must not exceed max"),
            (
                "!has(self.query) || self.query.matches('"
                + TEMPLATE_PATTERN.replace("\\", "\\\\")
                + "')",
                "custom query: the only variables are {{model}}, {{version}}, {{namespace}} and "
                "{{window}}",
            ),
            (
                # absolute on a proportion, or relative where higher is better (accuracy, or a
                # custom metric with higherIsBetter); a relative bound on a failure rate (up to
                # 2x the baseline's error rate) can fail.
                "!has(self.maxDegradation) || self.maxDegradation < 1.0 || !("
                "((!has(self.degradation) || self.degradation == 'absolute') && self.kind in "
                + str(list(PROPORTIONS))
                + ") || (has(self.degradation) && self.degradation == 'relative'"
                " && (self.kind == 'accuracy' || (has(self.higherIsBetter) && self.higherIsBetter))))",
                "maxDegradation must be below 1 for a proportion or a relative bound on a metric "
                "where higher is better: a degradation of 1 or more can never fail",
            ),
        )
    )

    name: MetricName
    kind: MetricKind
    quantile: float | None = Field(default=None, gt=0, lt=1, description="latency: default 0.99.")
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="custom: PromQL with {{model}}, {{version}}, {{namespace}}, {{window}}.",
    )
    higher_is_better: bool | None = Field(
        default=None, description="custom: direction (default false)."
    )
    min: float | None = Field(default=None, description="The candidate's value must be >= min.")
    max: float | None = Field(default=None, description="The candidate's value must be <= max.")
    max_degradation: float | None = Field(
        default=None,
        ge=0,
        description="How much worse than the baseline the candidate may be. Accuracy, "
        "errorRate and fallbackRate are proportions: judged with an always-valid confidence "
        "sequence on the counts since the candidate got traffic.",
    )
    degradation: Degradation = Field(
        default=Degradation.ABSOLUTE,
        description="absolute: in the metric's units; relative: a fraction of the baseline's value.",
    )
    min_samples: int = Field(default=100, ge=1, description="No verdict on fewer samples.")
    window: Duration = Field(
        default="1m",
        description="Range of rate() for rate-like metrics (errorRate and fallbackRate: for "
        "their min/max bounds).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> MetricCheck:
        if (self.kind == MetricKind.CUSTOM) != (self.query is not None):
            raise ValueError("custom metrics need a query; built-in metrics take none")
        if self.quantile is not None and self.kind != MetricKind.LATENCY:
            raise ValueError("quantile applies to latency metrics only")
        if self.min is None and self.max is None and self.max_degradation is None:
            raise ValueError("a metric needs at least one bound: min, max or maxDegradation")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        if self.query is not None and not re.fullmatch(TEMPLATE_PATTERN, self.query):
            raise ValueError(
                "custom query: the only variables are {{model}}, {{version}}, {{namespace}} "
                "and {{window}}"
            )
        absolute_proportion = (
            self.degradation == Degradation.ABSOLUTE and self.kind.value in PROPORTIONS
        )
        relative_up = self.degradation == Degradation.RELATIVE and not self.lower_is_better
        if (
            self.max_degradation is not None
            and self.max_degradation >= 1
            and (absolute_proportion or relative_up)
        ):
            raise ValueError(
                "maxDegradation must be below 1 for a proportion or a relative bound on a "
                "metric where higher is better: a degradation of 1 or more can never fail"
            )
        return self

    @property
    def lower_is_better(self) -> bool:
        if self.kind == MetricKind.ACCURACY:
            return False
        if self.kind == MetricKind.CUSTOM:
            return not bool(self.higher_is_better)
        return True

    @property
    def is_failure_rate(self) -> bool:
        """errorRate and fallbackRate: the share of a version's requests that failed."""
        return self.kind in (MetricKind.ERROR_RATE, MetricKind.FALLBACK_RATE)

    @property
    def effective_quantile(self) -> float:
        return self.quantile if self.quantile is not None else 0.99


class NoDataPolicy(StrEnum):
    HOLD = "hold"
    ROLLBACK = "rollback"


class NoData(ApiModel):
    """Missing metrics are never a pass: hold the weight, or roll back once they stay missing."""

    policy: NoDataPolicy = Field(default=NoDataPolicy.HOLD)
    after: Duration = Field(
        default="5m", description="How long data may be missing before the policy."
    )


def _default_metrics() -> list[MetricCheck]:
    return [MetricCheck(name="accuracy", kind=MetricKind.ACCURACY, max_degradation=0.02)]


class Analysis(ApiModel):
    """The checks run every interval; a failing check counts towards the failure limit."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "self.metrics.all(m, self.metrics.exists_one(n, n.name == m.name))",
                "analysis.metrics names must be unique",
            ),
            (
                f"!has(self.interval) || duration(self.interval) >= duration('{MIN_INTERVAL}')",
                f"analysis.interval must be at least {MIN_INTERVAL}",
            ),
        )
    )

    interval: Duration = Field(
        default="30s", description=f"How often metrics are analysed (at least {MIN_INTERVAL})."
    )
    metrics: list[MetricCheck] = Field(
        default_factory=_default_metrics, min_length=1, max_length=20
    )
    failure_limit: int = Field(
        default=2, ge=1, le=100, description="Failed analyses before rollback."
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="Error rate of the statistical tests: the chance of rolling back (or "
        "promoting) on noise alone, valid under a look every interval.",
    )
    no_data: NoData = Field(default_factory=NoData)

    @model_validator(mode="after")
    def _unique_names(self) -> Analysis:
        names = [m.name for m in self.metrics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"analysis.metrics names must be unique: {', '.join(dupes)}")
        if parse_duration(self.interval) < parse_duration(MIN_INTERVAL):
            raise ValueError(f"analysis.interval must be at least {MIN_INTERVAL}")
        return self

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class MetricResult(ApiModel):
    """One metric's verdict with the numbers that led to it."""

    metric: str
    verdict: Verdict
    candidate: float | None = None
    baseline: float | None = None
    candidate_samples: int | None = None
    baseline_samples: int | None = None
    lower: float | None = Field(default=None, description="Lower end of the confidence interval.")
    upper: float | None = Field(default=None, description="Upper end of the confidence interval.")
    message: str = ""


class AnalysisRun(ApiModel):
    """One analysis: when, at which step and weight, the overall verdict and each metric's."""

    time: datetime
    step: int
    weight: int
    verdict: Verdict
    results: list[MetricResult] = Field(default_factory=list)

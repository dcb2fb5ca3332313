"""Experiment (short name `exp`): rolls one candidate ModelVersion out against a baseline."""

from __future__ import annotations

import itertools
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from .base import ApiModel, Condition, Duration, ObjectName, cel, parse_duration

Weight = Annotated[int, Field(ge=0, le=100, description="Percent of traffic for the candidate.")]
MetricName = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-zA-Z][a-zA-Z0-9_-]*$")
]
HeaderName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9-]+$")
]


class StrategyType(StrEnum):
    CANARY = "canary"
    AB_TEST = "abTest"
    SHADOW = "shadow"


class ExperimentPhase(StrEnum):
    PENDING = "Pending"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    PROMOTING = "Promoting"
    SUCCEEDED = "Succeeded"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"


TERMINAL_PHASES = frozenset(
    {ExperimentPhase.SUCCEEDED, ExperimentPhase.ROLLED_BACK, ExperimentPhase.FAILED}
)


class CanaryStep(ApiModel):
    """Hold the candidate at `weight` percent for `bake`, or until a person approves."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "!has(self.gate) || !has(self.bake)",
                "a step with a manual gate waits for approval: remove its bake time",
            ),
        )
    )

    weight: Weight
    bake: Duration | None = Field(
        default=None,
        description="How long analysis must keep passing at this weight before the next step "
        "(default: one analysis interval).",
    )
    gate: Literal["manual"] | None = Field(
        default=None, description="manual: wait for `modelrollout approve` before moving on."
    )

    @model_validator(mode="after")
    def _gate_without_bake(self) -> CanaryStep:
        if self.gate is not None and self.bake is not None:
            raise ValueError("a step with a manual gate waits for approval: remove its bake time")
        return self


class Canary(ApiModel):
    """Explicit steps (Argo Rollouts style) or stepWeight up to maxWeight (Flagger style)."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "has(self.steps) != has(self.stepWeight)",
                "set either canary.steps or canary.stepWeight (with canary.maxWeight)",
            ),
            (
                "has(self.stepWeight) == has(self.maxWeight)",
                "canary.stepWeight and canary.maxWeight go together",
            ),
            (
                "!has(self.steps) || self.steps.map(s, s.weight).isSorted()"
                " && self.steps.all(s, self.steps.exists_one(t, t.weight == s.weight))",
                "canary.steps weights must rise strictly from step to step",
            ),
            (
                "!has(self.stepWeight) || self.stepWeight <= self.maxWeight",
                "canary.stepWeight must not exceed canary.maxWeight",
            ),
        )
    )

    steps: list[CanaryStep] | None = Field(default=None, min_length=1, max_length=50)
    step_weight: int | None = Field(
        default=None, ge=1, le=100, description="Weight added each step."
    )
    max_weight: int | None = Field(default=None, ge=1, le=100, description="Last step's weight.")
    step_bake: Duration = Field(default="1m", description="Bake time of each stepWeight step.")

    @model_validator(mode="after")
    def _one_form(self) -> Canary:
        if (self.steps is None) == (self.step_weight is None):
            raise ValueError("set either canary.steps or canary.stepWeight (with canary.maxWeight)")
        if (self.step_weight is None) != (self.max_weight is None):
            raise ValueError("canary.stepWeight and canary.maxWeight go together")
        if self.steps is not None:
            weights = [s.weight for s in self.steps]
            if any(b <= a for a, b in itertools.pairwise(weights)):
                raise ValueError(
                    f"canary.steps weights must rise strictly from step to step: {weights}"
                )
        if (
            self.step_weight is not None
            and self.max_weight is not None
            and self.step_weight > self.max_weight
        ):
            raise ValueError("canary.stepWeight must not exceed canary.maxWeight")
        return self

    def resolved_steps(self) -> list[CanaryStep]:
        """The steps to walk: explicit ones, or stepWeight, 2*stepWeight, ... maxWeight."""
        if self.steps is not None:
            return list(self.steps)
        assert self.step_weight is not None and self.max_weight is not None
        weights = list(range(self.step_weight, self.max_weight, self.step_weight))
        weights.append(self.max_weight)
        return [CanaryStep(weight=w, bake=self.step_bake) for w in weights]


class ABTest(ApiModel):
    """A fixed split until the analysis reaches a verdict, or the deadline passes."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "duration(self.minDuration) <= duration(self.maxDuration)",
                "abTest.minDuration must not exceed abTest.maxDuration",
            ),
        )
    )

    weight: int = Field(default=50, ge=1, le=99, description="Candidate share during the test.")
    min_duration: Duration = Field(default="0s", description="No verdict before this much time.")
    max_duration: Duration = Field(
        default="24h",
        description="Deadline: without a verdict by then the candidate is rolled back.",
    )

    @model_validator(mode="after")
    def _min_before_max(self) -> ABTest:
        if parse_duration(self.min_duration) > parse_duration(self.max_duration):
            raise ValueError("abTest.minDuration must not exceed abTest.maxDuration")
        return self


class Shadow(ApiModel):
    """Mirror a share of requests to the candidate; users are only ever answered by the baseline."""

    percent: int = Field(default=100, ge=1, le=100, description="Share of requests mirrored.")
    duration: Duration = Field(default="10m", description="How long to shadow before the verdict.")


class Strategy(ApiModel):
    """How traffic moves to the candidate: canary steps, an A/B split, or shadowing."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "self.type != 'canary' || has(self.canary)",
                "strategy.type canary needs strategy.canary",
            ),
            (
                "self.type != 'abTest' || has(self.abTest)",
                "strategy.type abTest needs strategy.abTest",
            ),
            (
                "self.type != 'shadow' || has(self.shadow)",
                "strategy.type shadow needs strategy.shadow",
            ),
        )
    )

    type: StrategyType = Field(default=StrategyType.CANARY)
    canary: Canary | None = None
    ab_test: ABTest | None = None
    shadow: Shadow | None = None

    @model_validator(mode="after")
    def _matching_block(self) -> Strategy:
        block = {
            StrategyType.CANARY: ("canary", self.canary),
            StrategyType.AB_TEST: ("abTest", self.ab_test),
            StrategyType.SHADOW: ("shadow", self.shadow),
        }[self.type]
        if block[1] is None:
            raise ValueError(f"strategy.type {self.type.value} needs strategy.{block[0]}")
        return self


class TrafficProvider(StrEnum):
    GATEWAY = "gateway"
    HTTP_ROUTE = "httpRoute"


class HTTPRouteRef(ApiModel):
    """A Gateway API HTTPRoute whose backendRefs point at the baseline and candidate Services."""

    name: ObjectName
    namespace: ObjectName | None = Field(default=None, description="Default: the Experiment's.")


class CorrectnessKind(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


class Correctness(ApiModel):
    """When the gateway counts a prediction as correct once its label arrives."""

    kind: CorrectnessKind = Field(default=CorrectnessKind.BINARY)
    output: str = Field(
        default="score",
        min_length=1,
        max_length=256,
        description="Model output holding the prediction.",
    )
    threshold: float = Field(default=0.5, description="binary: score >= threshold is class 1.")
    tolerance: float = Field(
        default=0.0, ge=0, description="regression: |prediction - label| allowed."
    )


class Routing(ApiModel):
    """How requests are split between baseline and candidate, and how correctness is judged."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "self.provider != 'httpRoute' || has(self.httpRoute)",
                "routing.provider httpRoute needs routing.httpRoute",
            ),
        )
    )

    provider: TrafficProvider = Field(default=TrafficProvider.GATEWAY)
    sticky_by: HeaderName | None = Field(
        default="x-user-id", description="Request header whose value keeps a user on one version."
    )
    http_route: HTTPRouteRef | None = None
    correctness: Correctness = Field(default_factory=Correctness)

    @model_validator(mode="after")
    def _route_given(self) -> Routing:
        if self.provider == TrafficProvider.HTTP_ROUTE and self.http_route is None:
            raise ValueError("routing.provider httpRoute needs routing.httpRoute")
        return self


class MetricKind(StrEnum):
    ACCURACY = "accuracy"
    ERROR_RATE = "errorRate"
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
        default=None, ge=0, description="How much worse than the baseline the candidate may be."
    )
    degradation: Degradation = Field(
        default=Degradation.ABSOLUTE,
        description="absolute: in the metric's units; relative: a fraction of the baseline's value.",
    )
    min_samples: int = Field(default=100, ge=1, description="No verdict on fewer samples.")
    window: Duration = Field(default="1m", description="Range of rate() for rate-like metrics.")

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
        return self

    @property
    def lower_is_better(self) -> bool:
        if self.kind == MetricKind.ACCURACY:
            return False
        if self.kind == MetricKind.CUSTOM:
            return not bool(self.higher_is_better)
        return True

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
        )
    )

    interval: Duration = Field(default="30s", description="How often metrics are analysed.")
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
        return self

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)


class PromotionMode(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class Promotion(ApiModel):
    """What happens after the last step."""

    mode: PromotionMode = Field(
        default=PromotionMode.AUTOMATIC,
        description="manual: after the last step, wait for `modelrollout promote`.",
    )


class ExperimentSpec(ApiModel):
    """Which candidate replaces which baseline, how, and by which evidence."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            ("self.baseline != self.candidate", "spec.baseline and spec.candidate must differ"),
        )
    )

    model: ObjectName = Field(description="Model whose traffic is shifted.")
    baseline: ObjectName = Field(description="ModelVersion serving today.")
    candidate: ObjectName = Field(description="ModelVersion rolled out.")
    strategy: Strategy = Field(
        default_factory=lambda: Strategy(
            canary=Canary(steps=[CanaryStep(weight=w) for w in (10, 25, 50, 100)])
        )
    )
    routing: Routing = Field(default_factory=Routing)
    analysis: Analysis = Field(default_factory=Analysis)
    promotion: Promotion = Field(default_factory=Promotion)
    paused: bool = Field(
        default=False, description="Hold where it is (kubectl patch or `modelrollout pause`)."
    )

    @model_validator(mode="after")
    def _different_versions(self) -> ExperimentSpec:
        if self.baseline == self.candidate:
            raise ValueError("spec.baseline and spec.candidate must differ")
        return self


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


class ExperimentStatus(ApiModel):
    """Where the rollout is and why: phase, step, weight, and the recent analyses."""

    phase: ExperimentPhase = Field(default=ExperimentPhase.PENDING)
    message: str = ""
    conditions: list[Condition] = Field(default_factory=list)
    current_step: int = Field(
        default=0, ge=0, description="1-based step being baked (0: not started)."
    )
    total_steps: int = Field(default=0, ge=0)
    weight: int = Field(default=0, ge=0, le=100, description="Candidate weight applied now.")
    baseline_version: str | None = None
    candidate_version: str | None = None
    started_at: datetime | None = None
    step_started_at: datetime | None = None
    finished_at: datetime | None = None
    last_analysis_at: datetime | None = None
    failed_checks: int = Field(default=0, ge=0)
    no_data_since: datetime | None = None
    approved_step: int | None = Field(
        default=None, description="Step whose manual gate was approved."
    )
    analysis: list[AnalysisRun] = Field(
        default_factory=list, description="The most recent analyses."
    )
    observed_generation: int | None = None


class Experiment(ApiModel):
    api_version: Literal["modelrollout.dev/v1alpha1"] = "modelrollout.dev/v1alpha1"
    kind: Literal["Experiment"] = "Experiment"
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: ExperimentSpec
    status: ExperimentStatus | None = None

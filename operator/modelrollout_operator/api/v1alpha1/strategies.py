"""How an Experiment moves traffic: canary steps, an A/B split, or a shadow run."""

from __future__ import annotations

import itertools
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from .base import ApiModel, Duration, cel, parse_duration

Weight = Annotated[int, Field(ge=0, le=100, description="Percent of traffic for the candidate.")]


class StrategyType(StrEnum):
    CANARY = "canary"
    AB_TEST = "abTest"
    SHADOW = "shadow"


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

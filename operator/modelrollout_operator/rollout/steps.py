"""The steps a strategy walks: weights, bake times and gates, numbered from 1.

A/B tests and shadows are one step each: the candidate holds a fixed share (or a mirrored
share) until the verdict, so the engine treats every strategy as a list of steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api.v1alpha1 import ExperimentSpec, StrategyType, parse_duration


@dataclass(frozen=True)
class Step:
    number: int  # 1-based, as status.currentStep
    weight: int  # candidate share of user traffic
    bake_seconds: float  # minimum time at this step (0 for a manual gate: a person decides)
    gated: bool = False  # wait for `modelrollout approve` before moving on
    shadow_percent: int = 0  # share of requests mirrored to the candidate


def steps_of(spec: ExperimentSpec) -> list[Step]:
    """The steps of the experiment's strategy."""
    strategy = spec.strategy
    interval = spec.analysis.interval_seconds
    if strategy.type == StrategyType.CANARY:
        assert strategy.canary is not None
        out: list[Step] = []
        for i, s in enumerate(strategy.canary.resolved_steps(), start=1):
            gated = s.gate == "manual"
            # A step without its own bake lasts one analysis interval (the API's default).
            bake = parse_duration(s.bake) if s.bake is not None else (0.0 if gated else interval)
            out.append(Step(number=i, weight=s.weight, bake_seconds=bake, gated=gated))
        return out
    if strategy.type == StrategyType.AB_TEST:
        assert strategy.ab_test is not None
        ab = strategy.ab_test
        return [Step(number=1, weight=ab.weight, bake_seconds=parse_duration(ab.min_duration))]
    assert strategy.shadow is not None
    sh = strategy.shadow
    return [
        Step(
            number=1,
            weight=0,
            bake_seconds=parse_duration(sh.duration),
            shadow_percent=sh.percent,
        )
    ]


def step_at(steps: list[Step], number: int) -> Step | None:
    """Step `number` (1-based), or None before the start or past the end."""
    if 1 <= number <= len(steps):
        return steps[number - 1]
    return None

"""What the demo saw, pass by pass: one `Tick` per engine pass, built from plain data.

The progress lines, the summary and the timeline plot all read ticks, so what is printed,
written and drawn is the same story.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..api.v1alpha1 import ExperimentStatus, MetricCheck, MetricKind
from ..rollout.model import Measurement, MetricObservation


@dataclass(frozen=True)
class VersionFigures:
    """One version's numbers in one pass (None: not measured, or no data yet)."""

    accuracy: float | None = None
    samples: int = 0  # labelled predictions behind the accuracy
    p99: float | None = None  # seconds


@dataclass(frozen=True)
class Tick:
    at: float  # seconds since the demo started
    experiment: str
    phase: str
    step: int
    total_steps: int
    weight: int  # candidate weight applied after this pass
    baseline: str  # version numbers, as the gateway labels them
    candidate: str
    figures: dict[str, VersionFigures] = field(default_factory=dict)
    verdict: str | None = None  # of the analysis run in this pass, if one ran
    failed_checks: int = 0
    message: str = ""
    event: str | None = None  # "rollback" or "promotion" when this pass ended the experiment

    def weights(self) -> dict[str, int]:
        """Traffic per version after this pass (a promoted candidate holds it all)."""
        if self.event == "promotion":
            return {self.baseline: 0, self.candidate: 100}
        return {self.baseline: 100 - self.weight, self.candidate: self.weight}


def _figures_from(measurement: Measurement | None, kind: MetricKind) -> VersionFigures:
    if measurement is None:
        return VersionFigures()
    if kind == MetricKind.ACCURACY:
        return VersionFigures(accuracy=measurement.value, samples=measurement.samples)
    return VersionFigures(p99=measurement.value)


def _merge(a: VersionFigures, b: VersionFigures) -> VersionFigures:
    return VersionFigures(
        accuracy=a.accuracy if a.accuracy is not None else b.accuracy,
        samples=max(a.samples, b.samples),
        p99=a.p99 if a.p99 is not None else b.p99,
    )


def figures_from(
    checks: Sequence[MetricCheck],
    observations: Sequence[MetricObservation],
    baseline: str,
    candidate: str,
) -> dict[str, VersionFigures]:
    """Accuracy (with samples) and p99 latency per version, from the pass's observations.

    The first accuracy metric and the first latency metric at quantile 0.99 among `checks`
    are shown; other metrics still decide, they are just not printed.
    """
    kinds = {m.name: m for m in checks}
    out = {baseline: VersionFigures(), candidate: VersionFigures()}
    seen: set[MetricKind] = set()
    for observation in observations:
        check = kinds.get(observation.metric)
        if check is None or observation.error is not None or check.kind in seen:
            continue
        if check.kind == MetricKind.LATENCY and check.effective_quantile != 0.99:
            continue
        if check.kind not in (MetricKind.ACCURACY, MetricKind.LATENCY):
            continue
        seen.add(check.kind)
        out[candidate] = _merge(out[candidate], _figures_from(observation.candidate, check.kind))
        out[baseline] = _merge(out[baseline], _figures_from(observation.baseline, check.kind))
    return out


def tick_from(
    *,
    at: float,
    experiment: str,
    checks: Sequence[MetricCheck],
    status: ExperimentStatus,
    observations: Sequence[MetricObservation],
    baseline: str,
    candidate: str,
    analysed: bool,
) -> Tick:
    """The tick of one pass; `analysed` says whether this pass ran an analysis."""
    verdict = None
    if analysed and status.analysis:
        verdict = status.analysis[-1].verdict.value
    event = {"RolledBack": "rollback", "Succeeded": "promotion"}.get(status.phase.value)
    return Tick(
        at=at,
        experiment=experiment,
        phase=status.phase.value,
        step=status.current_step,
        total_steps=status.total_steps,
        weight=status.weight,
        baseline=baseline,
        candidate=candidate,
        figures=figures_from(checks, observations, baseline, candidate),
        verdict=verdict,
        failed_checks=status.failed_checks,
        message=status.message,
        event=event,
    )

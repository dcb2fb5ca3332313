"""The acceptance gate: bounds on the held-out test metrics, judged as a plain function."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import UsageError
from .schema import Task


@dataclass(frozen=True)
class Bound:
    metric: str  # a key of the test metrics, e.g. "accuracy", "rocAuc"
    limit: float
    at_least: bool  # True: metric >= limit passes; False: metric <= limit passes


@dataclass(frozen=True)
class Gate:
    bounds: tuple[Bound, ...] = ()

    @classmethod
    def from_limits(
        cls,
        task: Task,
        *,
        min_accuracy: float | None = None,
        min_roc_auc: float | None = None,
        max_log_loss: float | None = None,
        max_ece: float | None = None,
    ) -> Gate:
        """Build the gate from CLI limits, refusing those that cannot apply to the task."""
        bounds: list[Bound] = []
        for flag, metric, value, at_least, unit in (
            ("--min-accuracy", "accuracy", min_accuracy, True, True),
            ("--min-roc-auc", "rocAuc", min_roc_auc, True, True),
            ("--max-log-loss", "logLoss", max_log_loss, False, False),
            ("--max-ece", "ece", max_ece, False, True),
        ):
            if value is None:
                continue
            if value != value or value < 0 or (unit and value > 1):
                raise UsageError(
                    f"{flag} must be in [0, 1], got {value}"
                    if unit
                    else f"{flag} must not be negative, got {value}"
                )
            if metric == "rocAuc" and task is not Task.BINARY:
                raise UsageError(f"{flag} applies to binary models only, not {task.value}")
            if metric in ("logLoss", "ece") and task is Task.REGRESSION:
                raise UsageError(f"{flag} does not apply to regression")
            bounds.append(Bound(metric, value, at_least))
        return cls(tuple(bounds))


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)


def judge(gate: Gate, test_metrics: Mapping[str, float]) -> Verdict:
    """Pass when every bound holds; each failed bound gives one human-readable reason."""
    reasons: list[str] = []
    for bound in gate.bounds:
        value = test_metrics.get(bound.metric)
        if value is None:
            reasons.append(f"test {bound.metric} is not available")
        elif bound.at_least and not value >= bound.limit:
            reasons.append(f"test {bound.metric} {value:.4f} < minimum {bound.limit:g}")
        elif not bound.at_least and not value <= bound.limit:
            reasons.append(f"test {bound.metric} {value:.4f} > maximum {bound.limit:g}")
    return Verdict(not reasons, reasons)

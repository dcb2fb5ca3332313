from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_trainer.errors import UsageError
from modelrollout_trainer.gating import Gate, judge
from modelrollout_trainer.schema import Task

unit = st.floats(0.0, 1.0, allow_nan=False)


@given(unit, unit, unit, unit)
def test_passes_exactly_when_every_bound_holds(
    accuracy: float, auc: float, min_accuracy: float, min_auc: float
) -> None:
    gate = Gate.from_limits(Task.BINARY, min_accuracy=min_accuracy, min_roc_auc=min_auc)
    verdict = judge(gate, {"accuracy": accuracy, "rocAuc": auc})
    assert verdict.passed == (accuracy >= min_accuracy and auc >= min_auc)
    assert len(verdict.reasons) == (accuracy < min_accuracy) + (auc < min_auc)


def test_reasons_name_metric_value_and_limit() -> None:
    gate = Gate.from_limits(Task.BINARY, min_accuracy=0.9, max_ece=0.05)
    verdict = judge(gate, {"accuracy": 0.8512, "ece": 0.07})
    assert verdict.reasons == [
        "test accuracy 0.8512 < minimum 0.9",
        "test ece 0.0700 > maximum 0.05",
    ]


def test_no_bounds_passes() -> None:
    assert judge(Gate(), {"accuracy": 0.1}).passed


def test_missing_metric_fails() -> None:
    verdict = judge(Gate.from_limits(Task.BINARY, min_roc_auc=0.5), {"accuracy": 0.9})
    assert not verdict.passed and "rocAuc is not available" in verdict.reasons[0]


@pytest.mark.parametrize(
    ("task", "limits", "message"),
    [
        (Task.MULTICLASS, {"min_roc_auc": 0.8}, "binary models only"),
        (Task.REGRESSION, {"max_ece": 0.1}, "does not apply to regression"),
        (Task.BINARY, {"min_accuracy": 1.5}, r"--min-accuracy must be in \[0, 1\]"),
        (Task.BINARY, {"max_log_loss": -1.0}, "must not be negative"),
    ],
)
def test_limits_that_cannot_apply_are_usage_errors(
    task: Task, limits: dict[str, float], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        Gate.from_limits(task, **limits)

"""Correctness rules and the bounded join of labels to predictions (pure logic)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_inference.feedback.correctness import LabelError, agree, judge
from modelrollout_inference.feedback.joining import Prediction, PredictionMemory
from modelrollout_inference.routing.table import (
    BinaryCorrectness,
    MulticlassCorrectness,
    RegressionCorrectness,
)

BINARY = BinaryCorrectness(threshold=0.5)


def test_binary_multiclass_regression() -> None:
    assert judge(BINARY, np.array([[0.7], [0.2]]), [1, 1]) == [True, False]
    assert judge(BINARY, np.array([[0.5]]), 1) == [True]  # >= threshold is class 1
    multi = MulticlassCorrectness()
    assert judge(multi, np.array([[0.1, 0.7, 0.2]]), 1) == [True]
    assert judge(multi, np.array([[0.1, 0.7, 0.2]]), 2) == [False]
    regression = RegressionCorrectness(tolerance=0.5)
    assert judge(regression, np.array([[3.2], [1.0]]), [3.0, 2.0]) == [True, False]


@pytest.mark.parametrize(
    ("correctness", "output", "label", "message"),
    [
        (BINARY, [[0.7]], 2, "binary label must be 0 or 1"),
        (BINARY, [[0.7], [0.1]], 1, r"1 label\(s\) given for a prediction of 2 row\(s\)"),
        (MulticlassCorrectness(), [[0.1, 0.9]], 5, r"class index in \[0, 2\)"),
        (RegressionCorrectness(tolerance=1), [[1.0]], "x", "not a finite number"),
        (RegressionCorrectness(tolerance=1), [[1.0]], float("nan"), "not a finite number"),
    ],
)
def test_bad_labels(
    correctness: object, output: list[list[float]], label: object, message: str
) -> None:
    with pytest.raises(LabelError, match=message):
        judge(correctness, np.array(output), label)  # type: ignore[arg-type]


@given(st.lists(st.floats(0, 1), min_size=1, max_size=20), st.floats(0, 1))
def test_binary_verdict_matches_threshold_rule(scores: list[float], threshold: float) -> None:
    output = np.array(scores, dtype=np.float64).reshape(-1, 1)
    labels = [1] * len(scores)
    verdicts = judge(BinaryCorrectness(threshold=threshold), output, labels)
    assert verdicts == [s >= threshold for s in scores]
    assert agree(BinaryCorrectness(threshold=threshold), output, output)


def test_agreement() -> None:
    assert agree(BINARY, np.array([[0.6]]), np.array([[0.9]]))
    assert not agree(BINARY, np.array([[0.6]]), np.array([[0.4]]))
    assert not agree(BINARY, np.array([[0.6]]), np.array([[0.6], [0.6]]))


def _prediction(t: float) -> Prediction:
    return Prediction("m", "1", "stable", np.array([[0.9]]), BINARY, t)


def test_memory_joins_once_and_names_why_a_label_found_nothing() -> None:
    memory = PredictionMemory(max_entries=2, ttl_seconds=10)
    memory.remember("a", _prediction(0))
    memory.remember("b", _prediction(1))
    memory.remember("c", _prediction(2))  # evicts a
    assert memory.take("a", 3) == (None, "evicted")
    prediction, reason = memory.take("b", 3)
    assert prediction is not None and reason == "joined"
    assert memory.take("b", 3) == (None, "unknown")  # one label per prediction
    assert memory.take("c", 20) == (None, "expired")
    assert memory.take("zzz", 20) == (None, "unknown")
    assert len(memory) == 0


@given(st.integers(1, 50), st.integers(0, 200))
def test_memory_is_bounded(limit: int, count: int) -> None:
    memory = PredictionMemory(max_entries=limit, ttl_seconds=1e9)
    for i in range(count):
        memory.remember(str(i), _prediction(i))
    assert len(memory) == min(limit, count)
    assert len(memory._gone) <= limit

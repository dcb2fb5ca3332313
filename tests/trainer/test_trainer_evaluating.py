from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from modelrollout_trainer.evaluating import (
    binary_accuracy,
    evaluate,
    expected_calibration_error,
    log_loss,
    roc_auc,
)
from modelrollout_trainer.schema import Task

# a grid, so transforms stay strictly monotone in floating point and ties are common
probabilities = st.integers(0, 40).map(lambda k: k / 40)


@st.composite
def labelled_scores(draw: st.DrawFn, min_size: int = 2) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_size, 40))
    labels = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    scores = np.array(draw(st.lists(probabilities, min_size=n, max_size=n)))
    return labels, scores


def _auc_brute_force(labels: np.ndarray, scores: np.ndarray) -> float:
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@given(labelled_scores())
def test_roc_auc_equals_pairwise_definition(case: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = case
    assume(0 < labels.sum() < labels.size)
    assert roc_auc(labels, scores) == pytest.approx(_auc_brute_force(labels, scores), abs=1e-12)


@given(labelled_scores())
def test_roc_auc_is_symmetric_and_rank_based(case: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = case
    assume(0 < labels.sum() < labels.size)
    auc = roc_auc(labels, scores)
    assert 0.0 <= auc <= 1.0
    assert roc_auc(labels, -scores) == pytest.approx(1.0 - auc, abs=1e-12)
    assert roc_auc(labels, np.exp(3 * scores) + 7) == pytest.approx(auc, abs=1e-12)


def test_roc_auc_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1, 1], [0.2, 0.4, 0.9])


@given(labelled_scores(min_size=1))
def test_accuracy_counts_threshold_decisions(case: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = case
    expected = sum(int((s >= 0.5) == (y == 1)) for y, s in zip(labels, scores, strict=True))
    assert binary_accuracy(labels, scores) == pytest.approx(expected / labels.size)


@given(labelled_scores(min_size=1))
def test_log_loss_matches_definition(case: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = case
    clipped = np.clip(scores, 1e-7, 1 - 1e-7)
    expected = -np.mean(
        [math.log(p if y == 1 else 1 - p) for y, p in zip(labels, clipped, strict=True)]
    )
    assert log_loss(Task.BINARY, labels, scores) == pytest.approx(expected, rel=1e-9)


@given(labelled_scores(min_size=1))
def test_ece_is_bounded(case: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = case
    assert 0.0 <= expected_calibration_error(Task.BINARY, labels, scores) <= 1.0


@settings(max_examples=30)
@given(st.integers(0, 2**31 - 1))
def test_ece_near_zero_when_calibrated_and_large_when_overconfident(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.uniform(size=60_000)
    labels = (rng.uniform(size=scores.size) < scores).astype(int)  # calibrated by construction
    assert expected_calibration_error(Task.BINARY, labels, scores) < 0.02
    overconfident = np.where(scores >= 0.5, 1.0, 0.0)
    assert expected_calibration_error(Task.BINARY, labels, overconfident) > 0.2


def test_ece_on_a_hand_worked_case() -> None:
    # confidences 0.9, 0.9 (one right, one wrong) and 0.6 (right): bins 14 and 9 (15 bins)
    labels = [1, 0, 0]
    scores = [0.9, 0.9, 0.4]
    expected = (2 * abs(0.5 - 0.9) + 1 * abs(1.0 - 0.6)) / 3
    assert expected_calibration_error(Task.BINARY, labels, scores) == pytest.approx(expected)


def test_multiclass_metrics() -> None:
    labels = np.array([0, 1, 2, 2])
    scores = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
    metrics = evaluate(Task.MULTICLASS, labels, scores)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["logLoss"] == pytest.approx(-np.mean(np.log([0.8, 0.7, 0.7, 0.1])))
    assert "rocAuc" not in metrics


def test_regression_accuracy_uses_tolerance() -> None:
    metrics = evaluate(Task.REGRESSION, [1.0, 2.0, 3.0, 4.0], [1.1, 2.6, 3.0, 3.0], tolerance=0.5)
    assert metrics["accuracy"] == pytest.approx(0.5)
    assert metrics["mae"] == pytest.approx((0.1 + 0.6 + 0.0 + 1.0) / 4)
    assert metrics["rmse"] == pytest.approx(math.sqrt((0.01 + 0.36 + 0 + 1) / 4))

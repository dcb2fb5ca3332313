"""Metrics of a scored split, in pure numpy.

Scores are what the served model returns: P(class 1) as [N] or [N, 1] for binary, class
probabilities [N, C] for multiclass, the predicted target for regression. Keys follow the
result JSON (camelCase).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .schema import Task

Array = npt.NDArray[np.float64]
_EPS = 1e-7
ECE_BINS = 15


def _binary_scores(scores: npt.ArrayLike) -> Array:
    return np.asarray(scores, dtype=np.float64).reshape(-1)


def binary_accuracy(labels: npt.ArrayLike, scores: npt.ArrayLike, threshold: float = 0.5) -> float:
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    return float(np.mean((_binary_scores(scores) >= threshold) == (y == 1)))


def roc_auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count 1/2.

    Computed from average ranks (Mann-Whitney U), O(n log n).
    """
    y = np.asarray(labels, dtype=np.float64).reshape(-1) == 1
    s = _binary_scores(scores)
    positives = int(y.sum())
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        raise ValueError("ROC AUC needs both classes among the labels")
    order = np.argsort(s, kind="mergesort")
    sorted_scores = s[order]
    ranks = np.empty(s.size, dtype=np.float64)
    # average ranks over runs of tied scores
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [s.size]])
    average = (starts + ends + 1) / 2.0  # ranks are 1-based
    ranks[order] = np.repeat(average, ends - starts)
    u = ranks[y].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def _class_probabilities(task: Task, scores: npt.ArrayLike) -> Array:
    s = np.asarray(scores, dtype=np.float64)
    if task is Task.BINARY:
        p1 = s.reshape(-1)
        return np.column_stack([1.0 - p1, p1])
    return s.reshape(s.shape[0], -1)


def log_loss(task: Task, labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Mean negative log-likelihood of the true class, probabilities clipped to [1e-7, 1-1e-7]."""
    probabilities = _class_probabilities(task, scores)
    y = np.asarray(labels).reshape(-1).astype(np.int64)
    picked = np.clip(probabilities[np.arange(y.size), y], _EPS, 1.0 - _EPS)
    return float(-np.mean(np.log(picked)))


def expected_calibration_error(
    task: Task, labels: npt.ArrayLike, scores: npt.ArrayLike, bins: int = ECE_BINS
) -> float:
    """Top-label ECE: |accuracy - confidence| per equal-width confidence bin, weighted by size."""
    probabilities = _class_probabilities(task, scores)
    y = np.asarray(labels).reshape(-1).astype(np.int64)
    # binary predicts class 1 at p >= 0.5, as the gateway does; argmax would pick 0 on a tie
    predicted = (
        (probabilities[:, 1] >= 0.5).astype(np.int64)
        if task is Task.BINARY
        else probabilities.argmax(axis=1)
    )
    confidence = probabilities.max(axis=1)
    correct = (predicted == y).astype(np.float64)
    # bin edges (0, 1/b], ..., a confidence of exactly 0 falls in the first bin
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    gap = np.abs(
        np.bincount(index, weights=correct, minlength=bins)
        - np.bincount(index, weights=confidence, minlength=bins)
    )
    return float(gap.sum() / max(int(counts.sum()), 1))


def evaluate(
    task: Task, labels: npt.ArrayLike, scores: npt.ArrayLike, tolerance: float = 0.5
) -> dict[str, float]:
    """All metrics of one split for the task.

    For regression, `accuracy` is the share within `tolerance` of the label, the same rule
    the gateway applies to feedback (routing table `correctness.kind: regression`).
    """
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if y.size == 0:
        raise ValueError("cannot evaluate an empty split")
    if task is Task.REGRESSION:
        predicted = np.asarray(scores, dtype=np.float64).reshape(-1)
        error = predicted - y
        return {
            "accuracy": float(np.mean(np.abs(error) <= tolerance)),
            "rmse": float(np.sqrt(np.mean(error**2))),
            "mae": float(np.mean(np.abs(error))),
        }
    metrics: dict[str, float] = {}
    if task is Task.BINARY:
        metrics["accuracy"] = binary_accuracy(y, scores)
        if 0 < y.sum() < y.size:
            metrics["rocAuc"] = roc_auc(y, scores)
    else:
        probabilities = _class_probabilities(task, scores)
        metrics["accuracy"] = float(np.mean(probabilities.argmax(axis=1) == y))
    metrics["logLoss"] = log_loss(task, y, scores)
    metrics["ece"] = expected_calibration_error(task, y, scores)
    return metrics

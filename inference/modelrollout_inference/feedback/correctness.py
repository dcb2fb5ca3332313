"""Is a prediction correct for its label, and do two predictions agree? Pure functions.

Binary: the score >= threshold is class 1. Multiclass: the argmax over the last axis.
Regression: |output - label| <= tolerance. A batch of N rows takes a list of N labels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..routing.table import (
    BinaryCorrectness,
    Correctness,
    MulticlassCorrectness,
    RegressionCorrectness,
)
from ..tensors import Array


class LabelError(ValueError):
    """A label that cannot be judged against its prediction."""


class EmptyPrediction(LabelError):
    """A prediction with no rows (or no values per row): no label can ever be judged on it."""


def _rows(output: Array) -> Array:
    if output.ndim == 0:
        return output.reshape(1, 1)
    # Not reshape(n, -1): numpy cannot infer -1 for an empty array.
    return output.reshape(output.shape[0], math.prod(output.shape[1:]))


def _labels(label: Any, rows: int) -> list[Any]:
    labels = label if isinstance(label, list) else [label]
    if len(labels) != rows:
        raise LabelError(f"{len(labels)} label(s) given for a prediction of {rows} row(s)")
    return labels


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise LabelError(f"label {value!r} is not a finite number")
    return float(value)


def judge(correctness: Correctness, output: Array, label: Any) -> list[bool]:
    """One verdict per row of `output`."""
    rows = _rows(np.asarray(output))
    if rows.shape[0] == 0 or rows.shape[1] == 0:
        raise EmptyPrediction(
            f"the prediction has shape {list(np.shape(output))}: nothing to judge"
        )
    labels = _labels(label, rows.shape[0])
    if isinstance(correctness, BinaryCorrectness):
        predicted = rows[:, 0] >= correctness.threshold
        verdicts = []
        for guess, value in zip(predicted, labels, strict=True):
            number = _number(value)
            if number not in (0.0, 1.0):
                raise LabelError(f"binary label must be 0 or 1, got {value!r}")
            verdicts.append(bool(guess) == (number == 1.0))
        return verdicts
    if isinstance(correctness, MulticlassCorrectness):
        predicted = np.argmax(rows, axis=1)
        verdicts = []
        for guess, value in zip(predicted, labels, strict=True):
            number = _number(value)
            if not number.is_integer() or not 0 <= number < rows.shape[1]:
                raise LabelError(
                    f"multiclass label must be a class index in [0, {rows.shape[1]}), got {value!r}"
                )
            verdicts.append(int(guess) == int(number))
        return verdicts
    if isinstance(correctness, RegressionCorrectness):
        return [
            abs(float(pred) - _number(value)) <= correctness.tolerance
            for pred, value in zip(rows[:, 0], labels, strict=True)
        ]
    raise TypeError(f"unknown correctness {correctness!r}")


def agree(correctness: Correctness, first: Array, second: Array) -> bool:
    """Do two outputs for the same request make the same decision on every row?"""
    a, b = _rows(np.asarray(first)), _rows(np.asarray(second))
    if a.shape != b.shape:
        return False
    if a.size == 0:
        return True
    if isinstance(correctness, BinaryCorrectness):
        return bool(
            np.array_equal(a[:, 0] >= correctness.threshold, b[:, 0] >= correctness.threshold)
        )
    if isinstance(correctness, MulticlassCorrectness):
        return bool(np.array_equal(np.argmax(a, axis=1), np.argmax(b, axis=1)))
    if isinstance(correctness, RegressionCorrectness):
        return bool(np.all(np.abs(a[:, 0].astype(np.float64) - b[:, 0]) <= correctness.tolerance))
    raise TypeError(f"unknown correctness {correctness!r}")

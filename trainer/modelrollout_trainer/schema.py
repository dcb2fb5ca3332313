"""The declared schema of a training set: which columns are features, which is the label."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .errors import UsageError


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


# The first model family (tabular scoring): 12 user, 12 item, 10 context and 5 timing features.
USER_FEATURES = tuple(f"user_{i}" for i in range(12))
ITEM_FEATURES = tuple(f"item_{i}" for i in range(12))
CONTEXT_FEATURES = tuple(f"ctx_{i}" for i in range(10))
TIMING_FEATURES = tuple(f"time_{i}" for i in range(5))
SCORING_FEATURES = USER_FEATURES + ITEM_FEATURES + CONTEXT_FEATURES + TIMING_FEATURES
LABEL_COLUMN = "label"

# Named feature sets accepted by `--features`; anything else is a comma-separated column list.
FEATURES_SCORING = "scoring"
FEATURES_ALL = "all"


@dataclass(frozen=True)
class DatasetSchema:
    features: tuple[str, ...]
    label: str
    task: Task

    @property
    def required_columns(self) -> tuple[str, ...]:
        return (*self.features, self.label)


def generic_feature_names(count: int) -> tuple[str, ...]:
    """Names for feature vectors that carry no names of their own (e.g. the prediction log)."""
    return tuple(f"f_{i}" for i in range(count))


def resolve_features(spec: str, columns: Sequence[str], label: str) -> tuple[str, ...]:
    """Turn a `--features` value into the ordered feature columns.

    `scoring` is the declared 39-column schema, `all` is every column but the label
    in file order, anything else a comma-separated list of column names.
    """
    if spec == FEATURES_SCORING:
        return SCORING_FEATURES
    if spec == FEATURES_ALL:
        features = tuple(str(c) for c in columns if str(c) != label)
        if not features:
            raise UsageError(
                f"--features all: the dataset has no column besides the label {label!r}"
            )
        return features
    names = tuple(name.strip() for name in spec.split(",") if name.strip())
    if not names:
        raise UsageError("--features: expected 'scoring', 'all' or a comma-separated column list")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"--features: column(s) listed twice: {', '.join(duplicates)}")
    if label in names:
        raise UsageError(f"--features: the label column {label!r} cannot also be a feature")
    return names

"""Seeded train/validation/test splits, stratified by class where the task has classes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..errors import UsageError

Indices = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SplitFractions:
    train: float = 0.8
    validation: float = 0.1
    test: float = 0.1

    def __post_init__(self) -> None:
        parts = (self.train, self.validation, self.test)
        if any(p <= 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-9:
            raise UsageError(f"split fractions must be positive and sum to 1, got {parts}")


@dataclass(frozen=True)
class Split:
    train: Indices
    validation: Indices
    test: Indices


def _cut(count: int, fractions: SplitFractions) -> tuple[int, int]:
    """Sizes of validation and test for a group of `count` rows (each at least 1 if possible)."""
    validation = round(count * fractions.validation)
    test = round(count * fractions.test)
    if count >= 3:
        validation, test = max(validation, 1), max(test, 1)
    return validation, test


def split_indices(
    count: int,
    seed: int,
    fractions: SplitFractions | None = None,
    strata: npt.NDArray[np.int64] | None = None,
) -> Split:
    """Partition row indices 0..count-1; with `strata`, each stratum is split in proportion.

    Pure and deterministic in (count, seed, fractions, strata): the same inputs give the same
    split, which is how the test split can be rebuilt to check a reported metric.
    """
    fractions = fractions or SplitFractions()
    rng = np.random.default_rng(seed)
    groups = (
        [np.arange(count, dtype=np.int64)]
        if strata is None
        else [np.flatnonzero(strata == value).astype(np.int64) for value in np.unique(strata)]
    )
    train: list[Indices] = []
    validation: list[Indices] = []
    test: list[Indices] = []
    for group in groups:
        shuffled = rng.permutation(group)
        n_validation, n_test = _cut(len(shuffled), fractions)
        test.append(shuffled[:n_test])
        validation.append(shuffled[n_test : n_test + n_validation])
        train.append(shuffled[n_test + n_validation :])
    # sorted so the row order inside a split does not depend on the strata
    return Split(*(np.sort(np.concatenate(parts)) for parts in (train, validation, test)))

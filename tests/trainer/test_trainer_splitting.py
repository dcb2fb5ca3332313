from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_trainer.datasets.splitting import SplitFractions, split_indices
from modelrollout_trainer.errors import UsageError


@given(st.integers(1, 500), st.integers(0, 2**32 - 1))
def test_split_is_a_deterministic_partition(count: int, seed: int) -> None:
    split = split_indices(count, seed)
    parts = np.concatenate([split.train, split.validation, split.test])
    assert sorted(parts.tolist()) == list(range(count))
    again = split_indices(count, seed)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(
            (split.train, split.validation, split.test),
            (again.train, again.validation, again.test),
            strict=True,
        )
    )


@given(st.lists(st.integers(0, 3), min_size=30, max_size=400), st.integers(0, 1000))
def test_stratified_split_keeps_each_class_in_proportion(labels: list[int], seed: int) -> None:
    strata = np.array(labels, dtype=np.int64)
    split = split_indices(strata.size, seed, strata=strata)
    for cls in np.unique(strata):
        total = int((strata == cls).sum())
        test = int((strata[split.test] == cls).sum())
        validation = int((strata[split.validation] == cls).sum())
        assert abs(test - max(round(total * 0.1), 1 if total >= 3 else 0)) <= 0
        assert abs(validation - max(round(total * 0.1), 1 if total >= 3 else 0)) <= 0
        if total >= 3:
            assert test >= 1 and validation >= 1 and total - test - validation >= 1


def test_default_proportions_on_a_large_set() -> None:
    split = split_indices(10_000, seed=3)
    assert (split.train.size, split.validation.size, split.test.size) == (8000, 1000, 1000)


def test_seed_changes_the_split() -> None:
    assert not np.array_equal(split_indices(1000, 1).test, split_indices(1000, 2).test)


def test_fractions_must_sum_to_one() -> None:
    with pytest.raises(UsageError, match="sum to 1"):
        SplitFractions(0.8, 0.1, 0.2)

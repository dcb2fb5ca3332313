"""Sticky assignment properties: monotonic in the weight, minimal moves, shares follow weights."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrollout_inference.routing.hashing import SPACE, Slot, choose, key_point


def two(weight: int) -> list[Slot]:
    return [Slot("1", 100 - weight, True), Slot("2", weight, False)]


points = st.integers(min_value=0, max_value=SPACE - 1)
weights = st.integers(min_value=0, max_value=100)


@given(points, weights, weights)
def test_a_user_on_the_candidate_stays_there_when_the_weight_grows(
    point: int, w: int, w2: int
) -> None:
    low, high = sorted((w, w2))
    if choose(point, two(low)) == "2":
        assert choose(point, two(high)) == "2"


@given(points)
def test_weight_extremes(point: int) -> None:
    assert choose(point, two(0)) == "1"
    assert choose(point, two(100)) == "2"


@given(st.lists(weights, min_size=2, max_size=2).map(sorted))
@settings(max_examples=25, deadline=None)
def test_share_moved_is_the_weight_delta(pair: list[int]) -> None:
    before, after = pair
    keys = [f"user-{i}" for i in range(4000)]
    moved = sum(
        choose(key_point(k, "m"), two(before)) != choose(key_point(k, "m"), two(after))
        for k in keys
    )
    assert abs(moved / len(keys) - (after - before) / 100) < 0.035


def test_ten_to_twenty_five_moves_fifteen_percent_and_nobody_back() -> None:
    keys = [f"user-{i}" for i in range(20000)]
    at_10 = [choose(key_point(k, "scorer"), two(10)) for k in keys]
    at_25 = [choose(key_point(k, "scorer"), two(25)) for k in keys]
    moved_forward = sum(a == "1" and b == "2" for a, b in zip(at_10, at_25, strict=True))
    moved_back = sum(a == "2" and b == "1" for a, b in zip(at_10, at_25, strict=True))
    assert moved_back == 0
    assert abs(moved_forward / len(keys) - 0.15) < 0.01


@given(st.integers(min_value=0, max_value=100), st.integers(min_value=0, max_value=100))
@settings(max_examples=30, deadline=None)
def test_distribution_follows_weights_with_three_versions(w2: int, w3: int) -> None:
    if w2 + w3 > 100:
        w2, w3 = w2 // 2, w3 // 2
    slots = [Slot("1", 100 - w2 - w3, True), Slot("2", w2, False), Slot("3", w3, False)]
    rng = random.Random(3)
    counts = {"1": 0, "2": 0, "3": 0}
    n = 5000
    for _ in range(n):
        counts[choose(rng.getrandbits(64), slots)] += 1
    for slot in slots:
        assert abs(counts[slot.version] / n - slot.weight / 100) < 0.03


@given(st.text(min_size=1, max_size=40))
def test_key_point_is_stable_and_salted(key: str) -> None:
    assert key_point(key, "a") == key_point(key, "a")
    assert 0 <= key_point(key, "a") < SPACE


def test_key_points_differ_across_models() -> None:
    same = sum(key_point(f"u{i}", "a") == key_point(f"u{i}", "b") for i in range(100))
    assert same == 0


def test_point_outside_the_space_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        choose(SPACE, two(10))

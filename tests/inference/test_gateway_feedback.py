"""Correctness rules and the bounded join of labels to predictions (pure logic)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_inference.feedback.correctness import EmptyPrediction, LabelError, agree, judge
from modelrollout_inference.feedback.stores import (
    Key,
    MemoryStore,
    Prediction,
    Taken,
    decode,
    encode,
    record_key,
)
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


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_memory_joins_once_and_names_why_a_label_found_nothing() -> None:
    clock = _Clock()
    store = MemoryStore(max_entries=2, ttl_seconds=10, clock=clock)
    for t, name in enumerate("abc"):
        clock.now = t
        await store.put(Key("m", name), _prediction(t))  # c evicts a
    clock.now = 3
    assert await store.take([Key("m", "a")]) == [Taken(None, "evicted")]
    [taken] = await store.take([Key("m", "b")])
    assert taken.prediction is not None and taken.reason == "joined"
    assert await store.take([Key("m", "b")]) == [Taken(None, "unknown")]  # one label, one join
    clock.now = 20
    assert await store.take([Key("m", "c"), Key("m", "zzz")]) == [
        Taken(None, "expired"),
        Taken(None, "unknown"),
    ]
    assert len(store) == 0


async def test_an_expired_prediction_put_back_after_a_bad_label_counts_as_expired() -> None:
    clock = _Clock()
    store = MemoryStore(max_entries=100, ttl_seconds=10, clock=clock)
    await store.put(Key("m", "old"), _prediction(0))
    clock.now = 5
    await store.put(Key("m", "young"), _prediction(5))
    [taken] = await store.take([Key("m", "old")])
    assert taken.prediction is not None
    clock.now = 11  # the bad label's put-back lands after the TTL, behind a younger entry
    await store.put_back(Key("m", "old"), taken.prediction)
    assert await store.take([Key("m", "old")]) == [Taken(None, "expired")]
    clock.now = 9.5
    await store.put_back(Key("m", "young"), _prediction(5))
    clock.now = 16  # put back in time, it still expires when it would have
    assert await store.take([Key("m", "young")]) == [Taken(None, "expired")]


async def test_routed_and_shadow_predictions_and_models_have_their_own_keys() -> None:
    store = MemoryStore(max_entries=10, ttl_seconds=10, clock=lambda: 0.0)
    await store.put(Key("m", "r"), _prediction(0))
    await store.put(Key("m", "r", "shadow"), _prediction(0))
    assert [t.reason for t in await store.take([Key("other", "r")])] == ["unknown"]
    reasons = [t.reason for t in await store.take([Key("m", "r"), Key("m", "r", "shadow")])]
    assert reasons == ["joined", "joined"]


@given(st.integers(1, 50), st.integers(0, 200))
def test_memory_is_bounded(limit: int, count: int) -> None:
    store = MemoryStore(max_entries=limit, ttl_seconds=1e9, clock=lambda: 0.0)
    for i in range(count):
        store.put_now(Key("m", str(i)), _prediction(0))
    assert len(store) == min(limit, count)
    assert len(store._gone) <= limit


arrays = st.lists(st.floats(-1e6, 1e6, width=32), min_size=0, max_size=12).map(
    lambda values: np.asarray(values, dtype=np.float32).reshape(-1, 1)
)


@given(
    output=st.one_of(st.none(), arrays),
    correctness=st.sampled_from(
        [BINARY, MulticlassCorrectness(output="p"), RegressionCorrectness(tolerance=0.25)]
    ),
    model=st.text(min_size=1, max_size=8),
    when=st.floats(0, 2e9),
)
def test_records_survive_the_shared_store_encoding(
    output: np.ndarray | None, correctness: object, model: str, when: float
) -> None:
    prediction = Prediction(model, "7", "candidate", output, correctness, when)  # type: ignore[arg-type]
    back = decode(encode(prediction))
    assert (back.model, back.version, back.route, back.time) == (model, "7", "candidate", when)
    assert back.correctness == correctness
    if output is None:
        assert back.output is None
    else:
        assert back.output is not None and back.output.shape == output.shape
        assert np.array_equal(back.output, output.astype(np.float64))


@given(st.text(min_size=1, max_size=5), st.text(min_size=1, max_size=5))
def test_record_keys_are_unambiguous(first: str, second: str) -> None:
    a, b = Key(first + ":" + second, "x"), Key(first, second + ":x")
    assert record_key("p:", a) != record_key("p:", b)
    assert record_key("p:", Key("m", "x")) != record_key("p:", Key("m", "x", "shadow"))


def test_a_zero_row_prediction_cannot_be_judged_and_says_so() -> None:
    with pytest.raises(EmptyPrediction, match="nothing to judge"):
        judge(BINARY, np.zeros((0, 1), dtype=np.float32), [])
    assert agree(BINARY, np.zeros((0, 1)), np.zeros((0, 1)))

"""The load generator's inputs: the traffic sample and the profile, with clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelrollout_operator.local.loading import (
    LoadProfile,
    TrafficError,
    TrafficSample,
    infer_body,
    read_sample,
)


def test_a_sample_keeps_feature_order_and_takes_the_label_out(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,label,b\n1.5,1,2.5\n3,0,4\n", encoding="utf-8")
    sample = read_sample(path)
    assert sample.features.dtype == np.float32
    assert sample.features.tolist() == [[1.5, 2.5], [3.0, 4.0]]
    assert sample.labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("a,b\n1,2\n", "no 'label' column"),
        ("a,label\n1,x\n", "not a numeric table"),
        ("a,label\n1,0\n1\n", "not a numeric table|do not all have"),
        ("a,label\n", "no rows"),
    ],
)
def test_a_bad_sample_is_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TrafficError, match=message):
        read_sample(path)


def test_a_missing_sample_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(TrafficError, match="not found"):
        read_sample(tmp_path / "nope.csv")


def test_features_and_labels_must_match() -> None:
    with pytest.raises(TrafficError, match="do not match"):
        TrafficSample(np.zeros((3, 2), dtype=np.float32), np.zeros(2, dtype=np.int64))


@pytest.mark.parametrize(
    "kwargs",
    [{"rate": 0}, {"rate": 10, "users": 0}, {"rate": 10, "concurrency": 0},
     {"rate": 10, "feedback_delay": -1}],
)  # fmt: skip
def test_a_profile_that_cannot_run_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(TrafficError):
        LoadProfile(**kwargs)  # type: ignore[arg-type]


def test_the_request_is_kserve_v2_json_for_one_row() -> None:
    body = infer_body("abc", np.asarray([0.5, -1.0], dtype=np.float32))
    assert body == {
        "id": "abc",
        "inputs": [{"name": "features", "shape": [1, 2], "datatype": "FP32", "data": [0.5, -1.0]}],
    }

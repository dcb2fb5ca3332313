from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelrollout_trainer.cli import main
from modelrollout_trainer.datasets.building import (
    BuildStats,
    join_records,
    log_files,
    read_records,
    to_frame,
)
from modelrollout_trainer.errors import DatasetError
from modelrollout_trainer.schema import SCORING_FEATURES


def prediction(
    request: str,
    rows: list[list[float]],
    version: str = "1",
    route: str = "stable",
    model: str = "scorer",
) -> dict[str, Any]:
    return {
        "kind": "prediction",
        "requestId": request,
        "time": "2026-11-25T03:20:00.123Z",
        "model": model,
        "version": version,
        "route": route,
        "inputs": {"features": rows},
        "outputs": {"score": [[0.5]] * len(rows)},
    }


def feedback(request: str, label: Any, model: str = "scorer") -> dict[str, Any]:
    return {
        "kind": "feedback",
        "requestId": request,
        "time": "2026-11-25T03:21:10.000Z",
        "model": model,
        "version": "1",
        "label": label,
        "correct": True,
    }


def test_join_handles_batches_late_labels_and_missing_ones() -> None:
    records = [
        feedback("early", 1),  # feedback read before its prediction (another file order)
        prediction("a", [[1.0, 2.0]]),
        prediction("b", [[3.0, 4.0], [5.0, 6.0]]),
        prediction("c", [[7.0, 8.0]]),  # no label yet
        prediction("early", [[9.0, 9.5]], version="2", route="candidate"),
        prediction("a", [[1.0, 2.0]], version="2", route="shadow"),
        feedback("a", 0),
        feedback("b", [1, 0]),
        feedback("a", 1),  # a correction: the last label wins
        feedback("ghost", 1),
        prediction("z", [[0.0, 0.0]], model="other"),
    ]
    joined = join_records(records, "scorer")
    assert joined.features == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 9.5]]
    assert joined.labels == [1, 1, 0, None, 1]
    stats = joined.stats
    assert (stats.rows_labelled, stats.rows_unlabelled) == (4, 1)
    assert stats.shadow_skipped == 1 and stats.feedback_without_prediction == 1
    assert stats.other_models_skipped == 1


def test_version_filter() -> None:
    records = [
        prediction("a", [[1.0]], version="1"),
        prediction("b", [[2.0]], version="2"),
        feedback("a", 0),
        feedback("b", 1),
    ]
    assert join_records(records, "scorer", ["2"]).features == [[2.0]]


def test_label_count_must_match_batch_rows() -> None:
    joined = join_records([prediction("b", [[1.0], [2.0]]), feedback("b", [1])], "scorer")
    assert joined.labels == [None, None] and joined.stats.invalid_records == 1


def test_feature_width_change_is_an_error_naming_the_request() -> None:
    with pytest.raises(DatasetError, match="request 'b' has 3 features"):
        join_records([prediction("a", [[1.0, 2.0]]), prediction("b", [[1.0, 2.0, 3.0]])], "scorer")


def test_frame_names_scoring_features_and_drops_unlabelled() -> None:
    rows = [[float(i)] * 39 for i in range(3)]
    joined = join_records([prediction("a", rows), feedback("a", [1, None, 0])], "scorer")
    frame = to_frame(joined)
    assert list(frame.columns) == [*SCORING_FEATURES, "label"]
    assert frame["label"].tolist() == [1, 0] and frame["label"].dtype == "int64"
    assert len(to_frame(joined, include_unlabelled=True)) == 3


def _write_log(directory: Path, name: str, records: list[dict[str, Any]], tail: str = "") -> None:
    text = "".join(json.dumps(r) + "\n" for r in records) + tail
    (directory / name).write_text(text)


def test_files_are_read_oldest_first_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    _write_log(tmp_path, "predictions-current.jsonl", [feedback("a", 0)], tail='{"kind": "pred')
    _write_log(tmp_path, "predictions-20261125T031000Z-1.jsonl", [prediction("a", [[1.0]])])
    _write_log(tmp_path, "predictions-20261125T032000Z-2.jsonl", [feedback("a", 1)])
    files = log_files([str(tmp_path)])
    assert [f.name for f in files][-1] == "predictions-current.jsonl"
    stats = BuildStats()
    joined = join_records(read_records(files, stats), "scorer", stats=stats)
    assert joined.labels == [0]  # the label in the open file is the latest
    assert stats.malformed_lines == 1


def test_build_dataset_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    _write_log(
        logs,
        "predictions-current.jsonl",
        [
            prediction("a", [[0.5] * 39, [0.25] * 39]),
            feedback("a", [0, 1]),
            prediction("b", [[0.1] * 39]),
        ],
    )
    out = tmp_path / "train.parquet"
    assert (
        main(["build-dataset", "--log", str(logs), "--model", "scorer", "--output", str(out)]) == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows"] == 2 and summary["rows_unlabelled"] == 1
    frame = pd.read_parquet(out)
    assert frame["label"].tolist() == [0, 1] and frame["user_0"].tolist() == [0.5, 0.25]


def test_build_dataset_with_no_feedback_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_log(tmp_path, "predictions-current.jsonl", [prediction("a", [[1.0]])])
    assert (
        main(
            [
                "build-dataset",
                "--log",
                str(tmp_path),
                "--model",
                "scorer",
                "--output",
                str(tmp_path / "out.csv"),
            ]
        )
        == 2
    )
    assert "has feedback yet" in capsys.readouterr().err

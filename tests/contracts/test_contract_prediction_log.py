"""Contract 4: the prediction log the gateway writes is the one the trainer builds datasets from.

Records are built by the gateway's own record functions and written by its writer thread
(size-rotated files); `modelrollout-trainer build-dataset` reads the directory it left.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelrollout_inference.logging.records import feedback_record, prediction_record
from modelrollout_inference.logging.writer import CURRENT, PredictionLogWriter
from modelrollout_trainer import cli as trainer_cli

T0 = 1_790_000_000.0


def _prediction(request: str, version: str, route: str, rows: list[list[float]]) -> Any:
    features = np.asarray(rows, dtype=np.float32)
    scores = np.full((len(rows), 1), 0.5, dtype=np.float32)
    return lambda: prediction_record(
        request_id=request, time=T0, model="scorer", version=version, route=route,
        inputs={"features": features}, outputs={"score": scores},
    )  # fmt: skip


def _feedback(request: str, version: str, route: str, label: Any) -> Any:
    correct: Any = [True] * len(label) if isinstance(label, list) else True
    return lambda: feedback_record(
        request_id=request, time=T0 + 60, model="scorer", version=version, route=route,
        label=label, correct=correct,
    )  # fmt: skip


def _write_log(directory: Path) -> None:
    """What a gateway serving stable v1, candidate v2 and mirroring to shadow v3 writes:
    predictions first, labels later (so in later files: max_bytes forces rotations)."""
    writer = PredictionLogWriter(directory, max_bytes=600, max_total_bytes=1_000_000)
    writer.start()
    try:
        writer.submit(_prediction("r-stable", "1", "stable", [[1.0, 2.0, 3.0]]))
        writer.submit(_prediction("r-candidate", "2", "candidate", [[4.0, 5.0, 6.0]]))
        # a batch of two rows, mirrored to the shadow version (same inputs, another version)
        batch = [[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]]
        writer.submit(_prediction("r-batch", "1", "stable", batch))
        writer.submit(_prediction("r-batch", "3", "shadow", batch))
        writer.submit(_prediction("r-unlabelled", "2", "candidate", [[13.0, 14.0, 15.0]]))
        # the labels, joined by the gateway: routed ones, and the shadow copy's second record
        writer.submit(_feedback("r-stable", "1", "stable", 1))
        writer.submit(_feedback("r-candidate", "2", "candidate", 0))
        writer.submit(_feedback("r-batch", "1", "stable", [0, 1]))
        writer.submit(_feedback("r-batch", "3", "shadow", [0, 1]))
    finally:
        writer.close()
    assert writer.error is None


def _build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    out = tmp_path / f"dataset{len(extra)}.csv"
    rc = trainer_cli.main(
        ["build-dataset", "--log", str(tmp_path / "log"), "--model", "scorer",
         "--output", str(out), *extra]
    )  # fmt: skip
    assert rc == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return pd.read_csv(out), stats


def test_the_trainer_builds_a_dataset_from_the_gateways_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_log(tmp_path / "log")
    files = sorted((tmp_path / "log").glob("predictions-*.jsonl"))
    assert len(files) > 2, "the writer rotated: labels live in later files than predictions"
    assert not (tmp_path / "log" / CURRENT).exists(), "close() renames the open file"

    frame, stats = _build(tmp_path, capsys)
    # routed predictions with their labels, one row per input row; the shadow copy of
    # r-batch is not a second training example, its second feedback record not a second label
    rows = sorted(
        (tuple(r), int(label))
        for r, label in zip(
            frame[["f_0", "f_1", "f_2"]].values.tolist(), frame["label"], strict=True
        )
    )
    assert rows == [
        ((1.0, 2.0, 3.0), 1),
        ((4.0, 5.0, 6.0), 0),
        ((7.0, 8.0, 9.0), 0),
        ((10.0, 11.0, 12.0), 1),
    ]
    assert stats["predictions"] == 4 and stats["shadow_skipped"] == 1
    assert stats["feedback"] == 4 and stats["feedback_without_prediction"] == 0
    assert stats["rows_labelled"] == 4 and stats["rows_unlabelled"] == 1
    assert stats["invalid_records"] == 0 and stats["malformed_lines"] == 0


def test_the_trainer_keeps_one_version_and_unlabelled_rows_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_log(tmp_path / "log")
    frame, stats = _build(tmp_path, capsys, "--version", "2", "--include-unlabelled")
    by_first = {
        row[0]: label for row, label in zip(frame.values.tolist(), frame["label"], strict=True)
    }
    assert set(by_first) == {4.0, 13.0}  # the candidate's requests only
    assert by_first[4.0] == 0 and pd.isna(by_first[13.0])
    assert stats["rows_unlabelled"] == 1

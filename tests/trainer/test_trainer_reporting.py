from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from modelrollout_trainer.reporting import (
    emit,
    error_result,
    fit_termination_message,
    success_result,
)


def _result(reasons: list[str]) -> dict[str, object]:
    metrics = {"accuracy": 0.9, "rocAuc": 0.95, "logLoss": 0.25, "ece": 0.02}
    return success_result(
        model="scorer",
        version=2,
        artifact_uri="s3://models/repo/scorer/2/model.onnx",
        sha256="a" * 64,
        repository="s3://models/repo",
        metrics={"train": metrics, "validation": metrics, "test": metrics},
        gate_passed=not reasons,
        gate_reasons=reasons,
        training={"device": "cpu"},
    )


def test_result_has_the_contract_shape() -> None:
    result = _result([])
    assert set(result) >= {"model", "version", "artifact", "metrics", "gate"}
    assert result["artifact"] == {
        "uri": "s3://models/repo/scorer/2/model.onnx",
        "sha256": "a" * 64,
        "format": "onnx",
        "repository": "s3://models/repo",
    }
    assert result["gate"] == {"passed": True, "reasons": []}


@given(st.lists(st.text(min_size=0, max_size=600), max_size=30))
def test_termination_message_fits_and_keeps_the_verdict(reasons: list[str]) -> None:
    text = fit_termination_message(_result(reasons))
    assert len(text.encode()) <= 4096
    parsed = json.loads(text)
    assert parsed["gate"]["passed"] is (not reasons)
    assert parsed["artifact"]["sha256"] == "a" * 64
    assert parsed["metrics"]["test"]["accuracy"] == 0.9


def test_long_error_message_is_shortened() -> None:
    text = fit_termination_message(error_result("scorer", 1, 2, "x" * 10_000))
    assert len(text.encode()) <= 4096
    assert json.loads(text)["error"]["exitCode"] == 2


def test_emit_writes_stdout_and_an_existing_termination_log(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    log.touch()
    out = io.StringIO()
    emit(_result([]), stdout=out, termination_log=log)
    assert json.loads(out.getvalue().splitlines()[-1]) == json.loads(log.read_text())


def test_emit_skips_a_missing_termination_log(tmp_path: Path) -> None:
    emit(_result([]), stdout=io.StringIO(), termination_log=tmp_path / "absent")
    assert not (tmp_path / "absent").exists()

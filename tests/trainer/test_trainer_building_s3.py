"""The training Job's first step (a Model's versions): `build-dataset` reads the gateway's
prediction log uploaded to S3 (a real moto server), keeps the window's predictions, one row
per request id, adds the base dataset, refuses too few labels, and reports its rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelrollout_trainer.cli import main

BUCKET = "logs"


def _record(kind: str, request: str, time: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "requestId": request, "time": time, "model": "scorer",
            "version": "1", **extra}  # fmt: skip


def _pred(request: str, time: str, x: float) -> dict[str, Any]:
    return _record("prediction", request, time, route="stable",
                   inputs={"features": [[x, x]]}, outputs={"score": [[0.5]]})  # fmt: skip


def _label(request: str, label: int, time: str = "2026-11-30T12:00:00Z") -> dict[str, Any]:
    return _record("feedback", request, time, label=label, correct=True)


def _put(s3: Any, key: str, records: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


@pytest.fixture
def uploaded(s3: Any) -> Any:
    s3.create_bucket(Bucket=BUCKET)
    # moto keeps one in-memory S3 per process, shared by every moto server in it: another
    # test's log under s3://logs/gw (the operator's learning e2e writes one) must not count here.
    for leftover in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=leftover["Key"])
    _put(s3, "gw/predictions-20261129T000000Z-1.jsonl", [
        _pred("old", "2026-11-01T00:00:00Z", 9.0),  # before the window
        _pred("a", "2026-11-29T10:00:00Z", 1.0),
        _pred("b", "2026-11-29T11:00:00Z", 2.0),
    ])  # fmt: skip
    # The same file uploaded again under another name (a retried upload) and the labels.
    _put(s3, "gw/predictions-20261129T000000Z-2.jsonl", [
        _pred("a", "2026-11-29T10:00:00Z", 1.0), _label("a", 1), _label("b", 0), _label("old", 1),
        _pred("late", "2026-12-01T13:00:00Z", 3.0), _label("late", 1),  # after `until`
    ])  # fmt: skip
    _put(s3, "other/predictions-20261129T000000Z-1.jsonl", [_pred("z", "2026-11-29T10:00:00Z", 7)])
    s3.put_object(Bucket=BUCKET, Key="gw/README.txt", Body=b"not a log")
    return s3


def _build(tmp_path: Path, *extra: str) -> int:
    return main([
        "build-dataset", "--log", f"s3://{BUCKET}/gw", "--model", "scorer",
        "--feature-names", "f_0,f_1", "--since", "2026-11-02T00:00:00Z",
        "--until", "2026-12-01T12:00:00Z", "--termination-log", str(tmp_path / "term"),
        *extra,
    ])  # fmt: skip


def test_build_joins_the_window_of_the_s3_log_one_row_per_request_and_adds_the_base(
    uploaded: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "base.csv"
    pd.DataFrame({"f_0": [5.0], "f_1": [5.0], "label": [0]}).to_csv(base, index=False)
    (tmp_path / "term").write_text("")
    out = f"s3://{BUCKET}/built/scorer-v2.parquet"
    assert _build(tmp_path, "--base", str(base), "--min-labelled", "2", "--output", out) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["rows"] == 3 and result["rows_labelled"] == 2
    assert result["outside_window"] == 2  # "old" and "late"
    assert json.loads((tmp_path / "term").read_text())["rows"] == 3
    local = tmp_path / "built.parquet"
    uploaded.download_file(BUCKET, "built/scorer-v2.parquet", str(local))
    frame = pd.read_parquet(local)
    assert frame["f_0"].tolist() == [5.0, 1.0, 2.0]  # base first, then a and b once each
    assert frame["label"].tolist() == [0, 1, 0]


def test_build_refuses_fewer_labelled_rows_than_asked(
    uploaded: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out.parquet")
    assert _build(tmp_path, "--min-labelled", "3", "--output", out) == 2
    assert "2 labelled rows in the prediction log, fewer than --min-labelled 3" in (
        capsys.readouterr().err
    )
    assert not Path(out).exists()


def test_build_says_when_the_prefix_holds_no_log(uploaded: Any, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    code = main(["build-dataset", "--log", f"s3://{BUCKET}/nothing", "--model", "scorer",
                 "--output", str(tmp_path / "o.csv")])  # fmt: skip
    assert code == 2
    assert "no predictions-*.jsonl files under s3://logs/nothing" in capsys.readouterr().err


def test_build_with_s3_down_is_a_storage_outage_exit_6_not_a_crash(
    uploaded: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("MODELROLLOUT_STORAGE_RETRY_SECONDS", "1")
    assert _build(tmp_path, "--output", str(tmp_path / "o.parquet")) == 6
    assert "storage unavailable" in capsys.readouterr().err

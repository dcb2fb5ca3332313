"""Dataset on S3 -> train -> gate -> ONNX -> parity -> Triton entry on S3 -> verified fetch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelrollout_trainer.cli import main
from modelrollout_trainer.datasets.validating import validate
from modelrollout_trainer.evaluating import evaluate
from modelrollout_trainer.exporting import run_onnx
from modelrollout_trainer.job import split_dataset
from modelrollout_trainer.schema import SCORING_FEATURES, DatasetSchema, Task

TRAIN = ["--epochs", "15", "--batch-size", "256", "--seed", "5", "--threads", "1", "--quiet"]


def _last_json(out: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return parsed


def test_train_publish_fetch_and_reproduce(
    s3: Any, small_frame: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.create_bucket(Bucket="datasets")
    s3.create_bucket(Bucket="models")
    dataset = tmp_path / "train.parquet"
    small_frame.to_parquet(dataset, index=False)
    s3.upload_file(str(dataset), "datasets", "scoring/train.parquet")
    termination = tmp_path / "termination-log"
    termination.touch()

    code = main(
        [
            "train",
            "--dataset",
            "s3://datasets/scoring/train.parquet",
            "--model",
            "scorer",
            "--version",
            "2",
            "--output",
            "s3://models/repo",
            "--min-accuracy",
            "0.7",
            "--min-roc-auc",
            "0.8",
            "--termination-log",
            str(termination),
            *TRAIN,
        ]
    )
    result = _last_json(capsys.readouterr().out)
    assert code == 0, result
    assert result["gate"] == {"passed": True, "reasons": []}
    assert result["artifact"]["uri"] == "s3://models/repo/scorer/2/model.onnx"
    assert result["artifact"]["repository"] == "s3://models/repo"
    assert set(result["metrics"]) == {"train", "validation", "test"}
    assert json.loads(termination.read_text()) == result
    assert len(termination.read_bytes()) < 4096

    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="models")["Contents"]}
    assert keys >= {
        "repo/scorer/config.pbtxt",
        "repo/scorer/2/model.onnx",
        "repo/scorer/2/metrics.json",
    }
    config = s3.get_object(Bucket="models", Key="repo/scorer/config.pbtxt")["Body"].read().decode()
    assert 'platform: "onnxruntime_onnx"' in config and "dims: [ 39 ]" in config
    assert "dynamic_batching" in config and "max_batch_size: 1024" in config
    head = s3.head_object(Bucket="models", Key="repo/scorer/2/model.onnx")
    assert head["Metadata"]["sha256"] == result["artifact"]["sha256"]

    model = tmp_path / "fetched" / "model.onnx"
    assert (
        main(
            [
                "fetch",
                "--uri",
                result["artifact"]["uri"],
                "--dest",
                str(model),
                "--sha256",
                result["artifact"]["sha256"],
            ]
        )
        == 0
    )
    assert _last_json(capsys.readouterr().out)["verified"] is True

    # ONNX Runtime on the downloaded model reproduces the reported test metrics
    data = validate(small_frame, DatasetSchema(SCORING_FEATURES, "label", Task.BINARY))
    test_rows = split_dataset(data, seed=5).test
    metrics = evaluate(
        Task.BINARY, data.labels[test_rows], run_onnx(model, data.features[test_rows])
    )
    assert metrics["accuracy"] == pytest.approx(result["metrics"]["test"]["accuracy"], abs=1e-6)
    assert metrics["rocAuc"] == pytest.approx(result["metrics"]["test"]["rocAuc"], abs=1e-5)

    # a tampered artifact is refused, and nothing is written where it would land
    s3.put_object(
        Bucket="models",
        Key="repo/scorer/2/model.onnx",
        Body=model.read_bytes() + b"x",
        Metadata={"sha256": result["artifact"]["sha256"]},
    )
    tampered = tmp_path / "tampered" / "model.onnx"
    code = main(["fetch", "--uri", result["artifact"]["uri"], "--dest", str(tampered)])
    assert code == 5
    assert "refused" in capsys.readouterr().err
    assert not tampered.exists()


def test_gate_failure_exits_3_and_still_writes_the_model(
    small_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    code = main(
        [
            "train",
            "--dataset",
            str(small_csv),
            "--model",
            "scorer",
            "--version",
            "1",
            "--output",
            str(repo),
            "--min-accuracy",
            "0.99",
            *TRAIN,
        ]
    )
    result = _last_json(capsys.readouterr().out)
    assert code == 3
    assert result["gate"]["passed"] is False
    assert result["gate"]["reasons"][0].startswith("test accuracy")
    assert (repo / "scorer" / "1" / "model.onnx").is_file()
    assert (repo / "scorer" / "config.pbtxt").is_file()
    stored = json.loads((repo / "scorer" / "1" / "metrics.json").read_text())
    assert stored["sha256"] == result["artifact"]["sha256"]


def test_fetch_without_any_sha256_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"not verified")
    assert main(["fetch", "--uri", str(artifact), "--dest", str(tmp_path / "out")]) == 2
    assert "pass --sha256" in capsys.readouterr().err


def test_multiclass_and_regression_tasks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 3)).astype(np.float32)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["cls"] = np.digitize(x[:, 0] + 0.5 * x[:, 1], [-0.5, 0.5])
    frame["y"] = 40.0 + 10.0 * x[:, 0] - 5.0 * x[:, 2] ** 2
    path = tmp_path / "table.jsonl"
    frame.to_json(path, orient="records", lines=True)

    code = main(
        [
            "train",
            "--dataset",
            str(path),
            "--model",
            "classes",
            "--version",
            "1",
            "--output",
            str(tmp_path / "repo"),
            "--task",
            "multiclass",
            "--label-column",
            "cls",
            "--features",
            "a,b,c",
            "--min-accuracy",
            "0.8",
            *TRAIN,
        ]
    )
    result = _last_json(capsys.readouterr().out)
    assert code == 0, result
    config = (tmp_path / "repo" / "classes" / "config.pbtxt").read_text()
    assert "dims: [ 3 ]" in config  # output width = 3 classes

    code = main(
        [
            "train",
            "--dataset",
            str(path),
            "--model",
            "amount",
            "--version",
            "1",
            "--output",
            str(tmp_path / "repo"),
            "--task",
            "regression",
            "--label-column",
            "y",
            "--features",
            "a,c",
            "--tolerance",
            "2.0",
            "--min-accuracy",
            "0.5",
            *TRAIN,
        ]
    )
    result = _last_json(capsys.readouterr().out)
    assert code == 0, result
    assert {"accuracy", "rmse", "mae"} <= set(result["metrics"]["test"])


def test_parity_failure_exits_4_and_publishes_nothing(
    small_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelrollout_trainer import job
    from modelrollout_trainer.errors import ParityError

    def differs(*_: object, **__: object) -> float:
        raise ParityError("ONNX Runtime differs from PyTorch by 0.3 on 400 rows (tolerance 1e-05)")

    monkeypatch.setattr(job, "check_parity", differs)
    repo = tmp_path / "repo"
    code = main(
        [
            "train",
            "--dataset",
            str(small_csv),
            "--model",
            "scorer",
            "--version",
            "1",
            "--output",
            str(repo),
            *TRAIN,
        ]
    )
    result = _last_json(capsys.readouterr().out)
    assert code == 4
    assert result["error"]["exitCode"] == 4
    assert not repo.exists()


def test_evaluate_command_scores_a_dataset_with_the_exported_model(
    small_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    assert (
        main(
            [
                "train",
                "--dataset",
                str(small_csv),
                "--model",
                "scorer",
                "--version",
                "1",
                "--output",
                str(repo),
                *TRAIN,
            ]
        )
        == 0
    )
    sha256 = _last_json(capsys.readouterr().out)["artifact"]["sha256"]
    model = repo / "scorer" / "1" / "model.onnx"
    assert (
        main(
            ["evaluate", "--model-uri", str(model), "--dataset", str(small_csv), "--sha256", sha256]
        )
        == 0
    )
    evaluated = _last_json(capsys.readouterr().out)
    assert evaluated["rows"] == 4000 and 0.7 < evaluated["metrics"]["accuracy"] <= 1.0
    assert (
        main(
            [
                "evaluate",
                "--model-uri",
                str(model),
                "--dataset",
                str(small_csv),
                "--sha256",
                "0" * 64,
            ]
        )
        == 5
    )

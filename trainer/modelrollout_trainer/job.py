"""The `train` command end to end: dataset -> model -> gate -> ONNX -> parity -> repository."""

from __future__ import annotations

import logging
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import devices, progress
from .datasets.formats import read_table
from .datasets.splitting import Split, split_indices
from .datasets.validating import LabelledData, validate
from .errors import EXIT_GATE_FAILED, EXIT_OK, UsageError
from .evaluating import evaluate
from .exporting import check_parity, export_onnx
from .gating import Gate, judge
from .models import output_width
from .reporting import success_result
from .repository import EntryLayout, ServingConfig, check_model_name, render_config, write_entry
from .schema import LABEL_COLUMN, DatasetSchema, Task, resolve_features
from .storage import SHA256_SIDECAR_SUFFIX, is_s3, join_uri, sha256_file, upload_file
from .training import Hyperparameters, TrainedModel, predict, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainRequest:
    dataset: str
    model: str
    version: int
    output: str
    task: Task = Task.BINARY
    label_column: str = LABEL_COLUMN
    features: str = "scoring"
    gate: Gate = field(default_factory=Gate)
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    device: str = "auto"
    threads: int | None = None
    tolerance: float = 0.5  # regression: |prediction - label| counted as correct
    serving: ServingConfig = field(default_factory=ServingConfig)

    def __post_init__(self) -> None:
        check_model_name(self.model)
        if self.version < 1:
            raise UsageError(f"--version must be a positive integer, got {self.version}")
        if not self.tolerance > 0:
            raise UsageError(f"--tolerance must be positive, got {self.tolerance}")


@dataclass(frozen=True)
class JobOutcome:
    result: dict[str, Any]
    exit_code: int


def split_dataset(data: LabelledData, seed: int) -> Split:
    """The split used by `train`, rebuilt identically by anyone holding the dataset and seed."""
    strata = None if data.task is Task.REGRESSION else data.labels.astype(np.int64)
    return split_indices(data.rows, seed, strata=strata)


def _publish(staging: Path, layout: EntryLayout, output: str, sha256: str) -> None:
    """Upload the entry; the model first and the config last, so a watcher of config.pbtxt
    never finds a version whose model is missing."""
    model_uri = join_uri(output, layout.model_file)
    upload_file(staging / layout.model_file, model_uri, sha256=sha256)
    sidecar = staging / (layout.model_file + SHA256_SIDECAR_SUFFIX)
    sidecar.write_text(f"{sha256}  model.onnx\n", encoding="utf-8")
    upload_file(sidecar, model_uri + SHA256_SIDECAR_SUFFIX)
    upload_file(staging / layout.metrics_file, join_uri(output, layout.metrics_file))
    upload_file(staging / layout.config_file, join_uri(output, layout.config_file))


def _training_summary(trained: TrainedModel, parity: float) -> dict[str, Any]:
    return {
        "device": trained.device,
        "epochs": len(trained.history),
        "bestEpoch": trained.best_epoch,
        "seconds": round(trained.seconds, 3),
        "samplesPerSecond": round(trained.samples_per_second, 1),
        "parityMaxAbsDiff": float(f"{parity:.3g}"),
    }


def run_training_job(
    request: TrainRequest, *, stderr: TextIO | None = None, show_progress: bool = True
) -> JobOutcome:
    """Run the whole job; raise a TrainerError (with its exit code) when it cannot finish."""
    err = stderr or sys.stderr
    hp = request.hyperparameters
    device = devices.select_device(request.device)
    devices.configure_threads(request.threads)
    layout = EntryLayout(request.model, request.version)

    frame = read_table(request.dataset)
    features = resolve_features(
        request.features, [str(c) for c in frame.columns], request.label_column
    )
    data = validate(frame, DatasetSchema(features, request.label_column, request.task))
    del frame
    split = split_dataset(data, hp.seed)
    log.info(
        "split",
        extra={
            "fields": {
                "train": split.train.size,
                "validation": split.validation.size,
                "test": split.test.size,
                "device": str(device),
            }
        },
    )

    def on_epoch(record: Any) -> None:
        if show_progress:
            print(progress.epoch_line(record, hp.epochs), file=err, flush=True)

    trained = train(
        data.task,
        data.num_classes,
        (data.features[split.train], data.labels[split.train]),
        (data.features[split.validation], data.labels[split.validation]),
        hp,
        device,
        tolerance=request.tolerance,
        on_epoch=on_epoch,
    )
    metrics = {
        name: evaluate(
            data.task,
            data.labels[rows],
            predict(trained.head, data.features[rows]),
            request.tolerance,
        )
        for name, rows in (
            ("train", split.train),
            ("validation", split.validation),
            ("test", split.test),
        )
    }
    verdict = judge(request.gate, metrics["test"])
    if show_progress:
        print(progress.metrics_table(metrics), file=err)
        print(
            "gate: " + ("passed" if verdict.passed else "FAILED: " + "; ".join(verdict.reasons)),
            file=err,
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="modelrollout-trainer-") as tmp:
        staging = Path(tmp)
        onnx_path = staging / "export" / "model.onnx"
        export_onnx(trained.head, len(data.feature_names), onnx_path)
        parity = check_parity(trained.head, onnx_path, data.features[split.test])
        sha256 = sha256_file(onnx_path)
        config = render_config(
            request.model,
            len(data.feature_names),
            output_width(data.task, data.num_classes),
            request.serving,
        )
        metrics_document = {
            "model": request.model,
            "version": request.version,
            "task": data.task.value,
            "features": list(data.feature_names),
            "label": request.label_column,
            "numClasses": data.num_classes,
            "dataset": request.dataset,
            "sha256": sha256,
            "metrics": metrics,
            "gate": {"passed": verdict.passed, "reasons": verdict.reasons},
            "training": _training_summary(trained, parity),
            "hyperparameters": {
                "epochs": hp.epochs,
                "batchSize": hp.batch_size,
                "learningRate": hp.learning_rate,
                "hidden": list(hp.hidden),
                "patience": hp.patience,
                "seed": hp.seed,
            },
        }
        write_entry(staging, layout, onnx_path, config, metrics_document)
        _publish(staging, layout, request.output, sha256)

    repository = request.output if is_s3(request.output) else str(Path(request.output).resolve())
    result = success_result(
        model=request.model,
        version=request.version,
        artifact_uri=join_uri(repository, layout.model_file),
        sha256=sha256,
        repository=repository,
        metrics=metrics,
        gate_passed=verdict.passed,
        gate_reasons=verdict.reasons,
        training=_training_summary(trained, parity),
    )
    return JobOutcome(result, EXIT_OK if verdict.passed else EXIT_GATE_FAILED)

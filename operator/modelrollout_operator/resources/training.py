"""The trainer's command line (contracts.md §3) built from spec.training, its result read from a
Pod's termination message, and the gate."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..api.v1alpha1 import Acceptance, ModelVersionSpec, Training
from ..errors import ModelRolloutError


def trainer_device(training: Training) -> str:
    """`--device`: a version that asks for GPUs trains on CUDA (the trainer refuses to start
    without one rather than silently training on CPU), any other on CPU."""
    return "cuda" if training.resources.gpus > 0 else "cpu"


def trainer_args(
    spec: ModelVersionSpec,
    training: Training,
    *,
    dataset: str | None = None,
    output: str | None = None,
) -> list[str]:
    """`modelrollout-trainer` arguments for spec.training: the one builder behind the training
    Job and local mode. Local mode passes `dataset` and `output` (its local copy of the dataset,
    its local repository); the Job uses spec.training's URIs as they are."""
    hp = training.hyperparameters
    args = [
        "train",
        "--dataset", training.dataset if dataset is None else dataset,
        "--model", spec.model,
        "--version", str(spec.version),
        "--output", training.output if output is None else output,
        "--task", training.task.value,
        "--label-column", training.label_column,
        "--epochs", str(hp.epochs),
        "--batch-size", str(hp.batch_size),
        "--learning-rate", repr(hp.learning_rate),
        "--hidden", ",".join(str(h) for h in hp.hidden),
        "--patience", str(hp.patience),
        "--seed", str(hp.seed),
        "--device", trainer_device(training),
    ]  # fmt: skip
    if training.acceptance.min_accuracy is not None:
        args += ["--min-accuracy", repr(training.acceptance.min_accuracy)]
    if training.acceptance.min_roc_auc is not None:
        args += ["--min-roc-auc", repr(training.acceptance.min_roc_auc)]
    return args


def dataset_build_args(spec: ModelVersionSpec, training: Training) -> list[str]:
    """`modelrollout-trainer build-dataset` arguments of the training Job's first step: the
    base dataset and the prediction log's window joined into spec.training.dataset."""
    build = training.build
    if build is None:
        raise ValueError("dataset_build_args needs spec.training.build")
    args = ["build-dataset", "--model", spec.model, "--output", training.dataset]
    if build.prediction_log is not None:
        args += ["--log", build.prediction_log, "--min-labelled", str(build.min_labelled_rows)]
    if build.base is not None:
        args += ["--base", build.base]
    if build.since is not None:
        args += ["--since", build.since.strftime("%Y-%m-%dT%H:%M:%SZ")]
    if build.until is not None:
        args += ["--until", build.until.strftime("%Y-%m-%dT%H:%M:%SZ")]
    return args


class TrainerResultError(ModelRolloutError, ValueError):
    """The termination message is not the trainer's result JSON."""


@dataclass(frozen=True)
class TrainerResult:
    artifact_uri: str
    sha256: str
    metrics: dict[str, dict[str, float]]
    gate_passed: bool
    gate_reasons: tuple[str, ...]


def parse_trainer_result(message: str) -> TrainerResult:
    """The result object from a termination message (its last JSON line: logs may precede it)."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    if not lines:
        raise TrainerResultError("the trainer left an empty termination message")
    try:
        data = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise TrainerResultError(f"the trainer's result is not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise TrainerResultError("the trainer's result is not a JSON object")
    artifact = data.get("artifact")
    if not isinstance(artifact, dict) or not artifact.get("uri") or not artifact.get("sha256"):
        raise TrainerResultError("the trainer's result has no artifact uri and sha256")
    metrics_raw = data.get("metrics") or {}
    metrics: dict[str, dict[str, float]] = {}
    for split in ("train", "validation", "test"):
        values = metrics_raw.get(split) or {}
        if not isinstance(values, dict):
            raise TrainerResultError(f"metrics.{split} is not an object")
        metrics[split] = {
            k: float(v) for k, v in values.items() if isinstance(v, int | float) and v == v
        }
    gate = data.get("gate") or {}
    return TrainerResult(
        artifact_uri=str(artifact["uri"]),
        sha256=str(artifact["sha256"]),
        metrics=metrics,
        gate_passed=bool(gate.get("passed", True)),
        gate_reasons=tuple(str(r) for r in gate.get("reasons") or ()),
    )


def gate_failures(acceptance: Acceptance, test_metrics: dict[str, float]) -> list[str]:
    """Why the test metrics miss the acceptance gate (empty: accepted).

    The operator checks the gate itself rather than trusting the trainer's own verdict, so a
    trainer run without `--min-accuracy` cannot slip past it; a missing metric is a failure.
    """
    reasons: list[str] = []
    for key, bound, label in (
        ("accuracy", acceptance.min_accuracy, "minAccuracy"),
        ("rocAuc", acceptance.min_roc_auc, "minRocAuc"),
    ):
        if bound is None:
            continue
        value = test_metrics.get(key)
        pretty = "accuracy" if key == "accuracy" else "ROC AUC"
        if value is None:
            reasons.append(f"test {pretty} missing from the trainer's result ({label} {bound:g})")
        elif value < bound:
            reasons.append(f"test {pretty} {value:.4g} < {label} {bound:g}")
    return reasons

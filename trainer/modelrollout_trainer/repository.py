"""A Triton model-repository entry: `<model>/config.pbtxt` and `<model>/<version>/model.onnx`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError
from .exporting import INPUT_NAME, OUTPUT_NAME

MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.pbtxt"
METRICS_FILE = "metrics.json"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class ServingConfig:
    max_batch_size: int = 1024
    max_queue_delay_microseconds: int = 100

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise UsageError(f"--max-batch-size must be positive, got {self.max_batch_size}")
        if self.max_queue_delay_microseconds < 0:
            raise UsageError("--max-queue-delay-us must not be negative")


def check_model_name(name: str) -> str:
    """Triton and Kubernetes both see the name: keep it a plain path segment."""
    if not _MODEL_NAME.match(name):
        raise UsageError(
            f"--model {name!r}: use letters, digits, '_', '.', '-' (at most 63, not leading)"
        )
    return name


def render_config(
    model: str, num_features: int, output_width: int, serving: ServingConfig | None = None
) -> str:
    """The config.pbtxt text. dims exclude the batch axis, as max_batch_size > 0 requires.

    `version_policy: all` describes the whole repository (one Triton may serve baseline and
    candidate side by side from it). The operator's Triton pods never serve it as is: their
    init container narrows it to the one version the pod serves, with that ModelVersion's
    batching (docs/contracts.md section 5).
    """
    serving = serving or ServingConfig()
    return (
        f'name: "{model}"\n'
        'platform: "onnxruntime_onnx"\n'
        f"max_batch_size: {serving.max_batch_size}\n"
        "version_policy: { all { } }\n"
        "input [\n"
        f'  {{ name: "{INPUT_NAME}" data_type: TYPE_FP32 dims: [ {num_features} ] }}\n'
        "]\n"
        "output [\n"
        f'  {{ name: "{OUTPUT_NAME}" data_type: TYPE_FP32 dims: [ {output_width} ] }}\n'
        "]\n"
        "dynamic_batching {\n"
        f"  max_queue_delay_microseconds: {serving.max_queue_delay_microseconds}\n"
        "}\n"
    )


@dataclass(frozen=True)
class EntryLayout:
    """Relative paths of one version's files inside a repository root."""

    model: str
    version: int

    @property
    def model_file(self) -> str:
        return f"{self.model}/{self.version}/{MODEL_FILE}"

    @property
    def config_file(self) -> str:
        return f"{self.model}/{CONFIG_FILE}"

    @property
    def metrics_file(self) -> str:
        return f"{self.model}/{self.version}/{METRICS_FILE}"


def write_entry(
    root: Path, layout: EntryLayout, onnx_file: Path, config_text: str, metrics: dict[str, Any]
) -> None:
    """Lay the entry out under a local `root` (staging for an upload, or the repository itself)."""
    model_path = root / layout.model_file
    model_path.parent.mkdir(parents=True, exist_ok=True)
    if onnx_file.resolve() != model_path.resolve():
        model_path.write_bytes(onnx_file.read_bytes())
    (root / layout.config_file).write_text(config_text, encoding="utf-8")
    (root / layout.metrics_file).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")

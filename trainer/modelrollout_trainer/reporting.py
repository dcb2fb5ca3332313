"""The trainer's result (docs/contracts.md §3): one JSON object on stdout and in the
Kubernetes termination log, which the kubelet truncates at 4096 bytes."""

from __future__ import annotations

import copy
import json
import logging
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)

TERMINATION_LOG = Path("/dev/termination-log")
TERMINATION_LOG_LIMIT = 4096
_DIGITS = 6  # metrics rounded so the message stays small; accuracy k/n survives to 1e-6


def _rounded(metrics: Mapping[str, float]) -> dict[str, float | None]:
    return {k: (round(float(v), _DIGITS) if math.isfinite(v) else None) for k, v in metrics.items()}


def success_result(
    *,
    model: str,
    version: int,
    artifact_uri: str,
    sha256: str,
    repository: str,
    metrics: Mapping[str, Mapping[str, float]],
    gate_passed: bool,
    gate_reasons: list[str],
    training: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "model": model,
        "version": version,
        "artifact": {
            "uri": artifact_uri,
            "sha256": sha256,
            "format": "onnx",
            "repository": repository,
        },
        "metrics": {split: _rounded(values) for split, values in metrics.items()},
        "gate": {"passed": gate_passed, "reasons": list(gate_reasons)},
    }
    if training is not None:
        result["training"] = dict(training)  # optional field: how the run went
    return result


def error_result(
    model: str | None, version: int | None, exit_code: int, message: str
) -> dict[str, Any]:
    """Optional shape for a failed run, so the operator can show why in the status."""
    return {
        "model": model,
        "version": version,
        "error": {"exitCode": exit_code, "message": message},
    }


def _encode(result: Mapping[str, Any]) -> str:
    return json.dumps(result, separators=(",", ":"), sort_keys=False, allow_nan=False)


def fit_termination_message(result: Mapping[str, Any], limit: int = TERMINATION_LOG_LIMIT) -> str:
    """Shrink the result until it fits: drop the least needed parts first, never the verdict."""
    text = _encode(result)
    if len(text.encode()) <= limit:
        return text
    trimmed: dict[str, Any] = copy.deepcopy(dict(result))
    trimmed.pop("training", None)
    metrics = trimmed.get("metrics", {})
    for split in ("train", "validation"):
        if split in metrics:
            metrics[split] = {"accuracy": metrics[split].get("accuracy")}
    text = _encode(trimmed)
    for key in ("gate", "error"):
        section = trimmed.get(key)
        while len(text.encode()) > limit and section:
            if section.get("reasons"):
                section["reasons"] = section["reasons"][:-1]
                section["truncated"] = True
            elif len(section.get("message", "")) > 64:
                section["message"] = section["message"][: len(section["message"]) // 2] + "…"
            else:
                break
            text = _encode(trimmed)
    if len(text.encode()) > limit:
        raise ValueError(f"result does not fit in {limit} bytes even trimmed")
    return text


def emit(
    result: Mapping[str, Any],
    *,
    stdout: TextIO | None = None,
    termination_log: Path | None = TERMINATION_LOG,
) -> None:
    """Print the result as the last stdout line; also write the termination log if it exists."""
    out = stdout or sys.stdout
    out.write(_encode(result) + "\n")
    out.flush()
    if termination_log is not None and termination_log.exists():
        try:
            termination_log.write_text(fit_termination_message(result), encoding="utf-8")
        except OSError as error:  # reporting must not turn a good run into a failed one
            log.warning(
                "termination log not written",
                extra={"fields": {"path": str(termination_log), "error": str(error)}},
            )

"""Prediction-log records (docs/contracts.md §4): pure conversion to JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..tensors import Array


def timestamp(seconds: float) -> str:
    """RFC 3339 UTC with milliseconds, as in the contract: 2026-11-25T03:20:00.123Z."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def prediction_record(
    *,
    request_id: str,
    time: float,
    model: str,
    version: str,
    route: str,
    inputs: Mapping[str, Array],
    outputs: Mapping[str, Array],
) -> dict[str, Any]:
    return {
        "kind": "prediction",
        "requestId": request_id,
        "time": timestamp(time),
        "model": model,
        "version": version,
        "route": route,
        "inputs": {name: array.tolist() for name, array in inputs.items()},
        "outputs": {name: array.tolist() for name, array in outputs.items()},
    }


def feedback_record(
    *,
    request_id: str,
    time: float,
    model: str,
    version: str,
    label: Any,
    correct: Any,
    route: str = "stable",
) -> dict[str, Any]:
    """A joined label; a label joined to a shadow prediction too gets a second record with
    `route: "shadow"` and the shadow version."""
    return {
        "kind": "feedback",
        "requestId": request_id,
        "time": timestamp(time),
        "model": model,
        "version": version,
        "route": route,
        "label": label,
        "correct": correct,
    }

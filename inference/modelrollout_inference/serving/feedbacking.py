"""Ground truth: join labels to remembered predictions and count correct/total per version."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from ..errors import BadRequest
from ..feedback.correctness import LabelError, judge
from ..feedback.joining import PredictionMemory
from ..logging.records import feedback_record
from ..logging.writer import PredictionLogWriter
from ..metrics import GatewayMetrics


def parse_feedback(document: Any) -> list[tuple[str, Any]]:
    """`{"id", "label"}`, `{"feedback": [...]}` or a list of items -> [(request id, label)]."""
    if isinstance(document, dict) and "feedback" in document:
        document = document["feedback"]
    items = document if isinstance(document, list) else [document]
    if not items:
        raise BadRequest("feedback needs at least one item")
    parsed = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"feedback[{position}] must be an object with 'id' and 'label'")
        request_id = item.get("id", item.get("requestId"))
        if not isinstance(request_id, str) or not request_id:
            raise BadRequest(f"feedback[{position}] needs a request 'id'")
        if "label" not in item:
            raise BadRequest(f"feedback[{position}] (id {request_id}) needs a 'label'")
        parsed.append((request_id, item["label"]))
    return parsed


def record_feedback(
    model: str,
    items: list[tuple[str, Any]],
    *,
    memory: PredictionMemory,
    metrics: GatewayMetrics,
    prediction_log: PredictionLogWriter | None,
) -> dict[str, Any]:
    joined = 0
    dropped: Counter[str] = Counter()
    errors: list[dict[str, str]] = []
    now_monotonic, now = time.monotonic(), time.time()
    for request_id, label in items:
        prediction, reason = memory.take(request_id, now_monotonic)
        if prediction is None or prediction.model != model:
            if prediction is not None:  # someone else's id: leave it for its own model
                memory.remember(request_id, prediction)
                reason = "unknown"
            dropped[reason] += 1
            metrics.feedback_dropped.labels(model, reason).inc()
            continue
        if prediction.output is None:
            errors.append(
                {
                    "id": request_id,
                    "error": f"the prediction has no output "
                    f"'{prediction.correctness.output}' to judge",
                }
            )
            continue
        try:
            verdicts = judge(prediction.correctness, prediction.output, label)
        except LabelError as exc:
            memory.remember(request_id, prediction)  # a corrected label may follow
            errors.append({"id": request_id, "error": str(exc)})
            continue
        joined += 1
        metrics.feedback.labels(model, prediction.version).inc(len(verdicts))
        metrics.feedback_correct.labels(model, prediction.version).inc(sum(verdicts))
        if prediction_log is not None:
            correct: Any = verdicts if isinstance(label, list) else verdicts[0]
            record = feedback_record(
                request_id=request_id,
                time=now,
                model=model,
                version=prediction.version,
                label=label,
                correct=correct,
            )
            prediction_log.submit(lambda record=record: record)  # type: ignore[misc]
    return {"joined": joined, "dropped": dict(dropped), "errors": errors}

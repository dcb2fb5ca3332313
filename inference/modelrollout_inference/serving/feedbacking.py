"""Ground truth: join labels to stored predictions and count correct/total per version.

A label joins the routed prediction of its request and, when the request was mirrored, the
shadow version's prediction too (counted apart, in the shadow feedback series).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from ..errors import BadRequest
from ..feedback.correctness import EmptyPrediction, LabelError, judge
from ..feedback.stores import Key, Prediction, PredictionStore, StoreUnavailable
from ..logging.records import feedback_record
from ..logging.writer import PredictionLogWriter
from ..metrics import GatewayMetrics
from ..protocol.ids import RULE, is_valid_request_id

MAX_FEEDBACK_ITEMS = 10_000


def parse_feedback(document: Any) -> list[tuple[str, Any]]:
    """`{"id", "label"}`, `{"feedback": [...]}` or a list of items -> [(request id, label)]."""
    if isinstance(document, dict) and "feedback" in document:
        document = document["feedback"]
    items = document if isinstance(document, list) else [document]
    if not items:
        raise BadRequest("feedback needs at least one item")
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise BadRequest(
            f"{len(items)} feedback items in one request; at most {MAX_FEEDBACK_ITEMS}"
        )
    parsed = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"feedback[{position}] must be an object with 'id' and 'label'")
        request_id = item.get("id", item.get("requestId"))
        if not isinstance(request_id, str) or not request_id:
            raise BadRequest(f"feedback[{position}] needs a request 'id'")
        if "label" not in item:
            raise BadRequest(f"feedback[{position}] (id {request_id[:40]!r}) needs a 'label'")
        parsed.append((request_id, item["label"]))
    return parsed


async def record_feedback(
    model: str,
    items: list[tuple[str, Any]],
    *,
    store: PredictionStore,
    metrics: GatewayMetrics,
    prediction_log: PredictionLogWriter | None,
) -> dict[str, Any]:
    """Join every item; raises StoreUnavailable (nothing joined) when the store is down."""
    joined = 0
    dropped: Counter[str] = Counter()
    errors: list[dict[str, str]] = []
    valid = [(rid, label) for rid, label in items if is_valid_request_id(rid)]
    for rid, _ in items:
        if not is_valid_request_id(rid):
            errors.append({"id": rid[:40], "error": f"not a valid request id ({RULE})"})
    keys = [Key(model, rid, slot) for rid, _ in valid for slot in ("routed", "shadow")]
    try:
        taken = await store.take(keys) if keys else []
    except StoreUnavailable:
        metrics.store_errors.labels("take").inc()
        raise
    now = time.time()
    put_back: list[tuple[Key, Prediction]] = []
    for index, (request_id, label) in enumerate(valid):
        routed, shadow = taken[2 * index], taken[2 * index + 1]
        if shadow.prediction is not None:
            shadow_verdicts = _judge(shadow.prediction, label)
            if isinstance(shadow_verdicts, list):
                version = shadow.prediction.version
                metrics.shadow_feedback.labels(model, version).inc(len(shadow_verdicts))
                metrics.shadow_feedback_correct.labels(model, version).inc(sum(shadow_verdicts))
                _log(prediction_log, request_id, now, shadow.prediction, label, shadow_verdicts)
            elif not isinstance(shadow_verdicts, EmptyPrediction):
                put_back.append((keys[2 * index + 1], shadow.prediction))
        prediction = routed.prediction
        if prediction is None:
            dropped[routed.reason] += 1
            metrics.feedback_dropped.labels(model, routed.reason).inc()
            continue
        verdicts = _judge(prediction, label)
        if isinstance(verdicts, LabelError):
            if not isinstance(verdicts, EmptyPrediction):
                put_back.append((keys[2 * index], prediction))  # a corrected label may follow
            errors.append({"id": request_id, "error": str(verdicts)})
            continue
        joined += 1
        metrics.feedback.labels(model, prediction.version).inc(len(verdicts))
        metrics.feedback_correct.labels(model, prediction.version).inc(sum(verdicts))
        _log(prediction_log, request_id, now, prediction, label, verdicts)
    for key, kept in put_back:
        try:
            await store.put_back(key, kept)
        except StoreUnavailable:
            metrics.store_errors.labels("put_back").inc()
    return {"joined": joined, "dropped": dict(dropped), "errors": errors}


def _judge(prediction: Prediction, label: Any) -> list[bool] | LabelError:
    if prediction.output is None:
        return EmptyPrediction(
            f"the prediction has no output '{prediction.correctness.output}' to judge"
        )
    try:
        return judge(prediction.correctness, prediction.output, label)
    except LabelError as exc:
        return exc


def _log(
    prediction_log: PredictionLogWriter | None,
    request_id: str,
    now: float,
    prediction: Prediction,
    label: Any,
    verdicts: list[bool],
) -> None:
    if prediction_log is None:
        return
    correct: Any = verdicts if isinstance(label, list) else verdicts[0]
    record = feedback_record(
        request_id=request_id,
        time=now,
        model=prediction.model,
        version=prediction.version,
        route=prediction.route,
        label=label,
        correct=correct,
    )
    prediction_log.submit(lambda: record)

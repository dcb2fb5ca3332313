"""The gateway's Prometheus metrics: names and labels are a contract (docs/contracts.md §1).

Each Gateway owns its own registry (several gateways can live in one test process). Label
children are cached: `.labels()` costs microseconds, and the hot path is microseconds.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .routing.table import LOCAL_NAMESPACE

REQUESTS_TOTAL = "modelrollout_requests_total"
REQUEST_DURATION_SECONDS = "modelrollout_request_duration_seconds"
FALLBACKS_TOTAL = "modelrollout_fallbacks_total"
FEEDBACK_TOTAL = "modelrollout_feedback_total"
FEEDBACK_CORRECT_TOTAL = "modelrollout_feedback_correct_total"
FEEDBACK_DROPPED_TOTAL = "modelrollout_feedback_dropped_total"
TRAFFIC_WEIGHT = "modelrollout_traffic_weight"
SHADOW_REQUESTS_TOTAL = "modelrollout_shadow_requests_total"
PREDICTION_LOG_DROPPED_TOTAL = "modelrollout_prediction_log_dropped_total"
PREDICTION_LOG_DELETED_TOTAL = "modelrollout_prediction_log_deleted_total"
PREDICTION_LOG_BYTES = "modelrollout_prediction_log_bytes"
SHADOW_FEEDBACK_TOTAL = "modelrollout_shadow_feedback_total"
SHADOW_FEEDBACK_CORRECT_TOTAL = "modelrollout_shadow_feedback_correct_total"
FEEDBACK_STORE_ERRORS_TOTAL = "modelrollout_feedback_store_errors_total"
FEEDBACK_REQUESTS_TOTAL = "modelrollout_feedback_requests_total"

# Fallback reasons (`version` is the one that failed): transport/server error, no answer in
# time, not ready, an output with NaN/Inf, an output whose shape the model does not declare.
FALLBACK_REASONS = ("error", "timeout", "unready", "nonfinite_output", "shape_mismatch")

# Sub-millisecond resolution for embedded ONNX Runtime, up to seconds for remote GPUs.
DURATION_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
)

ROUTES = ("stable", "candidate", "shadow")


def _base(name: str) -> str:
    # prometheus-client appends `_total` to counters itself.
    return name.removesuffix("_total")


_Labelled = TypeVar("_Labelled", Counter, Gauge, Histogram)


class Names:
    """Served name -> (namespace, model): what the metrics' namespace and model labels say.

    The gateway serves a model routed for namespace `ns` under the name `ns.model` (or `model`
    in the local namespace); every series carries the two labels apart (contracts.md §1).
    """

    def __init__(self) -> None:
        self._names: dict[str, tuple[str, str]] = {}

    def register(self, served: str, namespace: str, model: str) -> None:
        self._names[served] = (namespace, model)

    def split(self, served: str) -> tuple[str, str]:
        return self._names.get(served) or (LOCAL_NAMESPACE, served)


class ByModel(Generic[_Labelled]):
    """A metric labelled (namespace, model, ...) taking the served name where both go."""

    def __init__(self, metric: _Labelled, names: Names) -> None:
        self.metric: _Labelled = metric
        self._names = names

    def labels(self, served: str, *rest: str) -> _Labelled:
        return self.metric.labels(*self._names.split(served), *rest)

    def remove(self, *labels: str) -> None:
        self.metric.remove(*labels)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.names = Names()
        self.requests = ByModel(
            Counter(
                _base(REQUESTS_TOTAL),
                "Inference requests answered (code = HTTP status).",
                ["namespace", "model", "version", "route", "code"],
                registry=r,
            ),
            self.names,
        )
        self.duration = ByModel(
            Histogram(
                REQUEST_DURATION_SECONDS,
                "Time to answer an inference request.",
                ["namespace", "model", "version", "route"],
                buckets=DURATION_BUCKETS,
                registry=r,
            ),
            self.names,
        )
        self.fallbacks = ByModel(
            Counter(
                _base(FALLBACKS_TOTAL),
                "Candidate failed and the baseline answered (version = the one that failed).",
                ["namespace", "model", "version", "reason"],
                registry=r,
            ),
            self.names,
        )
        self.feedback = ByModel(
            Counter(
                _base(FEEDBACK_TOTAL),
                "Labels joined to a logged prediction.",
                ["namespace", "model", "version"],
                registry=r,
            ),
            self.names,
        )
        self.feedback_correct = ByModel(
            Counter(
                _base(FEEDBACK_CORRECT_TOTAL),
                "Joined labels whose prediction was correct.",
                ["namespace", "model", "version"],
                registry=r,
            ),
            self.names,
        )
        self.feedback_dropped = ByModel(
            Counter(
                _base(FEEDBACK_DROPPED_TOTAL),
                "Labels that found no prediction.",
                ["namespace", "model", "reason"],
                registry=r,
            ),
            self.names,
        )
        self.traffic_weight = ByModel(
            Gauge(
                TRAFFIC_WEIGHT,
                "Traffic weight (0..100) currently applied.",
                ["namespace", "model", "version", "route"],
                registry=r,
            ),
            self.names,
        )
        self.shadow = ByModel(
            Counter(
                _base(SHADOW_REQUESTS_TOTAL),
                "Mirrored requests by outcome (agree, disagree, error).",
                ["namespace", "model", "version", "outcome"],
                registry=r,
            ),
            self.names,
        )
        self.shadow_feedback = ByModel(
            Counter(
                _base(SHADOW_FEEDBACK_TOTAL),
                "Labels joined to a shadow prediction (version = the shadow version).",
                ["namespace", "model", "version"],
                registry=r,
            ),
            self.names,
        )
        self.shadow_feedback_correct = ByModel(
            Counter(
                _base(SHADOW_FEEDBACK_CORRECT_TOTAL),
                "Joined labels whose shadow prediction was correct.",
                ["namespace", "model", "version"],
                registry=r,
            ),
            self.names,
        )
        self.feedback_requests = ByModel(
            Counter(
                _base(FEEDBACK_REQUESTS_TOTAL),
                "Feedback requests answered (code = HTTP status).",
                ["namespace", "model", "code"],
                registry=r,
            ),
            self.names,
        )
        self.store_errors = Counter(
            _base(FEEDBACK_STORE_ERRORS_TOTAL),
            "Prediction-store calls that failed (put, take, put_back): the store was unreachable.",
            ["operation"],
            registry=r,
        )
        self.log_dropped = Counter(
            _base(PREDICTION_LOG_DROPPED_TOTAL),
            "Prediction-log records dropped (queue_full, write_error, size_cap).",
            ["reason"],
            registry=r,
        )
        self.log_deleted = Counter(
            _base(PREDICTION_LOG_DELETED_TOTAL),
            "Closed prediction-log files deleted (uploaded, size_cap).",
            ["reason"],
            registry=r,
        )
        self.log_bytes = Gauge(
            PREDICTION_LOG_BYTES,
            "Bytes of prediction-log files on the local volume.",
            registry=r,
        )
        for operation in ("put", "take", "put_back"):
            self.store_errors.labels(operation)
        for reason in ("queue_full", "write_error", "size_cap"):
            self.log_dropped.labels(reason)
        for reason in ("uploaded", "size_cap"):
            self.log_deleted.labels(reason)
        self._answered: dict[tuple[str, str, str, int], tuple[Counter, Histogram]] = {}

    def observe_answer(
        self, model: str, version: str, route: str, code: int, seconds: float
    ) -> None:
        key = (model, version, route, code)
        children = self._answered.get(key)
        if children is None:
            children = (
                self.requests.labels(model, version, route, str(code)),
                self.duration.labels(model, version, route),
            )
            self._answered[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def set_weights(self, model: str, weights: list[tuple[str, str, float]]) -> None:
        """Replace a model's weight series with (version, route, weight); stale ones removed."""
        namespace, name = self.names.split(model)
        for labels in list(_label_sets(self.traffic_weight.metric)):
            if labels[:2] == (namespace, name):
                self.traffic_weight.remove(*labels)
        for version, route, weight in weights:
            self.traffic_weight.labels(model, version, route).set(weight)

    def declare_version(self, model: str, version: str) -> None:
        """Create a version's feedback series at 0, so increase() counts its very first labels."""
        self.feedback.labels(model, version)
        self.feedback_correct.labels(model, version)
        self.shadow_feedback.labels(model, version)
        self.shadow_feedback_correct.labels(model, version)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _label_sets(gauge: Gauge) -> list[tuple[str, ...]]:
    return [
        tuple(sample.labels[name] for name in ("namespace", "model", "version", "route"))
        for metric in gauge.collect()
        for sample in metric.samples
    ]

"""The operator's metrics, names per docs/contracts.md §1, in a registry of their own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

EXPERIMENT_PHASES = (
    "Pending",
    "Progressing",
    "Paused",
    "Promoting",
    "HoldingBack",
    "Succeeded",
    "RollingBack",
    "RolledBack",
    "Failed",
)


class OperatorMetrics:
    """One instance per operator process, kept in kopf's memo (no module globals)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.experiment_phase = Gauge(
            "modelrollout_experiment_phase",
            "1 for the Experiment's current phase, 0 for the others.",
            ["namespace", "experiment", "model", "phase"],
            registry=r,
        )
        self.experiment_weight = Gauge(
            "modelrollout_experiment_weight",
            "Candidate weight (percent) applied now.",
            ["namespace", "experiment", "model"],
            registry=r,
        )
        self.experiment_step = Gauge(
            "modelrollout_experiment_step",
            "Canary step being baked (1-based; 0 before the first).",
            ["namespace", "experiment", "model"],
            registry=r,
        )
        self.analysis_results = Counter(
            "modelrollout_analysis_results",
            "Metric verdicts of analysis passes.",
            ["namespace", "experiment", "metric", "verdict"],
            registry=r,
        )
        self.rollbacks = Counter(
            "modelrollout_rollbacks",
            "Experiments rolled back.",
            ["namespace", "experiment", "model"],
            registry=r,
        )
        self.promotions = Counter(
            "modelrollout_promotions",
            "Experiments whose candidate was promoted.",
            ["namespace", "experiment", "model"],
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "modelrollout_reconcile_duration_seconds",
            "Time of one reconcile pass.",
            ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        # Not in the contract's table: how late each pass starts against its schedule.
        self.analysis_lag = Histogram(
            "modelrollout_analysis_lag_seconds",
            "Delay of an Experiment's pass behind its scheduled time.",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.notifications = Counter(
            "modelrollout_notifications",
            "Webhook deliveries by transition kind and result (sent, retried, failed, dropped).",
            ["kind", "result"],
            registry=r,
        )
        self.training_jobs = Counter(
            "modelrollout_training_jobs",
            "Training Jobs finished, by result.",
            ["namespace", "model", "result"],
            registry=r,
        )

    def set_phase(self, namespace: str, experiment: str, model: str, phase: str) -> None:
        for p in EXPERIMENT_PHASES:
            self.experiment_phase.labels(namespace, experiment, model, p).set(
                1.0 if p == phase else 0.0
            )

    def set_progress(
        self, namespace: str, experiment: str, model: str, weight: int, step: int
    ) -> None:
        self.experiment_weight.labels(namespace, experiment, model).set(weight)
        self.experiment_step.labels(namespace, experiment, model).set(step)

    def count_verdicts(
        self, namespace: str, experiment: str, verdicts: Iterable[tuple[str, str]]
    ) -> None:
        for metric, verdict in verdicts:
            self.analysis_results.labels(namespace, experiment, metric, verdict).inc()

    def forget(self, namespace: str, experiment: str, model: str) -> None:
        """Drop an Experiment's gauges when it is deleted, so series do not linger."""
        for p in EXPERIMENT_PHASES:
            with contextlib.suppress(KeyError):
                self.experiment_phase.remove(namespace, experiment, model, p)
        for g in (self.experiment_weight, self.experiment_step):
            with contextlib.suppress(KeyError):
                g.remove(namespace, experiment, model)

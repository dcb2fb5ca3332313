"""The real gateway and operator metrics on one /metrics endpoint, fed by a small simulation
of a canary rollout so that counters grow, gauges move and histograms fill while Prometheus
scrapes.

The metric objects are the components' own (`GatewayMetrics`, `OperatorMetrics`): names, types,
labels and buckets are exactly what the gateway and the operator expose. Only the traffic is
simulated; the dashboard tests could point Prometheus at the running processes instead.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from modelrollout_inference.metrics import GatewayMetrics
from modelrollout_operator.observability.metrics import EXPERIMENT_PHASES, OperatorMetrics

PHASES = EXPERIMENT_PHASES


@dataclass(frozen=True)
class ContractMetrics:
    """Handles on every metric of docs/contracts.md section 1, in one registry."""

    registry: CollectorRegistry
    requests: Any
    duration: Any
    fallbacks: Any
    feedback: Any
    correct: Any
    dropped: Any
    weight: Any
    shadow: Any
    shadow_feedback: Any
    shadow_correct: Any
    phase: Any
    exp_weight: Any
    step: Any
    analysis: Any
    rollbacks: Any
    promotions: Any
    reconcile: Any
    training: Any

    @classmethod
    def from_components(cls) -> ContractMetrics:
        registry = CollectorRegistry()
        gateway = GatewayMetrics(registry=registry)
        operator = OperatorMetrics(registry=registry)
        return cls(
            registry=registry,
            requests=gateway.requests,
            duration=gateway.duration,
            fallbacks=gateway.fallbacks,
            feedback=gateway.feedback,
            correct=gateway.feedback_correct,
            dropped=gateway.feedback_dropped,
            weight=gateway.traffic_weight,
            shadow=gateway.shadow,
            shadow_feedback=gateway.shadow_feedback,
            shadow_correct=gateway.shadow_feedback_correct,
            phase=operator.experiment_phase,
            exp_weight=operator.experiment_weight,
            step=operator.experiment_step,
            analysis=operator.analysis_results,
            rollbacks=operator.rollbacks,
            promotions=operator.promotions,
            reconcile=operator.reconcile_duration,
            training=operator.training_jobs,
        )


class RolloutSimulation:
    """Drives ContractMetrics like a 90/10 canary of `scorer` v2 against v1, with a shadow v3."""

    def __init__(self, metrics: ContractMetrics, seed: int = 7) -> None:
        self.m = metrics
        self.random = random.Random(seed)
        self.ticks = 0

    def tick(self) -> None:
        m, rnd = self.m, self.random
        self.ticks += 1
        for version, route, share, accuracy in (
            ("1", "stable", 9, 0.9),
            ("2", "candidate", 1, 0.8),
        ):
            for _ in range(share * 5):
                code = "500" if rnd.random() < 0.03 else "200"
                m.requests.labels("scorer", version, route, code).inc()
                m.duration.labels("scorer", version, route).observe(rnd.lognormvariate(-5, 0.6))
                m.feedback.labels("scorer", version).inc()
                if rnd.random() < accuracy:
                    m.correct.labels("scorer", version).inc()
            m.weight.labels("scorer", version, route).set(90 if route == "stable" else 10)
        m.fallbacks.labels("scorer", "2", rnd.choice(("error", "timeout"))).inc()
        m.dropped.labels("scorer", rnd.choice(("unknown", "expired", "evicted"))).inc()
        m.shadow.labels("scorer", "3", rnd.choice(("agree", "agree", "disagree", "error"))).inc()
        for _ in range(4):  # labels joined to v3's mirrored predictions: right 85% of the time
            m.shadow_feedback.labels("scorer", "3").inc()
            if rnd.random() < 0.85:
                m.shadow_correct.labels("scorer", "3").inc()
        m.weight.labels("scorer", "3", "shadow").set(0)

        step = self.ticks // 4  # a new step every few ticks, so step annotations have changes
        for experiment, phase, weight in (
            ("scorer-v2", "Progressing", 10 + 5 * step),
            ("scorer-v3", "RolledBack", 0),
        ):
            for candidate in PHASES:
                m.phase.labels("ml", experiment, "scorer", candidate).set(
                    1 if candidate == phase else 0
                )
            m.exp_weight.labels("ml", experiment, "scorer").set(min(weight, 100))
        m.step.labels("ml", "scorer-v2", "scorer").set(step)
        m.step.labels("ml", "scorer-v3", "scorer").set(0)
        for metric in ("accuracy", "error-rate", "latency-p99"):
            m.analysis.labels(
                "ml", "scorer-v2", metric, rnd.choice(("pass", "pass", "inconclusive"))
            ).inc()
        m.analysis.labels("ml", "scorer-v3", "accuracy", "fail").inc()
        if self.ticks % 3 == 0:
            m.rollbacks.labels("ml", "scorer-v3", "scorer").inc()
            m.promotions.labels("ml", "scorer-v2", "scorer").inc()
        for kind in ("experiment", "modelversion"):
            m.reconcile.labels(kind).observe(rnd.uniform(0.005, 0.2))
        m.training.labels("ml", "scorer", rnd.choice(("succeeded", "failed", "rejected"))).inc()


class Exporter:
    """Serves the metrics on 127.0.0.1 and ticks the simulation in a background thread."""

    def __init__(self, tick_seconds: float = 0.25) -> None:
        self.metrics = ContractMetrics.from_components()
        self.simulation = RolloutSimulation(self.metrics)
        self.tick_seconds = tick_seconds
        self._stop = threading.Event()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "exporter not started"
        return int(self._server.server_port)

    def start(self) -> None:
        self.simulation.tick()  # every series exists before the first scrape
        self._server, _ = start_http_server(0, addr="127.0.0.1", registry=self.metrics.registry)
        self._thread = threading.Thread(target=self._run, name="contract-exporter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            self.simulation.tick()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

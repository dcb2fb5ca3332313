"""The crash-safe write order of one Experiment pass, pinned (handlers/driving.py).

Each pass runs in-process: the real `experiment_pass` with the real `KubeClient` against the
fault-injecting API of this folder (every applied write is journaled as it lands), a scripted
Prometheus (the custom error metric's answers per version), a recording router in front of the
real `GatewayRouter` and a recording `OperatorMetrics`. One journal holds them all, in the
order they happened, so a pass that writes in another order fails here:

    status (the decision recorded) -> annotations (one-shot intents consumed)
    -> counters (gauges and counters of the recorded status) -> routing -> events -> retire

and a new process (a fresh PassState) re-applies the routing the status calls for before it
decides or writes anything else. A ModelVersion pass (handlers/versioning.py) creates what its
step asks for (Job; Service and Deployment), then records the status, then posts the event and
counts the training result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fault_harness import (
    BAD,
    NS,
    Clock,
    answer_by_version,
    drive,
    experiment,
    make_services,
    routed_weight,
    seed,
    status_of,
)
from faulty_api import FakePrometheus, FaultyApi, Request
from test_faults_versions import NAME, finished_job, trained_version

from modelrollout_operator.api.v1alpha1 import ExperimentSpec, TrafficProvider
from modelrollout_operator.handlers.driving import PassState, experiment_pass
from modelrollout_operator.handlers.services import Services
from modelrollout_operator.handlers.versioning import version_pass
from modelrollout_operator.observability import OperatorMetrics
from modelrollout_operator.rollout.model import SetTraffic
from modelrollout_operator.routing import ExperimentRef, Router, VersionRef

Journal = list[str]


class RecordingRouter:
    """Journals each routing change, then makes it with the real router."""

    def __init__(self, inner: Router, journal: Journal) -> None:
        self.inner = inner
        self.journal = journal

    async def apply(
        self,
        experiment: ExperimentRef,
        spec: ExperimentSpec,
        traffic: SetTraffic,
        baseline: VersionRef,
        candidate: VersionRef,
    ) -> None:
        await self.inner.apply(experiment, spec, traffic, baseline, candidate)
        weight = 100 if traffic.promoted else traffic.candidate_weight
        self.journal.append(f"routing {weight}")


class _RecordingCounter:
    def __init__(self, inner: Any, name: str, journal: Journal) -> None:
        self.inner, self.name, self.journal = inner, name, journal

    def labels(self, *values: str) -> _RecordingCounter:
        return _RecordingCounter(
            self.inner.labels(*values), f"{self.name} {values[-1]}", self.journal
        )

    def inc(self, amount: float = 1) -> None:
        self.inner.inc(amount)
        self.journal.append(f"counters {self.name}")


class RecordingMetrics(OperatorMetrics):
    """Journals each export of an Experiment's phase (the pass's counters and gauges) and
    each count of a training Job's result."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal
        self.training_jobs = _RecordingCounter(self.training_jobs, "training", journal)  # type: ignore[assignment]

    def set_phase(self, namespace: str, experiment: str, model: str, phase: str) -> None:
        super().set_phase(namespace, experiment, model, phase)
        self.journal.append(f"counters {phase}")


def _entry(request: Request) -> str | None:
    """An applied API write as a journal entry (routing ConfigMaps: the router's entry)."""
    body = request.body if isinstance(request.body, dict) else {}
    if request.plural == "experiments" and request.subresource == "status":
        status = body.get("status") or {}
        in_sync = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "TrafficInSync"), None
        )
        phase = status.get("phase")
        words = [w for w in (phase, in_sync and f"TrafficInSync={in_sync['status']}") if w]
        return "status " + " ".join(words) if words else "status"
    if request.plural == "experiments":
        return "annotations " + ",".join(
            sorted((body.get("metadata") or {}).get("annotations", {}))
        )
    if request.plural == "events":
        return f"event {body.get('reason')}"
    if request.plural == "modelversions" and request.subresource == "status":
        phase = (body.get("status") or {}).get("phase")
        return f"retire {request.name}" if phase == "Retired" else f"version status {phase}"
    if request.plural == "configmaps":
        return None  # routing tables: the recording router's entry says it
    return f"{request.method.lower()} {request.plural}"


@pytest.fixture
def journal(api: FaultyApi) -> Journal:
    entries: Journal = []

    def on_write(request: Request) -> None:
        entry = _entry(request)
        if entry is not None:
            entries.append(entry)

    api.on_write = on_write
    return entries


@pytest.fixture
async def recorded(
    api: FaultyApi, prometheus: FakePrometheus, journal: Journal
) -> AsyncIterator[Services]:
    made = make_services(api, prometheus)
    real = made.routers[TrafficProvider.GATEWAY]
    made.routers[TrafficProvider.GATEWAY] = RecordingRouter(real, journal)
    made.metrics = RecordingMetrics(journal)
    yield made
    await made.close()


async def _pass(services: Services, state: PassState) -> float | None:
    return await experiment_pass(services, NS, "exp", state)


async def test_a_pass_records_the_decision_before_it_routes_then_posts_events(
    api: FaultyApi, recorded: Services, journal: Journal, clock: Clock
) -> None:
    seed(api)
    state = PassState()
    await _pass(recorded, state)  # starts: step 1 at 10%
    assert journal == [
        "status Progressing TrafficInSync=False",
        "counters Progressing",
        "routing 10",
        "status TrafficInSync=True",
        "event Started",
    ]


async def test_a_rollback_is_recorded_before_traffic_returns_to_the_baseline(
    api: FaultyApi, prometheus: FakePrometheus, recorded: Services, journal: Journal,
    clock: Clock,
) -> None:  # fmt: skip
    seed(api)
    state = PassState()
    await _pass(recorded, state)
    journal.clear()
    prometheus.answer = answer_by_version(BAD)
    clock.advance(10)
    await _pass(recorded, state)
    assert journal == [
        "status RolledBack TrafficInSync=False",
        "counters RolledBack",
        "routing 0",
        "status TrafficInSync=True",
        "event AnalysisFailed",
    ]
    assert routed_weight(api) == 0


async def test_a_promotion_consumes_its_annotation_and_retires_the_old_baseline_last(
    api: FaultyApi, recorded: Services, journal: Journal, clock: Clock
) -> None:
    seed(api, experiment(promotion={"scaleDownDelay": "0s"}))
    state = PassState()
    await _pass(recorded, state)
    journal.clear()
    body = api.get("experiments", NS, "exp")
    assert body is not None
    body["metadata"]["annotations"] = {"modelrollout.dev/promote": "true"}
    clock.advance(10)
    await _pass(recorded, state)
    assert journal == [
        "status Succeeded TrafficInSync=False",
        "annotations modelrollout.dev/promote",
        "counters Succeeded",
        "routing 100",
        "status TrafficInSync=True",
        "event Promoted",
        "retire churn-v1",
        "event Retired",
    ]


async def test_after_a_crash_between_status_and_routing_a_new_process_routes_first(
    api: FaultyApi, recorded: Services, journal: Journal, clock: Clock
) -> None:
    seed(api)
    api.writes_left = 1  # the status write lands, then the process is dead to the API
    await drive(recorded, clock, passes=1)
    assert journal == ["status Progressing TrafficInSync=False", "counters Progressing"]
    assert routed_weight(api) is None, "the crash came before the routing"
    journal.clear()

    api.writes_left = None  # a new process, with nothing in memory
    await _pass(recorded, PassState())
    assert journal[:2] == ["routing 10", "status TrafficInSync=True"], journal
    assert status_of(api)["weight"] == 10 and routed_weight(api) == 10


async def test_a_version_pass_creates_before_it_records_then_announces_and_counts(
    api: FaultyApi, recorded: Services, journal: Journal, clock: Clock
) -> None:
    api.put("modelversions", NS, trained_version(uid="uid-1"))
    await version_pass(recorded, NS, NAME)  # asks for its training Job
    assert journal == ["post jobs", "version status Training", "event Training"]
    journal.clear()
    job, pod = finished_job(owner_uid="uid-1")
    api.remove("jobs", NS, job["metadata"]["name"])
    api.put("jobs", NS, job)
    api.put("pods", NS, pod)
    await version_pass(recorded, NS, NAME)  # trained: its server is created
    assert journal == [
        "post services",
        "post deployments",
        "version status Deploying",
        "event Deploying",
        "counters training succeeded",
    ]

"""Every action a decision calls for is applied in the end, whatever fails on the way.

Each test name states the promise. The API server fails writes on command (500, 409, a stall
past the client's timeout, a write applied whose answer is lost); the pass functions are the
operator's own, driven as its daemon drives them.
"""

from __future__ import annotations

import pytest
from fault_harness import (
    BAD,
    NS,
    Clock,
    answer_by_version,
    condition,
    drive,
    events,
    experiment,
    routed_weight,
    seed,
    status_of,
)
from faulty_api import FakePrometheus, FaultyApi

from modelrollout_operator.handlers.driving import PassState, experiment_pass
from modelrollout_operator.handlers.services import Services

ROUTING_FAULTS = {
    "500": {"status": 500},
    "409": {"status": 409},
    "timeout": {"status": 504, "stall": 1.0},
    "timeout-after-applying": {"status": 504, "stall": 1.0, "applied": True},
}


@pytest.mark.parametrize("fault", list(ROUTING_FAULTS))
async def test_rollback_reaches_the_gateway_even_when_the_routing_write_fails(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock, fault: str
) -> None:
    seed(api)
    state, _ = await drive(services, clock, passes=1)
    assert routed_weight(api) == 10
    prometheus.answer = answer_by_version(BAD)
    api.fail("PATCH", "configmaps", **ROUTING_FAULTS[fault])  # type: ignore[arg-type]
    _, results = await drive(services, clock, state=state, passes=6)
    st = status_of(api)
    assert st["phase"] == "RolledBack" and st["weight"] == 0
    assert routed_weight(api) == 0, "the rollback must reach the gateway"
    assert results[-1] is None, "the daemon ends only once the rollback is applied"
    assert condition(st, "TrafficInSync")["status"] == "True"


async def test_status_says_traffic_and_status_disagree_while_routing_fails(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    seed(api)
    state, _ = await drive(services, clock, passes=1)
    prometheus.answer = answer_by_version(BAD)
    api.fail("PATCH", "configmaps", status=500, times=3)
    _, results = await drive(services, clock, state=state, passes=1)
    st = status_of(api)
    assert st["phase"] == "RolledBack" and routed_weight(api) == 10
    cond = condition(st, "TrafficInSync")
    assert cond is not None and cond["status"] == "False", st.get("conditions")
    assert "500" in cond["message"] and "weight 0%" in cond["message"]
    assert results[-1] is not None, "a rollback not yet applied keeps the daemon alive"
    assert len(events(api, "RoutingFailed")) == 1
    await drive(services, clock, state=state, passes=5)
    assert routed_weight(api) == 0
    assert condition(status_of(api), "TrafficInSync")["status"] == "True"


async def test_events_and_the_baselines_retirement_are_retried_until_applied(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    seed(api, experiment(steps=(50, 100), bake="10s"))
    api.fail("POST", "events", status=500, times=3)
    api.fail("PATCH", "modelversions", subresource="status", status=500, times=2)
    _, results = await drive(services, clock, passes=12)
    assert status_of(api)["phase"] == "Succeeded"
    assert results[-1] is None
    retired = api.get("modelversions", NS, "churn-v1")
    assert retired is not None and retired["status"]["phase"] == "Retired"
    for reason in ("Started", "StepAdvanced", "Promoted"):
        assert len(events(api, reason)) == 1, reason


@pytest.mark.parametrize("fault", ["500", "timeout", "timeout-after-applying"])
async def test_a_failed_status_write_is_decided_again_and_lands_once(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock, fault: str
) -> None:
    seed(api)
    api.fail("PATCH", "experiments", subresource="status", **ROUTING_FAULTS[fault])  # type: ignore[arg-type]
    _, results = await drive(services, clock, passes=12)
    st = status_of(api)
    assert st["phase"] == "Succeeded", st.get("message")
    assert len(events(api, "Started")) == 1
    assert len(events(api, "StepAdvanced")) == 1
    assert results[-1] is None


async def test_a_409_on_the_status_write_rereads_and_decides_again_within_the_pass(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    seed(api)
    api.fail("PATCH", "experiments", subresource="status", status=409)
    delay = await experiment_pass(services, NS, "exp", PassState())
    assert delay is not None
    assert status_of(api)["phase"] == "Progressing" and routed_weight(api) == 10
    assert len(events(api, "Started")) == 1


async def test_a_pass_ends_the_daemon_only_when_the_experiment_is_finished_and_applied(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    seed(api)
    api.fail("PATCH", "configmaps", status=500, times=1000)
    api.fail("POST", "configmaps", status=500, times=1000)
    _, results = await drive(services, clock, passes=8)
    assert None not in results, "an active Experiment's daemon must keep going"
    assert all(not isinstance(r, BaseException) for r in results), results

"""Specs and versions that cannot run: a condition and an event, never an exception loop; a
fixed spec is picked up without a restart; a version deleted mid-rollout ends in one state that
the gateway, the status and the weight gauge agree on."""

from __future__ import annotations

import copy

from fault_harness import (
    NS,
    Clock,
    condition,
    drive,
    events,
    experiment,
    modelversion,
    routed_weight,
    seed,
    status_of,
)
from faulty_api import FakePrometheus, FaultyApi

from modelrollout_operator.handlers.services import Services


def gauge(services: Services, name: str = "exp") -> float | None:
    return services.metrics.registry.get_sample_value(
        "modelrollout_experiment_weight",
        {"namespace": NS, "experiment": name, "model": "churn"},
    )


async def test_an_invalid_spec_is_reported_and_picked_up_once_fixed_without_a_restart(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    broken = experiment(steps=(50, 10))  # weights must rise
    seed(api, broken)
    state, results = await drive(services, clock, passes=3)
    assert None not in results, "the daemon must wait for a fix, not end"
    assert all(not isinstance(r, BaseException) for r in results), results
    st = status_of(api)
    cond = condition(st, "SpecValid")
    assert cond is not None and cond["status"] == "False" and "rise" in cond["message"]
    assert len(events(api, "InvalidSpec")) == 1, "one event per problem, not one per pass"
    fixed = copy.deepcopy(api.get("experiments", NS, "exp"))
    assert fixed is not None
    fixed["spec"] = experiment()["spec"]
    api.put("experiments", NS, fixed)
    await drive(services, clock, state=state, passes=1)
    st = status_of(api)
    assert st["phase"] == "Progressing" and routed_weight(api) == 10
    assert condition(st, "SpecValid")["status"] == "True"


async def test_baseline_and_candidate_of_one_version_hold_with_a_condition_not_an_exception_loop(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    api.put("modelversions", NS, modelversion("churn-v1", 1))
    api.put("modelversions", NS, modelversion("churn-v2", 1))  # the same spec.version
    api.put("experiments", NS, experiment())
    _, results = await drive(services, clock, passes=4)
    assert all(not isinstance(r, BaseException) for r in results), results
    assert None not in results
    st = status_of(api)
    cond = condition(st, "SpecValid")
    assert cond is not None and cond["reason"] == "SameVersion"
    assert "both version 1" in cond["message"] and "spec.candidate" in cond["message"]
    assert st.get("phase", "Pending") == "Pending" and routed_weight(api) is None
    assert len(events(api, "SameVersion")) == 1


async def test_a_candidate_deleted_mid_rollout_is_rolled_back_everywhere(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    seed(api)
    state, _ = await drive(services, clock, passes=1)
    assert routed_weight(api) == 10
    api.remove("modelversions", NS, "churn-v2")
    _, results = await drive(services, clock, state=state, passes=3)
    st = status_of(api)
    assert st["phase"] == "RolledBack" and st["weight"] == 0
    assert "deleted" in st["message"]
    assert routed_weight(api) == 0 and gauge(services) == 0
    assert results[-1] is None


async def test_a_baseline_deleted_mid_rollout_leaves_the_candidate_serving_alone_everywhere(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    seed(api)
    state, _ = await drive(services, clock, passes=1)
    assert routed_weight(api) == 10
    api.remove("modelversions", NS, "churn-v1")
    _, results = await drive(services, clock, state=state, passes=3)
    st = status_of(api)
    assert st["phase"] == "Failed" and st["weight"] == 100, st.get("message")
    assert "deleted" in st["message"]
    assert routed_weight(api) == 100 and gauge(services) == 100
    assert results[-1] is None

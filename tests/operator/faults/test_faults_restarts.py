"""Restarts, crashes between writes, and two operators at once.

A restart is a fresh `PassState` (all a new process has is the cluster); a crash between two
writes is the API refusing every write from the n-th on, after which that process is gone.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from fault_harness import (
    NS,
    Clock,
    drive,
    events,
    experiment,
    make_services,
    routed_weight,
    seed,
    status_of,
)
from faulty_api import FakePrometheus, FaultyApi, Request

from modelrollout_operator.handlers.driving import PassState, experiment_pass
from modelrollout_operator.handlers.services import Services

THREE_STEPS = experiment(steps=(10, 50, 90), bake="20s", interval="10s")


def weights_seen(api: FaultyApi) -> list[int]:
    """The candidate weights the gateway was given, in order (repeats collapsed)."""
    import json

    seen: list[int] = []
    for r in api.log:
        if r.plural != "configmaps" or r.method not in ("POST", "PATCH") or r.answered >= 300:
            continue
        table = json.loads(r.body["data"]["routing.json"])
        w = next((v["weight"] for v in table["versions"] if v["version"] == "2"), 0)
        w = 100 if table["versions"][0]["version"] == "2" else w
        if not seen or seen[-1] != w:
            seen.append(w)
    return seen


async def test_a_bake_survives_a_restart(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    seed(api, THREE_STEPS)
    await drive(services, clock, passes=2, step=10)  # started at 0 s, analysed at 10 s
    assert status_of(api)["currentStep"] == 1
    clock.advance(5)  # 25 s: the 20 s bake is over
    await experiment_pass(services, NS, "exp", PassState())  # a new process's first pass
    st = status_of(api)
    assert st["currentStep"] == 2, "a restart must not bake the step again from zero"
    assert routed_weight(api) == 50


async def test_a_crash_looping_operator_still_advances(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    seed(api, THREE_STEPS)
    for _ in range(12):  # every pass in a new process
        try:
            if await experiment_pass(services, NS, "exp", PassState()) is None:
                break
        except Exception:
            pass
        clock.advance(10)
    st = status_of(api)
    assert st["phase"] == "Succeeded", st.get("message")
    assert weights_seen(api) == [10, 50, 90, 100]


async def test_a_step_whose_weight_went_live_late_bakes_from_when_it_went_live(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    seed(api, THREE_STEPS)
    await drive(services, clock, passes=3, step=10)  # step 2 reached at 20 s
    assert status_of(api)["currentStep"] == 2
    # The process died between the status write of step 2 and its routing.
    api.put("configmaps", NS, _with_weight(api, 10))
    clock.advance(60)
    restarted_at = clock.now
    await experiment_pass(services, NS, "exp", PassState())
    st = status_of(api)
    assert routed_weight(api) == 50
    started = datetime.fromisoformat(st["stepStartedAt"].replace("Z", "+00:00"))
    assert started == restarted_at or (st["currentStep"] == 2 and started >= restarted_at)


def _with_weight(api: FaultyApi, weight: int) -> dict:
    import copy
    import json

    cm = copy.deepcopy(next(c for c in api.of("configmaps")))
    table = json.loads(cm["data"]["routing.json"])
    for v in table["versions"]:
        v["weight"] = weight if v["version"] == "2" else 100 - weight
    cm["data"]["routing.json"] = json.dumps(table)
    # Mark the status as the crash left it: decided, not applied.
    exp = api.get("experiments", NS, "exp")
    assert exp is not None
    for c in exp["status"]["conditions"]:
        if c["type"] == "TrafficInSync":
            c["status"], c["reason"] = "False", "Applying"
    return cm


async def _run_with_crash_after(
    api: FaultyApi, services: Services, clock: Clock, writes: int
) -> None:
    """One process that dies at its `writes`+1-th write, then new processes to the end."""
    api.writes_left = writes
    state = PassState()
    for _ in range(30):
        if api.writes_left is not None and api.writes_left <= 0:
            api.writes_left = None  # that process died: a new one starts
            state = PassState()
        try:
            result = await experiment_pass(services, NS, "exp", state)
        except Exception:
            result = 0.0
        if result is None and (api.writes_left is None or api.writes_left > 0):
            break
        clock.advance(10)


@pytest.mark.parametrize("crash_after", range(0, 24, 1))
async def test_a_crash_between_any_two_writes_neither_skips_nor_repeats_a_step(
    api: FaultyApi,
    prometheus: FakePrometheus,
    services: Services,
    clock: Clock,
    crash_after: int,
) -> None:
    seed(api, THREE_STEPS)
    await _run_with_crash_after(api, services, clock, crash_after)
    # Whatever is left is finished by the next process.
    await drive(services, clock, passes=10)
    st = status_of(api)
    assert st["phase"] == "Succeeded", st.get("message")
    assert weights_seen(api) == [10, 50, 90, 100]
    assert routed_weight(api) == 100
    retired = api.get("modelversions", NS, "churn-v1")
    assert retired is not None and retired["status"]["phase"] == "Retired"


async def test_two_operators_at_once_count_each_analysis_once(
    api: FaultyApi, prometheus: FakePrometheus, clock: Clock
) -> None:
    seed(api, THREE_STEPS)
    prometheus.stall = 0.05  # both read the status before either writes
    a, b = make_services(api, prometheus), make_services(api, prometheus)
    sa, sb = PassState(), PassState()
    try:
        for _ in range(12):
            await asyncio.gather(
                experiment_pass(a, NS, "exp", sa),
                experiment_pass(b, NS, "exp", sb),
                return_exceptions=True,
            )
            clock.advance(10)
    finally:
        await a.close()
        await b.close()
    assert status_of(api)["phase"] == "Succeeded"
    for reason in ("Started", "StepAdvanced", "Promoted"):
        n = len(events(api, reason))
        assert n == (2 if reason == "StepAdvanced" else 1), (reason, n)
    analyses = sum(_verdicts(s) for s in (a, b))
    ticks = len([r for r in api.writes("experiments") if _records_analysis(r)])
    assert analyses == ticks, (analyses, ticks)


def _verdicts(services: Services) -> float:
    total = 0.0
    for metric in services.metrics.registry.collect():
        if metric.name == "modelrollout_analysis_results":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def _records_analysis(r: Request) -> bool:
    return r.subresource == "status" and "lastAnalysisAt" in ((r.body or {}).get("status") or {})

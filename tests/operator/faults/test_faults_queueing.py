"""One active Experiment per model and namespace: the next one waits in Pending, then starts."""

from __future__ import annotations

import json

from fault_harness import (
    NS,
    Clock,
    condition,
    drive,
    events,
    experiment,
    modelversion,
    seed,
    status_of,
)
from faulty_api import FaultyApi

from modelrollout_operator.handlers.driving import PassState, experiment_pass
from modelrollout_operator.handlers.services import Services


def candidate_weight(api: FaultyApi, name: str) -> int | None:
    """The candidate's weight in the Experiment's routing table (None: no table)."""
    for cm in api.of("configmaps"):
        if cm["metadata"]["name"] == f"{NS}.{name}.routing":
            table = json.loads(cm["data"]["routing.json"])
            return next(int(v["weight"]) for v in table["versions"] if v["role"] == "candidate")
    return None


async def test_a_second_experiment_on_a_busy_model_waits_and_starts_when_the_first_ends(
    api: FaultyApi, services: Services, clock: Clock
) -> None:
    seed(api, experiment("first", steps=(10,), bake="10s"))
    # The next version after it: v2 against a new v3.
    api.put("modelversions", NS, modelversion("churn-v3", 3))
    api.put(
        "experiments",
        NS,
        experiment("second", steps=(30,), bake="10s", baseline="churn-v2", candidate="churn-v3"),
    )
    first, second = PassState(), PassState()

    assert await experiment_pass(services, NS, "first", first) is not None
    assert status_of(api, "first")["phase"] == "Progressing"
    for _ in range(3):  # every pass while the first runs: still waiting, routing untouched
        assert await experiment_pass(services, NS, "second", second) is not None
        waiting = status_of(api, "second")
        assert waiting["phase"] == "Pending"
        cond = condition(waiting, "Waiting")
        assert cond is not None and cond["status"] == "True" and cond["reason"] == "ModelBusy"
        assert "Experiment first" in cond["message"] and "churn" in cond["message"]
        assert candidate_weight(api, "second") is None
        clock.advance(5)
    assert len(events(api, "Waiting")) == 1  # one event, not one per pass

    _, results = await drive(services, clock, state=first, passes=20, name="first")
    assert results[-1] is None and status_of(api, "first")["phase"] == "Succeeded"

    await experiment_pass(services, NS, "second", second)
    started = status_of(api, "second")
    assert started["phase"] == "Progressing", started
    cond = condition(started, "Waiting")
    assert cond is not None and cond["status"] == "False" and cond["reason"] == "Started"
    assert candidate_weight(api, "second") == 30


async def test_experiments_on_other_models_never_wait(
    api: FaultyApi, services: Services, clock: Clock
) -> None:
    seed(api, experiment("first"))
    other = experiment("other")
    other["spec"]["model"] = "ranker"
    api.put("experiments", NS, other)
    await experiment_pass(services, NS, "first", PassState())
    await experiment_pass(services, NS, "other", PassState())
    assert condition(status_of(api, "other"), "Waiting") is None
    assert status_of(api, "other")["phase"] == "Progressing"

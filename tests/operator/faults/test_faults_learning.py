"""The Model's loop under faults: the real `model_pass` against an API server that dies at any
write (every later write refused, then a new process) and a Prometheus that is down.

A crash between any two writes of the loop neither repeats nor skips a training: the same
single version 2 is trained, canaried once, and promoted, whatever write the process died at.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

import pytest
from fault_harness import NS, Clock
from faulty_api import FakePrometheus, FaultyApi

from modelrollout_operator.handlers import models
from modelrollout_operator.handlers.models import model_pass
from modelrollout_operator.handlers.services import Services

MODELS, MVS, EXPS = "models", "modelversions", "experiments"


@pytest.fixture(autouse=True)
def model_clock(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Clock:
    class FakeDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return clock.now if tz is not None else clock.now.replace(tzinfo=None)

    monkeypatch.setattr(models, "datetime", FakeDatetime)
    return clock


def _model() -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "churn", "namespace": NS},
        "spec": {
            "versionTemplate": {"training": {"output": "s3://models/repo"}},
            "data": {"base": "s3://data/base.csv", "output": "s3://data/built"},
            "triggers": {"newLabelledRows": 100, "minInterval": "1h"},
        },
    }


def _version(name: str, version: int) -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1", "kind": "ModelVersion",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"model": "churn", "version": version,
                 "artifact": {"uri": f"s3://m/churn/{version}/model.onnx", "sha256": "a" * 64}},
        "status": {"phase": "Ready"},
    }  # fmt: skip


def _cluster_plays_its_part(api: FaultyApi) -> None:
    """Training passes and the canary succeeds, as soon as each object exists."""
    for mv in api.of(MVS):
        if not (mv.get("status") or {}).get("phase"):
            api.put(MVS, NS, {**mv, "status": {"phase": "Ready",
                                              "metrics": {"test": {"accuracy": 0.9}}}})  # fmt: skip
    for exp in api.of(EXPS):
        if not (exp.get("status") or {}).get("phase"):
            api.put(EXPS, NS, {**exp, "status": {"phase": "Succeeded"}})


async def _run(api: FaultyApi, services: Services, clock: Clock) -> dict[str, Any]:
    for _ in range(40):
        if api.writes_left is not None and api.writes_left <= 0:
            api.writes_left = None  # that process died: a new one starts
        with contextlib.suppress(Exception):  # the dead process's pass fails on its write
            await model_pass(services, NS, "churn")
        _cluster_plays_its_part(api)
        clock.advance(1)
        st = (api.get(MODELS, NS, "churn") or {}).get("status") or {}
        if st.get("inServiceVersion") == 2 and api.writes_left is None:
            return st
    raise AssertionError(f"the loop did not promote version 2: {st}")


@pytest.mark.parametrize("crash_after", range(0, 10))
async def test_a_crash_between_any_two_writes_of_the_models_loop_neither_repeats_nor_skips_a_training(
    api: FaultyApi,
    prometheus: FakePrometheus,
    services: Services,
    clock: Clock,
    crash_after: int,
) -> None:
    prometheus.answer = lambda query: "500"  # labels since the last training: over 100
    api.put(MVS, NS, _version("churn-v1", 1))
    api.put(MODELS, NS, _model())
    api.writes_left = crash_after
    st = await _run(api, services, clock)
    assert len(api.writes()) >= 9  # a turn is 9 writes: crash_after 0..8 dies at each one
    assert sorted(mv["metadata"]["name"] for mv in api.of(MVS)) == ["churn-v1", "churn-v2"]
    assert [e["metadata"]["name"] for e in api.of(EXPS)] == ["churn-v2-rollout"]
    (exp,) = api.of(EXPS)
    assert (exp["spec"]["baseline"], exp["spec"]["candidate"]) == ("churn-v1", "churn-v2")
    creates = [r for r in api.writes(MVS) if r.method == "POST"]
    assert len(creates) == 1, "version 2 created once"
    assert [(h["version"], h["outcome"]) for h in st["history"]] == [
        (1, "Adopted"), (2, "Promoted")
    ]  # fmt: skip
    assert st["latestVersion"] == 2 and st["concludedVersion"] == 2


async def test_with_prometheus_down_the_model_trains_nothing_and_says_what_it_waits_for(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    from aiohttp import web

    prometheus.answer = lambda query: web.Response(status=503, text="down")
    api.put(MVS, NS, _version("churn-v1", 1))
    api.put(MODELS, NS, _model())
    for _ in range(5):
        await model_pass(services, NS, "churn")
        clock.advance(3600)
    st = api.get(MODELS, NS, "churn")["status"]  # type: ignore[index]
    assert [mv["metadata"]["name"] for mv in api.of(MVS)] == ["churn-v1"]
    assert st["inServiceVersion"] == 1 and st["phase"] == "Idle"
    assert "100 new labelled rows (have unknown)" in st["nextTrigger"]["reason"]

"""Drift after the promotion, with real parts: the gateway serving two ONNX models with its
embedded ONNX Runtime, labelled traffic over HTTP, a real Prometheus scraping the gateway, and
the operator's engine in the local driver. The candidate is as good as the baseline on the
traffic of the canary steps; after its promotion a new population of clients arrives on which
it is wrong half the time. The holdback window catches it: the previous version is back at
100% before the window ends, and the live view says so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from modelrollout_operator.api.v1alpha1 import Experiment, ExperimentPhase
from modelrollout_operator.cli.liveview import render_experiment
from modelrollout_operator.cli.viewing import read_local
from modelrollout_operator.local.loading import LoadGenerator, LoadProfile, TrafficSample
from modelrollout_operator.local.servers import find_prometheus, start_gateway, start_prometheus
from modelrollout_operator.local.stepping import Driver
from modelrollout_operator.local.supervising import Supervisor
from modelrollout_operator.local.traffic import AdminRouter
from modelrollout_operator.metrics import PrometheusProvider
from modelrollout_operator.notifying import Notifier
from modelrollout_operator.rollout import EmitEvent, SetTraffic
from modelrollout_operator.routing import ExperimentRef, VersionRef
from tests.support.onnx_models import write_linear_model
from tests.support.webhooks import WebhookReceiver

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]

FEATURES = 39


def _population(segment: float, rows: int, seed: int) -> TrafficSample:
    """Clients whose label is `x0 > 0`; `segment` is their feature x1 (0.5: the canary's
    clients, 1.0: the clients who arrive after the promotion)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    x[:, 0] = np.where(np.abs(x[:, 0]) < 0.3, np.sign(x[:, 0]) * 0.3 + x[:, 0], x[:, 0])
    x[:, 1] = segment
    return TrafficSample(x, (x[:, 0] > 0).astype(np.int64))


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[Supervisor, Path, str]]:
    binary = find_prometheus()
    if binary is None:
        pytest.skip("the prometheus binary is not installed (apt-get install prometheus)")
    repository = tmp_path / "models"
    # v1 reads x0 only. v2 also leans on x1: the same answers where x1 = 0.5, wrong on half
    # of the rows where x1 = 1.0 (it says 1 unless x0 < -2).
    write_linear_model(repository / "scorer" / "1" / "model.onnx", {0: 10.0}, 0.0)
    write_linear_model(repository / "scorer" / "2" / "model.onnx", {0: 10.0, 1: 40.0}, -20.0)
    with Supervisor(tmp_path / "logs") as supervisor:
        yield supervisor, repository, binary


def _experiment(hook: str) -> Experiment:
    return Experiment.model_validate(
        {
            "metadata": {"name": "scorer-v2-drift"},
            "spec": {
                "model": "scorer", "baseline": "scorer-v1", "candidate": "scorer-v2",
                "strategy": {"type": "canary", "canary": {"steps": [
                    {"weight": 10, "bake": "3s"}, {"weight": 50, "bake": "3s"},
                    {"weight": 100, "bake": "3s"}]}},
                "routing": {"stickyBy": "x-user-id"},
                "promotion": {"holdback": {"percent": 20, "duration": "90s"}},
                "notify": {"webhooks": [{"url": hook, "format": "slack"}]},
                "analysis": {
                    "interval": "1s", "failureLimit": 2, "alpha": 0.05,
                    "noData": {"policy": "hold", "after": "60s"},
                    "metrics": [{"name": "accuracy", "kind": "accuracy",
                                 "maxDegradation": 0.05, "minSamples": 40}],
                },
            },
        }
    )  # fmt: skip


async def test_drift_after_the_promotion_rolls_back_to_the_previous_version_in_the_window(
    tmp_path: Path, parts: tuple[Supervisor, Path, str]
) -> None:
    supervisor, repository, binary = parts
    gateway = start_gateway(supervisor, repository)
    prometheus = start_prometheus(supervisor, binary, gateway.url, tmp_path)
    provider = PrometheusProvider(prometheus.url)
    router = AdminRouter(gateway.url, admin_token=gateway.admin_token)
    receiver = WebhookReceiver()
    await receiver.start()
    notifier = Notifier()
    experiment = _experiment(receiver.url)
    baseline = VersionRef(name="scorer-v1", version="1", ready=True)
    candidate = VersionRef(name="scorer-v2", version="2", ready=True)
    profile = LoadProfile(rate=120, feedback_delay=0.2)
    before = LoadGenerator(gateway.url, "scorer", _population(0.5, 400, 1), profile, seed=1)
    after = LoadGenerator(gateway.url, "scorer", _population(1.0, 400, 2), profile, seed=2)
    promoted = asyncio.Event()
    held: dict[str, int] = {}
    events: list[EmitEvent] = []

    def on_event(event: EmitEvent) -> None:
        events.append(event)
        if event.reason == "Promoted":
            promoted.set()

    driver = Driver(experiment, baseline, candidate, provider, router,
                    clock_zero=time.monotonic(), on_event=on_event,
                    snapshots=tmp_path / "experiments", notifier=notifier)  # fmt: skip

    async def drift() -> float:
        await promoted.wait()
        held.update(await router.weights("scorer", ("1", "2")))
        await before.stop()
        await after.start()  # the new population arrives
        return time.monotonic()

    await router.apply(
        ExperimentRef("e", "default"),
        experiment.spec,
        SetTraffic(candidate_weight=0),
        baseline,
        candidate,
    )
    await before.start()
    drifting = asyncio.get_running_loop().create_task(drift())
    try:
        outcome = await asyncio.wait_for(driver.run(deadline_seconds=120), timeout=150)
        onset = await asyncio.wait_for(drifting, 5)
        back = time.monotonic()
        final = await router.weights("scorer", ("1", "2"))
        assert await notifier.drain(30)
    finally:
        await notifier.close()
        await receiver.stop()
        drifting.cancel()
        await before.stop()
        await after.stop()
        await provider.close()
        await router.close()
    status = outcome.status
    assert held == {"1": 20, "2": 80}, "during the window the previous version keeps 20%"
    assert max(outcome.weights_applied) == 100  # promoted: it walked every step first
    assert status.phase == ExperimentPhase.ROLLED_BACK, status.message
    assert final == {"1": 100, "2": 0}
    assert status.holdback is not None and status.finished_at is not None
    assert status.finished_at < status.holdback.ends_at  # inside the window
    failed = [r for r in status.analysis if r.verdict == "fail"][-1]
    (acc,) = failed.results
    assert failed.weight == 80 and acc.candidate is not None and acc.baseline is not None
    assert acc.candidate < 0.75 < 0.95 < acc.baseline, acc
    assert [e.reason for e in events][-2:] == ["Promoted", "AnalysisFailed"]
    # Local mode notifies as the operator does (a Slack-compatible receiver here).
    texts = [c.json()["text"] for c in receiver.calls]
    assert [t.split("] ")[1].split(":")[0] for t in texts] == [
        "Started", "StepAdvanced", "StepAdvanced", "Promoted", "AnalysisFailed", "RolledBack"
    ], texts  # fmt: skip
    # The live view on the local snapshots tells the same story.
    body, recorded = read_local(tmp_path, "scorer-v2-drift")
    assert body is not None
    view = render_experiment(body, recorded, status.finished_at)
    assert "Phase:      RolledBack" in view and "scorer-v1 100%, scorer-v2 0%" in view
    print(f"drift to the previous version at 100%: {back - onset:.1f} s "
          f"(accuracy {acc.candidate:.3f} vs {acc.baseline:.3f})")  # fmt: skip

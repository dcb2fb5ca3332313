"""A shadow Experiment is judged on accuracy against the served version (issue 11, done when):
the demo's trained models (v1 served; v2 better, v3 worse, trained by the real trainer on the
synthetic data), the real gateway mirroring every request to the shadow version and joining
the labels to its predictions, a real Prometheus, and the operator's engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import modelrollout_operator.local as local_mode
from modelrollout_operator.api.v1alpha1 import Experiment, ExperimentPhase, Verdict
from modelrollout_operator.local.configuring import load_manifests
from modelrollout_operator.local.loading import (
    LoadGenerator,
    LoadProfile,
    TrafficStats,
    read_sample,
)
from modelrollout_operator.local.preparing import Prepared, prepare
from modelrollout_operator.local.servers import (
    Gateway,
    Prometheus,
    find_prometheus,
    start_gateway,
    start_prometheus,
)
from modelrollout_operator.local.stepping import Driver, Outcome
from modelrollout_operator.local.supervising import Supervisor
from modelrollout_operator.local.traffic import AdminRouter
from modelrollout_operator.metrics import PrometheusProvider
from modelrollout_operator.rollout import SetTraffic
from modelrollout_operator.routing import ExperimentRef, VersionRef

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]

EXAMPLES = Path(local_mode.__file__).parent / "examples"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """The demo's three versions trained by the real trainer (at the demo's --fast size)."""
    workdir = tmp_path_factory.mktemp("shadow")
    manifests = load_manifests(EXAMPLES)
    versions = [manifests.version(n) for n in ("scorer-v1", "scorer-v2", "scorer-v3")]
    with Supervisor(workdir / "logs") as supervisor:
        return prepare(versions, workdir, supervisor, row_scale=0.5, say=lambda _: None)


@pytest.fixture
def served(trained: Prepared, tmp_path: Path) -> Iterator[tuple[Prepared, Gateway, Prometheus]]:
    """A gateway serving the trained versions and a Prometheus scraping it."""
    binary = find_prometheus()
    if binary is None:
        pytest.skip("the prometheus binary is not installed (apt-get install prometheus)")
    with Supervisor(tmp_path / "logs") as supervisor:
        gateway = start_gateway(supervisor, trained.repository)
        prometheus = start_prometheus(supervisor, binary, gateway.url, tmp_path)
        yield trained, gateway, prometheus


def _shadow(candidate: str) -> Experiment:
    return Experiment.model_validate(
        {
            "metadata": {"name": f"{candidate}-shadow"},
            "spec": {
                "model": "scorer", "baseline": "scorer-v1", "candidate": candidate,
                "strategy": {"type": "shadow", "shadow": {"percent": 100, "duration": "12s"}},
                "routing": {"stickyBy": "x-user-id"},
                "analysis": {
                    "interval": "1s", "failureLimit": 2, "alpha": 0.05,
                    "noData": {"policy": "hold", "after": "30s"},
                    "metrics": [{"name": "accuracy", "kind": "accuracy",
                                 "maxDegradation": 0.02, "minSamples": 150}],
                },
            },
        }
    )  # fmt: skip


async def _run_shadow(
    served: tuple[Prepared, Gateway, Prometheus], candidate: str, version: str
) -> tuple[Outcome, TrafficStats]:
    prepared, gateway, prometheus = served
    provider = PrometheusProvider(prometheus.url)
    router = AdminRouter(gateway.url, admin_token=gateway.admin_token)
    sample = read_sample(prepared.traffic)
    load = LoadGenerator(gateway.url, "scorer", sample, LoadProfile(rate=100, feedback_delay=0.2))
    experiment = _shadow(candidate)
    baseline = VersionRef(name="scorer-v1", version="1", ready=True)
    shadow = VersionRef(name=candidate, version=version, ready=True)
    driver = Driver(experiment, baseline, shadow, provider, router, clock_zero=time.monotonic())
    # today's routing first: every user on the served version (without a table the gateway
    # answers with the repository's newest version)
    await router.apply(
        ExperimentRef("e", "default"),
        experiment.spec,
        SetTraffic(candidate_weight=0),
        baseline,
        shadow,
    )
    await load.start()
    try:
        outcome = await asyncio.wait_for(driver.run(deadline_seconds=100), timeout=130)
    finally:
        stats = await load.stop()
        await provider.close()
        await router.close()
    return outcome, stats


def _accuracy(outcome: Outcome) -> Any:
    run = outcome.status.analysis[-1]
    (result,) = [r for r in run.results if r.metric == "accuracy"]
    return result


async def test_a_shadow_model_worse_than_the_served_one_is_judged_worse_on_accuracy(
    served: tuple[Prepared, Gateway, Prometheus],
) -> None:
    outcome, stats = await _run_shadow(served, "scorer-v3", "3")
    status = outcome.status
    assert status.phase == ExperimentPhase.ROLLED_BACK, status.message
    assert "judged worse than the baseline on accuracy" in status.message
    result = _accuracy(outcome)
    assert result.verdict == Verdict.FAIL
    assert result.candidate < result.baseline and result.upper < -0.02
    # users only ever got the served version; the shadow version had labels of its own
    assert set(stats.answered) == {"1"} and stats.failed == 0
    assert all(w == 0 for w in outcome.weights_applied) and not outcome.promoted
    assert result.candidate_samples >= 150
    print(f"shadow v3 judged worse: {status.message}")


async def test_a_shadow_model_better_than_the_served_one_is_judged_better_on_accuracy(
    served: tuple[Prepared, Gateway, Prometheus],
) -> None:
    outcome, stats = await _run_shadow(served, "scorer-v2", "2")
    status = outcome.status
    assert status.phase == ExperimentPhase.SUCCEEDED, status.message
    assert "judged better than the baseline on accuracy" in status.message
    result = _accuracy(outcome)
    assert result.verdict == Verdict.PASS
    assert result.candidate > result.baseline and result.lower > 0
    assert set(stats.answered) == {"1"} and stats.failed == 0
    assert all(w == 0 for w in outcome.weights_applied) and not outcome.promoted
    print(f"shadow v2 judged better: {status.message}")

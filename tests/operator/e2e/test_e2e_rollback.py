"""Regressions roll the candidate back: accuracy drop, p99 latency, Prometheus gone."""

from __future__ import annotations

import json
import time
from typing import Any

from modelrollout_operator.k8s.client import CONFIGMAPS, EXPERIMENTS, MODELVERSIONS, KubeClient
from tests.operator.e2e.conftest import (
    events_eventually,
    metrics_eventually,
    operator_with_ready_versions,
    wait_until,
)
from tests.operator.e2e.scenarios import NS, experiment, status_of, traffic


async def _weight(kube: KubeClient, name: str) -> int:
    cm = await kube.get(CONFIGMAPS, NS, f"{NS}.{name}.routing")
    if cm is None:
        return 0
    table = json.loads(cm["data"]["routing.json"])
    return sum(v["weight"] for v in table["versions"] if v["role"] == "candidate")


async def test_accuracy_drop_mid_rollout_rolls_back_in_one_action(
    cluster: Any, kube: KubeClient, kubelet: Any, gateway_metrics: Any, prometheus: Any,
    start_operator: Any,
) -> None:  # fmt: skip
    op = await operator_with_ready_versions(start_operator, kube, prometheus)
    accuracy = {"now": 0.92}
    async with traffic(gateway_metrics, lambda: accuracy["now"]):
        await kube.create(EXPERIMENTS, NS, experiment("drop", steps=[10, 25, 50, 75, 100]))

        async def past_first_step() -> bool:
            return (await status_of(kube, "drop")).get("currentStep", 0) >= 2

        await wait_until(past_first_step, 40, "the second step", op)
        accuracy["now"] = 0.5  # the candidate breaks
        onset = time.monotonic()

        async def rolled_back() -> dict[str, Any] | None:
            st = await status_of(kube, "drop")
            return st if st.get("phase") in ("RolledBack", "Succeeded") else None

        st = await wait_until(rolled_back, 60, "the rollback", op)
        assert st["phase"] == "RolledBack", st
        assert st["weight"] == 0

        # The pass writes status first, then the routing table, in the same pass.
        async def candidate_at_zero() -> bool:
            return await _weight(kube, "drop") == 0

        await wait_until(candidate_at_zero, 30, "the routing table at weight 0", op)
        to_zero = time.monotonic() - onset
    failed = [r for r in st["analysis"] if r["verdict"] == "fail"]
    assert failed and any(m["metric"] == "accuracy" for m in failed[-1]["results"])
    # A rollback is a Warning event and a counter, written after routing in the same pass.
    await events_eventually(
        cluster, "drop", lambda evs: any(e["type"] == "Warning" for e in evs), "a Warning", op
    )
    await metrics_eventually(
        op,
        ['modelrollout_rollbacks_total{experiment="drop",model="scorer",namespace="default"} 1.0'],
    )
    # The candidate was never promoted and the baseline still serves.
    assert (await status_of(kube, "scorer-v1", MODELVERSIONS))["phase"] == "Ready"
    print(
        f"regression onset to 0% candidate weight: {to_zero:.1f} s (interval 1 s x failureLimit 2)"
    )


async def test_p99_latency_over_its_bound_rolls_back(
    cluster: Any, kube: KubeClient, kubelet: Any, gateway_metrics: Any, prometheus: Any,
    start_operator: Any,
) -> None:  # fmt: skip
    op = await operator_with_ready_versions(start_operator, kube, prometheus)
    async with traffic(gateway_metrics, lambda: 0.92, candidate_latency=lambda: 0.8):
        await kube.create(EXPERIMENTS, NS, experiment("slow", steps=[10, 50, 100]))

        async def done() -> dict[str, Any] | None:
            st = await status_of(kube, "slow")
            return st if st.get("phase") in ("RolledBack", "Succeeded") else None

        st = await wait_until(done, 60, "the rollback", op)
    assert st["phase"] == "RolledBack", st
    p99 = [m for r in st["analysis"] for m in r["results"] if m["metric"] == "p99"]
    assert any(m["verdict"] == "fail" and m["candidate"] > 0.25 for m in p99), p99


async def test_prometheus_gone_never_promotes_and_follows_the_no_data_policy(
    cluster: Any, kube: KubeClient, kubelet: Any, gateway_metrics: Any, prometheus: Any,
    start_operator: Any,
) -> None:  # fmt: skip
    op = await operator_with_ready_versions(start_operator, kube, prometheus)
    async with traffic(gateway_metrics, lambda: 0.95):
        await kube.create(
            EXPERIMENTS, NS, experiment("blind", steps=[10, 50, 100], no_data="rollback")
        )

        async def progressing() -> bool:
            return (await status_of(kube, "blind")).get("currentStep", 0) >= 1

        await wait_until(progressing, 30, "the first step", op)
        prometheus.stop()
        held = (await status_of(kube, "blind")).get("weight")

        async def done() -> dict[str, Any] | None:
            st = await status_of(kube, "blind")
            return st if st.get("phase") in ("RolledBack", "Succeeded", "Failed") else None

        st = await wait_until(done, 40, "the no-data policy", op)
    assert st["phase"] == "RolledBack", st
    assert st["weight"] == 0

    # The pass writes status first, then the routing table, in the same pass.
    async def blind_at_zero() -> bool:
        return await _weight(kube, "blind") == 0

    await wait_until(blind_at_zero, 30, "the routing table at weight 0", op)
    assert held is not None and held < 100
    last = st["analysis"][-1]
    assert last["verdict"] != "pass"

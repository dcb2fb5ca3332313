"""A good candidate walks every canary step and is promoted."""

from __future__ import annotations

import json
from typing import Any

from modelrollout_operator.k8s.client import CONFIGMAPS, EXPERIMENTS, MODELVERSIONS, KubeClient
from tests.operator.e2e.conftest import (
    events_eventually,
    metrics_eventually,
    operator_with_ready_versions,
    wait_until,
)
from tests.operator.e2e.scenarios import NS, experiment, status_of, traffic


async def test_good_candidate_is_promoted_step_by_step(
    cluster: Any, kube: KubeClient, kubelet: Any, gateway_metrics: Any, prometheus: Any,
    start_operator: Any,
) -> None:  # fmt: skip
    op = await operator_with_ready_versions(start_operator, kube, prometheus)
    async with traffic(gateway_metrics, lambda: 0.95):
        await kube.create(
            EXPERIMENTS,
            NS,
            experiment("good", steps=[10, 25, 50, 100], promotion={"scaleDownDelay": "2s"}),
        )

        async def finished() -> dict[str, Any] | None:
            st = await status_of(kube, "good")
            return st if st.get("phase") in ("Succeeded", "RolledBack", "Failed") else None

        st = await wait_until(finished, 90, "the experiment to finish", op)
    assert st["phase"] == "Succeeded", st
    assert st["weight"] == 100
    # Each step was baked with analysis numbers on record.
    runs = st.get("analysis") or []
    assert runs and all(r["verdict"] in ("pass", "inconclusive") for r in runs)
    acc = [m for r in runs for m in r["results"] if m["metric"] == "accuracy"]
    assert acc[-1]["candidateSamples"] >= 100 and acc[-1]["candidate"] > 0.9
    # Every step shows up as an event with its weight.
    await events_eventually(
        cluster, "good",
        lambda evs: all(any(f"{w}%" in e["message"] for e in evs) for w in (10, 25, 50, 100)),
        "an event for each step's weight", op,
    )  # fmt: skip

    # The gateway's routing table ends with the candidate as the only, stable version. The
    # status is written before the routing (crash-safe order), so the table follows it shortly.
    async def final_table() -> dict[str, Any] | None:
        cm = await kube.get(CONFIGMAPS, NS, f"{NS}.good.routing")
        if cm is None:
            return None
        assert cm["metadata"]["labels"]["modelrollout.dev/routing"] == "true"
        table: dict[str, Any] = json.loads(cm["data"]["routing.json"])
        return table if len(table["versions"]) == 1 else None

    table = await wait_until(final_table, 30, "the promoted routing table", op)
    assert table["versions"] == [
        {
            "version": "2",
            "weight": 100,
            "role": "baseline",
            "backend": table["versions"][0]["backend"],
        }
    ]
    assert table["generation"] >= 5

    # The old baseline stays Ready for the scale-down delay (undo is instant), then is retired.
    async def retired() -> bool:
        return (await status_of(kube, "scorer-v1", MODELVERSIONS)).get("phase") == "Retired"

    await wait_until(retired, 30, "the baseline retired after the scale-down delay", op)
    await metrics_eventually(
        op,
        ['modelrollout_promotions_total{experiment="good",model="scorer",namespace="default"} 1.0'],
    )

"""The operator killed (SIGKILL) at each phase resumes without repeating or skipping a step."""

from __future__ import annotations

import json
from typing import Any

from modelrollout_operator.k8s.client import EXPERIMENTS, KubeClient
from tests.operator.e2e.conftest import operator_with_ready_versions, wait_until
from tests.operator.e2e.scenarios import NS, experiment, status_of, traffic


def _history(cluster: Any, key: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [v.raw for v in cluster.objects[key].history if v is not None]


async def test_restarts_at_every_step_neither_repeat_nor_skip(
    cluster: Any, kube: KubeClient, kubelet: Any, gateway_metrics: Any, prometheus: Any,
    start_operator: Any,
) -> None:  # fmt: skip
    op = await operator_with_ready_versions(start_operator, kube, prometheus)
    kills = 0
    async with traffic(gateway_metrics, lambda: 0.95):
        await kube.create(EXPERIMENTS, NS, experiment("phoenix", steps=[10, 25, 50, 100]))
        op.kill()  # before the first pass: Pending
        kills += 1
        op = await start_operator()
        seen_step = 0
        while True:

            async def moved(after: int = seen_step) -> dict[str, Any] | None:
                st = await status_of(kube, "phoenix")
                if st.get("phase") in ("Succeeded", "RolledBack", "Failed"):
                    return st
                return st if st.get("currentStep", 0) > after else None

            st = await wait_until(moved, 60, f"a step after {seen_step}", op)
            if st.get("phase") in ("Succeeded", "RolledBack", "Failed"):
                break
            seen_step = st["currentStep"]
            op.kill()  # mid-step: the next process must resume this step
            kills += 1
            op = await start_operator()
    assert st["phase"] == "Succeeded", st
    assert kills >= 4
    steps = [
        s.get("status", {}).get("currentStep", 0)
        for s in _history(cluster, ("modelrollout.dev/v1alpha1/experiments", NS, "phoenix"))
    ]
    walked = [s for i, s in enumerate(steps) if s and (i == 0 or s != steps[i - 1])]
    assert walked == [1, 2, 3, 4], steps
    weights = []
    for version in _history(cluster, ("v1/configmaps", NS, f"{NS}.phoenix.routing")):
        table = json.loads(version["data"]["routing.json"])
        cand = [v["weight"] for v in table["versions"] if v["version"] == "2"]
        if not weights or weights[-1] != cand[0]:
            weights.append(cand[0])
    assert weights == [10, 25, 50, 100], weights

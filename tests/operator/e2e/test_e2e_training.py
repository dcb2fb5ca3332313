"""Training Jobs: a failed Job ends Failed, a result below the gate ends Rejected."""

from __future__ import annotations

import json
from typing import Any

from modelrollout_operator.k8s.client import JOBS, MODELVERSIONS, KubeClient
from tests.operator.e2e.conftest import events_eventually, metrics_eventually, wait_until
from tests.operator.e2e.scenarios import NS, server_fields, status_of
from tests.support.kubernetes import TrainingOutcome


def trained(name: str, version: int) -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": server_fields(name),
        "spec": {"model": "scorer", "version": version, "training": {
            "image": "trainer:1", "dataset": "s3://data/d.csv", "output": "s3://models/repo",
            "acceptance": {"minAccuracy": 0.85}, "retries": 1, "deadline": "10m"}},
    }  # fmt: skip


def result(accuracy: float) -> str:
    return json.dumps({
        "model": "scorer", "version": 3,
        "artifact": {"uri": "s3://models/repo/scorer/3/model.onnx", "sha256": "e" * 64},
        "metrics": {"test": {"accuracy": accuracy}},
        "gate": {"passed": accuracy >= 0.85, "reasons": []},
    })  # fmt: skip


async def test_training_outcomes_end_with_clear_conditions(
    cluster: Any, kube: KubeClient, kubelet: Any, start_operator: Any
) -> None:
    kubelet.outcomes["low-train"] = TrainingOutcome(result(0.81), succeed=False)
    kubelet.outcomes["broken-train"] = TrainingOutcome("", succeed=False, reason="DeadlineExceeded")
    kubelet.outcomes["good-train"] = TrainingOutcome(result(0.9))
    op = await start_operator()
    for i, name in enumerate(("low", "broken", "good"), start=3):
        await kube.create(MODELVERSIONS, NS, trained(name, i))

    async def settled() -> dict[str, str] | None:
        phases = {n: (await status_of(kube, n, MODELVERSIONS)).get("phase") for n in
                  ("low", "broken", "good")}  # fmt: skip
        return (
            phases if phases == {"low": "Rejected", "broken": "Failed", "good": "Ready"} else None
        )

    await wait_until(settled, 60, "training outcomes", op)
    job = await kube.get(JOBS, NS, "low-train")
    assert job is not None and job["spec"]["backoffLimit"] == 1
    assert job["metadata"]["ownerReferences"][0]["name"] == "low"

    low = await status_of(kube, "low", MODELVERSIONS)
    accepted = next(c for c in low["conditions"] if c["type"] == "Accepted")
    assert accepted["status"] == "False"
    assert accepted["message"] == "test accuracy 0.81 < minAccuracy 0.85"
    broken = await status_of(kube, "broken", MODELVERSIONS)
    trained_cond = next(c for c in broken["conditions"] if c["type"] == "Trained")
    assert trained_cond["reason"] == "DeadlineExceeded"
    good = await status_of(kube, "good", MODELVERSIONS)
    assert good["artifact"]["sha256"] == "e" * 64
    assert good["endpoint"] == "http://good-server.default.svc:8000"
    # Events and counters follow the status write of the same pass.
    await events_eventually(
        cluster, "low", lambda evs: evs[-1]["reason"] == "Rejected" if evs else False,
        "the Rejected event", op,
    )  # fmt: skip
    await metrics_eventually(
        op, [f'result="{result_}"}} 1.0' for result_ in ("rejected", "failed", "succeeded")]
    )

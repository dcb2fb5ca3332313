"""The health server and the operator's metric names (docs/contracts.md §1)."""

from __future__ import annotations

import httpx

from modelrollout_operator.observability import HealthServer, OperatorMetrics

CONTRACT = {
    "modelrollout_experiment_phase", "modelrollout_experiment_weight",
    "modelrollout_experiment_step", "modelrollout_analysis_results_total",
    "modelrollout_rollbacks_total", "modelrollout_promotions_total",
    "modelrollout_reconcile_duration_seconds", "modelrollout_training_jobs_total",
}  # fmt: skip


async def test_probes_and_metrics() -> None:
    metrics = OperatorMetrics()
    ready = {"now": False}
    server = HealthServer(metrics.registry, lambda: ready["now"], host="127.0.0.1", port=0)
    await server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{base}/healthz")).status_code == 200
            assert (await http.get(f"{base}/readyz")).status_code == 503
            ready["now"] = True
            assert (await http.get(f"{base}/readyz")).status_code == 200
            metrics.set_phase("ml", "exp", "scorer", "Progressing")
            metrics.rollbacks.labels("ml", "exp", "scorer").inc()
            metrics.analysis_results.labels("ml", "exp", "accuracy", "fail").inc()
            metrics.training_jobs.labels("ml", "scorer", "rejected").inc()
            metrics.reconcile_duration.labels("experiment").observe(0.01)
            metrics.set_progress("ml", "exp", "scorer", 25, 2)
            metrics.promotions.labels("ml", "exp", "scorer")
            text = (await http.get(f"{base}/metrics")).text
    finally:
        await server.stop()
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    names = {n.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for n in names}
    names = {n + "_seconds" if n.endswith("_duration") else n for n in names}
    assert names | {"modelrollout_reconcile_duration_seconds"} >= CONTRACT
    assert 'phase="Progressing"} 1.0' in text and 'phase="Paused"} 0.0' in text

"""Regression onset to 0% candidate weight, with a real Prometheus: where the time goes.

The scenario of the e2e accuracy-drop test (interval 1 s, failureLimit 2, Prometheus scraping
every 1 s, 100 labelled requests per version every 0.5 s, the baseline 90% accurate): the
candidate runs at 92% until its second step, then drops to 50%. Timestamps are taken from
status (analysis run times, written by the operator) and by polling (every 0.1 s) the
Experiment and its routing ConfigMap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from tests.support.kubernetes import OperatorProcess
from tests.support.prometheus import GatewayMetrics, PrometheusServer

from .processes import Child
from .scaling import API, version_body

INTERVAL = 1
FAILURE_LIMIT = 2
SCRAPE = 1.0


def drop_experiment() -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "drop", "namespace": "default", "uid": "uid-drop",
                     "resourceVersion": "1", "generation": 1},
        "spec": {
            "model": "scorer", "baseline": "scorer-v1", "candidate": "scorer-v2",
            "strategy": {"type": "canary", "canary": {"steps": [
                {"weight": w, "bake": "1s"} for w in (10, 25, 50, 75, 100)]}},
            "analysis": {
                "interval": f"{INTERVAL}s", "failureLimit": FAILURE_LIMIT, "alpha": 0.05,
                "noData": {"policy": "hold", "after": "4s"},
                "metrics": [{"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.05,
                             "minSamples": 100}],
            },
        },
    }  # fmt: skip


@dataclass(frozen=True)
class Timeline:
    """Seconds after the onset (the first bad requests were counted by the source)."""

    first_scrape: float  # first scrape seen after the onset: bad samples in Prometheus
    first_fail: float | None  # the first analysis with an accuracy `fail` verdict
    fails_before_rollback: int
    rolled_back: float  # status first seen RolledBack
    weight_zero: float  # routing table first seen at candidate weight 0
    fail_runs: tuple[tuple[float, float | None, float | None, float | None], ...]
    # (seconds after onset, candidate accuracy, baseline accuracy, upper bound) of each
    # analysis run after the onset


def report(t: Timeline) -> str:
    budget = INTERVAL * FAILURE_LIMIT
    lines = [
        f"regression onset to 0% candidate weight: {t.weight_zero:.1f} s "
        f"(interval {INTERVAL} s x failureLimit {FAILURE_LIMIT} = {budget} s; "
        f"Prometheus scrapes every {SCRAPE:.0f} s)",
        f"  onset -> first scrape after it seen in Prometheus          {t.first_scrape:5.1f} s",
    ]
    if t.first_fail is not None:
        lines.append(f"  onset -> first failing accuracy analysis                   "
                     f"{t.first_fail:5.1f} s")  # fmt: skip
    lines += [
        f"  failing analyses counted before the rollback               "
        f"{t.fails_before_rollback:5d}",
        f"  onset -> status RolledBack                                 {t.rolled_back:5.1f} s",
        f"  onset -> routing table at weight 0                         {t.weight_zero:5.1f} s",
        "  analyses after the onset (s, candidate, baseline, CI upper bound of the difference):",
    ]
    for at, cand, base, upper in t.fail_runs:

        def f(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"

        lines.append(f"    {at:5.1f} s  {f(cand)}  {f(base)}  {f(upper)}")
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def _traffic(source: GatewayMetrics, accuracy: dict[str, float]) -> AsyncIterator[None]:
    async def run() -> None:
        while True:
            source.serve("1", "stable", requests=100, correct=90)
            source.serve("2", "candidate", requests=100, correct=round(100 * accuracy["now"]))
            await asyncio.sleep(0.5)

    task = asyncio.get_running_loop().create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _get(http: aiohttp.ClientSession, path: str) -> dict[str, Any]:
    async with http.get(path) as r:
        return dict(await r.json()) if r.status == 200 else {}


async def _until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


async def time_to_zero() -> Timeline:
    cluster = Child("operator_bench.cluster")
    source = GatewayMetrics("scorer")
    source.touch("1", "stable")
    source.touch("2", "candidate")
    source.start()
    prometheus = PrometheusServer([f"127.0.0.1:{source.port}"])
    operator: OperatorProcess | None = None
    try:
        prometheus.start()
        operator = OperatorProcess(cluster.url, prometheus.url, MODELROLLOUT_LOG_LEVEL="WARNING")
        operator.start()
        async with (
            aiohttp.ClientSession(base_url=cluster.url) as http,
            aiohttp.ClientSession() as prom,
        ):
            for body in (version_body("scorer-v1", 1), version_body("scorer-v2", 2)):
                async with http.post(f"{API}/modelversions", json=body) as r:
                    r.raise_for_status()

            async def ready() -> bool:
                phases = [((await _get(http, f"{API}/modelversions/{n}")).get("status") or {})
                          .get("phase") for n in ("scorer-v1", "scorer-v2")]  # fmt: skip
                return phases == ["Ready", "Ready"]

            await _until(ready, 60, "both versions Ready")
            accuracy = {"now": 0.92}
            async with _traffic(source, accuracy):
                prometheus.wait_for_series('modelrollout_feedback_total{version="2"}')
                async with http.post(f"{API}/experiments", json=drop_experiment()) as r:
                    r.raise_for_status()

                async def status() -> dict[str, Any]:
                    return (await _get(http, f"{API}/experiments/drop")).get("status") or {}

                async def second_step() -> bool:
                    return int((await status()).get("currentStep", 0)) >= 2

                await _until(second_step, 60, "the second step")
                accuracy["now"] = 0.5
                onset, onset_wall = time.monotonic(), datetime.now(UTC)
                rolled_back = weight_zero = scraped = None
                promql = 'timestamp(modelrollout_feedback_correct_total{version="2"})'
                while weight_zero is None:
                    st = await status()
                    now = time.monotonic() - onset
                    if scraped is None and await _sample_time(prom, prometheus.url, promql) > (
                        onset_wall.timestamp()
                    ):
                        scraped = now
                    if rolled_back is None and st.get("phase") == "RolledBack":
                        rolled_back = now
                    cm = await _get(
                        http, "/api/v1/namespaces/default/configmaps/default.drop.routing"
                    )
                    table = json.loads((cm.get("data") or {}).get("routing.json", "null") or "null")
                    if (
                        table
                        and rolled_back is not None
                        and not sum(
                            v["weight"] for v in table["versions"] if v["role"] == "candidate"
                        )
                    ):
                        weight_zero = now
                    if now > 90:
                        raise RuntimeError(f"no rollback 90 s after the onset: {st}")
                    await asyncio.sleep(0.1)
                final = await status()
    finally:
        if operator is not None:
            operator.stop()
        prometheus.close()
        source.stop()
        cluster.stop()
    return _timeline(final, onset_wall, scraped or 0.0, rolled_back or 0.0, weight_zero)


async def _sample_time(http: aiohttp.ClientSession, url: str, promql: str) -> float:
    async with http.get(f"{url}/api/v1/query", params={"query": promql}) as r:
        result = (await r.json())["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def _timeline(
    st: dict[str, Any], onset: datetime, scraped: float, rolled_back: float, zero: float
) -> Timeline:
    runs = []
    first_fail = None
    fails = 0
    for run in st.get("analysis") or []:
        at = (datetime.fromisoformat(run["time"].replace("Z", "+00:00")) - onset).total_seconds()
        if at < 0:
            continue
        acc: dict[str, Any] = next((m for m in run["results"] if m["metric"] == "accuracy"), {})
        runs.append((at, acc.get("candidate"), acc.get("baseline"), acc.get("upper")))
        if acc.get("verdict") == "fail":
            fails += 1
            first_fail = at if first_fail is None else first_fail
    return Timeline(first_scrape=scraped, first_fail=first_fail, fails_before_rollback=fails,
                    rolled_back=rolled_back, weight_zero=zero, fail_runs=tuple(runs))  # fmt: skip

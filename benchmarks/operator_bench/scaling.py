"""One measured run: N Experiments against the cluster stand-in, the real operator process
(`kopf run`) and a Prometheus (fake or real), each in a process of its own."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from tests.support.kubernetes import OperatorProcess
from tests.support.prometheus import GatewayMetrics, PrometheusServer

from .measuring import Histogram, counter_sum, cpu_seconds, parse_histogram, rss_mb
from .processes import Child

NS = "default"
SHA = "d" * 64
API = "/apis/modelrollout.dev/v1alpha1/namespaces/default"


def version_body(name: str, version: int) -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}",
                     "resourceVersion": "1", "generation": 1},
        "spec": {"model": "scorer", "version": version,
                 "artifact": {"uri": f"s3://models/repo/scorer/{version}/model.onnx",
                              "sha256": SHA}},
    }  # fmt: skip


def experiment_body(name: str, interval: int) -> dict[str, Any]:
    """A canary that stays on its first step (1 h bake) and is analysed every `interval`."""
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}",
                     "resourceVersion": "1", "generation": 1},
        "spec": {
            "model": "scorer", "baseline": "scorer-v1", "candidate": "scorer-v2",
            "strategy": {"type": "canary", "canary": {"steps": [
                {"weight": w, "bake": "1h"} for w in (10, 20, 30, 40, 50)]}},
            "analysis": {
                "interval": f"{interval}s", "failureLimit": 2, "alpha": 0.05,
                "noData": {"policy": "hold", "after": "1h"},
                "metrics": [
                    {"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.05,
                     "minSamples": 100},
                    {"name": "p99", "kind": "latency", "quantile": 0.99, "max": 0.25,
                     "window": "30s", "minSamples": 20},
                ],
            },
        },
    }  # fmt: skip


@dataclass(frozen=True)
class ScaleResult:
    n: int
    interval: int
    prometheus: str
    restarted: bool
    startup_s: float  # creation of the first Experiment to all N Progressing
    measured_s: float
    lag_p50: float | None
    lag_p99: float | None
    status_gap_p50: float | None  # between consecutive analyses, minus the interval
    status_gap_p99: float | None
    pass_p50: float | None
    pass_p99: float | None
    rss_peak_mb: float
    rss_end_mb: float
    prom_qps: float
    passes_per_s: float
    analyses_per_s: float
    cpu_operator: float  # cores used on average over the window
    cpu_cluster: float
    cpu_prometheus: float
    capped: frozenset[str] = frozenset()  # fields that are lower bounds (top bucket reached)

    @property
    def expected_per_s(self) -> float:
        return self.n / self.interval


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def analysis_gaps(items: list[dict[str, Any]], since: datetime, interval: float) -> list[float]:
    """For every pair of consecutive analyses after `since`: how much later than one interval
    the second came (the lag seen in status, pass time included)."""
    gaps: list[float] = []
    for item in items:
        runs = (item.get("status") or {}).get("analysis") or []
        times = sorted(datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in runs)
        for a, b in itertools.pairwise(times):
            if a >= since:
                gaps.append((b - a).total_seconds() - interval)
    return gaps


class Bench:
    """The processes of one run and the calls the measurement makes to them."""

    def __init__(self, prometheus: str) -> None:
        self.kind = prometheus
        self.cluster = Child("operator_bench.cluster")
        self.source: GatewayMetrics | None = None
        self.real: PrometheusServer | None = None
        self.fake: Child | None = None
        if prometheus == "real":
            self.source = GatewayMetrics("scorer")
            self.source.touch("1", "stable")
            self.source.touch("2", "candidate")
            self.source.start()
            self.real = PrometheusServer([f"127.0.0.1:{self.source.port}"])
            self.real.start()
            self.prom_url = self.real.url
        else:
            self.fake = Child("operator_bench.fakeprom")
            self.prom_url = self.fake.url
        self.operator = self._operator()
        self.operator.start()

    def _operator(self) -> OperatorProcess:
        return OperatorProcess(
            self.cluster.url, self.prom_url,
            MODELROLLOUT_LOG_LEVEL="WARNING", MODELROLLOUT_PROMETHEUS_TIMEOUT="5",
            MODELROLLOUT_VERSION_POLL_INTERVAL="1", MODELROLLOUT_READY_POLL_INTERVAL="10",
        )  # fmt: skip

    def restart(self) -> None:
        """A new operator process in place of the running one (SIGTERM, then start)."""
        self.operator.stop()
        self.operator = self._operator()
        self.operator.start()

    def close(self) -> None:
        self.operator.stop()
        self.cluster.stop()
        if self.fake is not None:
            self.fake.stop()
        if self.real is not None:
            self.real.close()
        if self.source is not None:
            self.source.stop()

    @property
    def operator_pid(self) -> int:
        assert self.operator.proc is not None
        return self.operator.proc.pid

    def prometheus_pid(self) -> int | None:
        if self.fake is not None:
            return self.fake.pid
        proc = getattr(self.real, "_proc", None)
        return proc.pid if proc is not None else None

    async def prom_queries(self, http: aiohttp.ClientSession) -> float:
        if self.fake is not None:
            async with http.get(f"{self.prom_url}/stats") as r:
                return float((await r.json())["queries"])
        async with http.get(f"{self.prom_url}/metrics") as r:
            text = await r.text()
        return counter_sum(text, "prometheus_http_requests_total", 'handler="/api/v1/query"')

    async def operator_metrics(self, http: aiohttp.ClientSession) -> str:
        async with http.get(f"http://127.0.0.1:{self.operator.http_port}/metrics") as r:
            return await r.text()

    def feed(self) -> None:
        """One second of labelled traffic on both versions (real Prometheus only)."""
        if self.source is not None:
            self.source.serve("1", "stable", requests=50, correct=45)
            self.source.serve("2", "candidate", requests=50, correct=45)


async def _wait_ready(http: aiohttp.ClientSession, bench: Bench, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with http.get(f"http://127.0.0.1:{bench.operator.http_port}/readyz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"operator not ready after {timeout} s\n{bench.operator.logs()}")


async def _create_all(http: aiohttp.ClientSession, url: str, bodies: list[dict[str, Any]],
                      plural: str) -> None:  # fmt: skip
    gate = asyncio.Semaphore(16)

    async def one(body: dict[str, Any]) -> None:
        async with gate, http.post(f"{url}{API}/{plural}", json=body) as r:
            if r.status >= 400:
                raise RuntimeError(f"create {body['metadata']['name']}: HTTP {r.status}")

    await asyncio.gather(*(one(b) for b in bodies))


async def _list(http: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    async with http.get(f"{url}{API}/experiments") as r:
        items: list[dict[str, Any]] = (await r.json())["items"]
        return items


async def measure(n: int, interval: int, duration: float, prometheus: str,
                  settle_timeout: float = 150, restart: bool = False) -> ScaleResult:  # fmt: skip
    """Measure N Experiments in steady state; with `restart`, after the operator was replaced
    (every daemon then starts at once: the case the startup spread is for)."""
    bench = Bench(prometheus)
    timeout = aiohttp.ClientTimeout(total=60)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            await _wait_ready(http, bench)
            url = bench.cluster.url
            await _create_all(http, url, [version_body("scorer-v1", 1),
                                          version_body("scorer-v2", 2)], "modelversions")  # fmt: skip
            created = time.monotonic()
            bodies = [experiment_body(f"exp-{i}", interval) for i in range(n)]
            await _create_all(http, url, bodies, "experiments")
            while True:
                bench.feed()
                items = await _list(http, url)
                going = sum((i.get("status") or {}).get("phase") == "Progressing" for i in items)
                if going == n:
                    break
                if time.monotonic() - created > settle_timeout:
                    raise RuntimeError(f"only {going}/{n} Experiments Progressing after "
                                       f"{settle_timeout:.0f} s\n{bench.operator.logs()}")  # fmt: skip
                await asyncio.sleep(2)
            startup = time.monotonic() - created
            await asyncio.sleep(interval)  # one interval of steady state before measuring
            if restart:
                bench.restart()
                await _wait_ready(http, bench)
                await asyncio.sleep(2 * interval)  # resync passes, then back to the cadence
            pids = {"operator": bench.operator_pid, "cluster": bench.cluster.pid,
                    "prometheus": bench.prometheus_pid()}  # fmt: skip
            cpu0 = {k: cpu_seconds(p) if p else 0.0 for k, p in pids.items()}
            text0 = await bench.operator_metrics(http)
            q0 = await bench.prom_queries(http)
            t0, wall0 = time.monotonic(), datetime.now().astimezone()
            rss: list[float] = []
            while time.monotonic() - t0 < duration:
                bench.feed()
                rss.append(rss_mb(bench.operator_pid))
                await asyncio.sleep(1)
            text1 = await bench.operator_metrics(http)
            q1 = await bench.prom_queries(http)
            cpu1 = {k: cpu_seconds(p) if p else 0.0 for k, p in pids.items()}
            elapsed = time.monotonic() - t0
            items = await _list(http, url)
    finally:
        bench.close()

    def delta(name: str, labels: dict[str, str] | None = None) -> Histogram:
        return parse_histogram(text1, name, labels).minus(parse_histogram(text0, name, labels))

    lag = delta("modelrollout_analysis_lag_seconds")
    passes = delta("modelrollout_reconcile_duration_seconds", {"kind": "experiment"})
    verdicts = counter_sum(text1, "modelrollout_analysis_results_total", 'metric="accuracy"')
    verdicts -= counter_sum(text0, "modelrollout_analysis_results_total", 'metric="accuracy"')
    capped = frozenset(
        f"{name}_p{round(q * 100)}"
        for name, hist in (("lag", lag), ("pass", passes))
        for q in (0.5, 0.99)
        if hist.beyond_top(q)
    )
    gaps = analysis_gaps(items, wall0, interval)
    cpu = {k: (cpu1[k] - cpu0[k]) / elapsed for k in cpu0}
    return ScaleResult(
        n=n, interval=interval, prometheus=prometheus, restarted=restart, startup_s=startup,
        measured_s=elapsed,
        lag_p50=lag.quantile(0.5), lag_p99=lag.quantile(0.99),
        status_gap_p50=_quantile(gaps, 0.5), status_gap_p99=_quantile(gaps, 0.99),
        pass_p50=passes.quantile(0.5), pass_p99=passes.quantile(0.99),
        rss_peak_mb=max(rss), rss_end_mb=rss[-1], prom_qps=(q1 - q0) / elapsed,
        passes_per_s=lag.count / elapsed, analyses_per_s=verdicts / elapsed,
        cpu_operator=cpu["operator"], cpu_cluster=cpu["cluster"],
        cpu_prometheus=cpu["prometheus"],
        capped=capped,
    )  # fmt: skip

"""Operator at scale: N concurrent Experiments on kmock's emulator with a real Prometheus.

Measures, side by side for each N: analysis lag p50/p99 (a pass's start behind its schedule,
from the operator's `modelrollout_analysis_lag_seconds` histogram: bucket upper bounds),
the operator's RSS, and Prometheus queries per second.

    .venv/bin/python benchmarks/bench_operator.py --counts 100 500 1000 --interval 10 --duration 60

Not a test: it prints figures. The emulator and Prometheus share the machine with the
operator, so on a small machine they bound the figures as much as the operator does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import kmock
from kmock._internal.apps import Server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.operator.e2e.scenarios import (  # noqa: E402
    NS,
    experiment,
    prebuilt_version,
    server_fields,
)
from tests.support.kubernetes import FakeKubelet, OperatorProcess, register_resources  # noqa: E402
from tests.support.prometheus import GatewayMetrics, PrometheusServer  # noqa: E402

from modelrollout_operator.k8s.client import (  # noqa: E402
    EXPERIMENTS,
    MODELVERSIONS,
    Connection,
    KubeClient,
)


def quantile_from_buckets(text: str, name: str, q: float) -> float | None:
    buckets = []
    for m in re.finditer(rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$', text, re.M):
        buckets.append((float("inf") if m[1] == "+Inf" else float(m[1]), float(m[2])))
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    for bound, count in buckets:
        if count >= q * total:
            return bound
    return None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prom_queries(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    total = 0.0
    for m in re.finditer(r'^prometheus_http_requests_total{[^}]*handler="/api/v1/query"[^}]*} (\S+)$',
                         text, re.M):  # fmt: skip
        total += float(m[1])
    return total


async def run_one(n: int, interval: int, duration: float) -> dict[str, Any]:
    source = GatewayMetrics("scorer")
    source.touch("1", "stable")
    source.touch("2", "candidate")
    source.start()
    prom = PrometheusServer([f"127.0.0.1:{source.port}"])
    prom.start()
    try:
        async with kmock.KubernetesEmulator() as emulator, Server(emulator) as server:
            register_resources(emulator)
            url = str(server.url).rstrip("/")
            kubelet = FakeKubelet(emulator)
            kubelet.start()
            op = OperatorProcess(url, prom.url, MODELROLLOUT_LOG_LEVEL="WARNING")
            op.start()
            kube = KubeClient(Connection(server=url, insecure=True))
            await asyncio.sleep(4)  # watches established (the e2e tests check precisely)
            await kube.create(MODELVERSIONS, NS, prebuilt_version("scorer-v1", 1))
            await kube.create(MODELVERSIONS, NS, prebuilt_version("scorer-v2", 2))
            await asyncio.sleep(3)
            for i in range(n):
                body = experiment(f"exp-{i}", steps=[10, 20, 30, 40, 50])
                body["metadata"] = server_fields(f"exp-{i}")
                body["spec"]["analysis"]["interval"] = f"{interval}s"
                for step in body["spec"]["strategy"]["canary"]["steps"]:
                    step["bake"] = "1h"  # stay Progressing for the whole measurement
                await kube.create(EXPERIMENTS, NS, body)
            q0, t0 = prom_queries(prom.url), time.monotonic()
            peak = 0.0
            while time.monotonic() - t0 < duration:
                source.serve("1", "stable", requests=50, correct=45)
                source.serve("2", "candidate", requests=50, correct=45)
                peak = max(peak, rss_mb(op.proc.pid) if op.proc else 0.0)
                await asyncio.sleep(1)
            qps = (prom_queries(prom.url) - q0) / (time.monotonic() - t0)
            text = httpx.get(f"http://127.0.0.1:{op.http_port}/metrics", timeout=30).text
            passes = sum(float(m[1]) for m in re.finditer(
                r"^modelrollout_analysis_lag_seconds_count (\S+)$", text, re.M))  # fmt: skip
            result = {
                "n": n,
                "lag_p50": quantile_from_buckets(text, "modelrollout_analysis_lag_seconds", 0.5),
                "lag_p99": quantile_from_buckets(text, "modelrollout_analysis_lag_seconds", 0.99),
                "rss_mb": peak,
                "prom_qps": qps,
                "passes_per_s": passes / duration,
                "expected_passes_per_s": n / interval,
            }
            op.stop()
            await kubelet.stop()
            await kube.close()
            return result
    finally:
        prom.close()
        source.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--interval", type=int, default=10, help="analysis interval (s)")
    parser.add_argument("--duration", type=float, default=60, help="measured seconds per N")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    print(f"interval {args.interval}s, {args.duration:.0f}s measured per N")
    print(f"{'N':>6} {'lag p50':>9} {'lag p99':>9} {'RSS MB':>8} {'prom q/s':>9} "
          f"{'passes/s':>9} {'expected':>9}")  # fmt: skip
    for n in args.counts:
        r = asyncio.run(run_one(n, args.interval, args.duration))
        print(f"{r['n']:>6} {r['lag_p50']!s:>9} {r['lag_p99']!s:>9} {r['rss_mb']:>8.0f} "
              f"{r['prom_qps']:>9.1f} {r['passes_per_s']:>9.1f} {r['expected_passes_per_s']:>9.1f}")  # fmt: skip


if __name__ == "__main__":
    main()

"""Feedback join throughput and inference latency: the Redis store against the memory store.

Run from the repository root:

    .venv/bin/python benchmarks/bench_feedback.py [--requests 5000] [--concurrency 16]

One gateway process (`modelrollout-gateway serve`, embedded ONNX Runtime) per store, one after
the other on the same machine: `memory` (predictions kept in the process) and `redis` (a real
`redis-server` on 127.0.0.1, no persistence; every prediction is written with SET PX, every
label taken with GETDEL). For each: `--requests` predictions at `--concurrency` in flight
(client-side latency: p50, p99), then their labels posted in batches of 100 and of 1 (labels
joined per second). The load generator is one aiohttp client process sharing the cores with
the gateway and Redis, which bounds every figure. Servers run in their own process groups and
are stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from gateway.model import FEATURES, write_model

MODEL = "scorer"


@dataclass
class Figures:
    store: str
    requests: int = 0
    inference_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    joined: dict[int, tuple[int, float]] = field(default_factory=dict)  # batch -> (n, seconds)

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.latencies, q)) * 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(0.05)


@contextmanager
def _process(
    argv: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(
        argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield child
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(15)


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with _process(argv):
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"


@contextmanager
def gateway(repository: Path, store: str, redis_url: str | None) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "MODELROLLOUT_GATEWAY_FEEDBACK_STORE": store}
    if redis_url:
        env["MODELROLLOUT_GATEWAY_FEEDBACK_REDIS_URL"] = redis_url
    argv = [
        sys.executable, "-m", "modelrollout_inference.cli", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--model-repository", str(repository),
    ]  # fmt: skip
    with _process(argv, env):
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/v2/health/ready")
        yield url


async def _run(url: str, store: str, requests: int, concurrency: int) -> Figures:
    figures = Figures(store)
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(256, FEATURES)).astype(np.float32).tolist()
    ids = [f"{store}-{i}" for i in range(requests)]
    bodies = [
        orjson.dumps(
            {
                "id": request_id,
                "inputs": [
                    {
                        "name": "features",
                        "datatype": "FP32",
                        "shape": [1, FEATURES],
                        "data": rows[i % 256],
                    }
                ],
            }
        )
        for i, request_id in enumerate(ids)
    ]
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector) as client:
        warm = [
            client.post(f"/v2/models/{MODEL}/infer", data=bodies[0], headers=headers)
            for _ in range(50)
        ]
        for request in warm:
            async with request as response:
                await response.read()
        queue = list(range(requests))

        async def infer() -> None:
            while queue:
                body = bodies[queue.pop()]
                started = time.perf_counter()
                async with client.post(
                    f"/v2/models/{MODEL}/infer", data=body, headers=headers
                ) as response:
                    await response.read()
                    assert response.status == 200
                figures.latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(infer() for _ in range(concurrency)))
        figures.inference_seconds = time.perf_counter() - started
        figures.requests = requests

        for batch, chosen in ((100, ids[: requests * 4 // 5]), (1, ids[requests * 4 // 5 :])):
            started = time.perf_counter()
            joined = await _post_labels(client, chosen, batch, min(concurrency, 8))
            figures.joined[batch] = (joined, time.perf_counter() - started)
    return figures


async def _post_labels(
    client: aiohttp.ClientSession, ids: list[str], batch: int, concurrency: int
) -> int:
    """Post a label for every id, `batch` per request; the number joined."""
    batches = [ids[i : i + batch] for i in range(0, len(ids), batch)]
    joined = 0

    async def worker() -> None:
        nonlocal joined
        while batches:
            items = [{"id": i, "label": 1} for i in batches.pop()]
            body = {"feedback": items}
            async with client.post(f"/v2/models/{MODEL}/feedback", json=body) as response:
                joined += orjson.loads(await response.read())["joined"]

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return joined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    arguments = parser.parse_args()
    results: list[Figures] = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-feedback-")))
        write_model(workdir / "models" / MODEL / "1" / "model.onnx")
        redis_url = stack.enter_context(redis_server())
        for store in ("memory", "redis"):
            with gateway(workdir / "models", store, redis_url if store == "redis" else None) as url:
                results.append(
                    asyncio.run(_run(url, store, arguments.requests, arguments.concurrency))
                )
    print(
        f"\n{arguments.requests} predictions at {arguments.concurrency} in flight, then their "
        f"labels (80% in batches of 100, 20% one per request); one gateway process, "
        f"{os.cpu_count()} cores shared with the client{' and redis-server'}\n"
    )
    header = f"{'':34}" + "".join(f"{f.store:>14}" for f in results)
    print(header)
    print("-" * len(header))
    rows = [
        ("inference requests/s", lambda f: f"{f.requests / f.inference_seconds:,.0f}"),
        ("inference p50 (ms)", lambda f: f"{f.quantile(0.5):.2f}"),
        ("inference p99 (ms)", lambda f: f"{f.quantile(0.99):.2f}"),
        (
            "labels joined/s (batches of 100)",
            lambda f: f"{f.joined[100][0] / f.joined[100][1]:,.0f}",
        ),
        ("labels joined/s (one per request)", lambda f: f"{f.joined[1][0] / f.joined[1][1]:,.0f}"),
        (
            "labels joined / posted",
            lambda f: f"{sum(n for n, _ in f.joined.values())}/{f.requests}",
        ),
    ]
    for name, cell in rows:
        print(f"{name:34}" + "".join(f"{cell(f):>14}" for f in results))
    print(
        "\nmean latency (ms): "
        + ", ".join(f"{f.store} {statistics.mean(f.latencies) * 1000:.2f}" for f in results)
    )


if __name__ == "__main__":
    main()

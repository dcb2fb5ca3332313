"""Gateway vs MLServer 1.7 vs ONNX Runtime in-process: same model, machine and concurrency.

Run from the repository root:

    .venv/bin/python benchmarks/bench_gateway.py [--seconds 4] [--concurrency 1,8,64]

(a) the gateway (`modelrollout-gateway serve`, uvicorn + uvloop + httptools, embedded ONNX
    Runtime), JSON tensors, and once more with Triton's binary tensor extension, and over
    KServe v2 gRPC (`--grpc-port`, same process and event loop; grpc.aio client, raw tensors);
(b) MLServer 1.7 serving the same model.onnx through a small ONNX Runtime MLModel
    (benchmarks/gateway/mlserver_model.py), JSON tensors (it lacks the binary extension);
(c) ONNX Runtime called directly in-process (the floor: no HTTP, no JSON).

MLServer conflicts with the project's venv, so it gets its own, created on first run:
`python3 -m venv /tmp/modelrollout-bench/mlserver-venv` and
`pip install "mlserver==1.7.*" onnxruntime numpy` (override with --mlserver-venv; skip (b)
with --no-mlserver). Servers run in their own process groups on 127.0.0.1 and are stopped
at the end. The load generator is one aiohttp client process with a fixed number of requests
in flight; it shares the machine's cores with the server, which bounds every HTTP figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import numpy as np
import onnxruntime as ort
from tritonclient.grpc import service_pb2, service_pb2_grpc

sys.path.insert(0, str(Path(__file__).parent))
from gateway.model import FEATURES, write_model

MODEL = "scorer"
HERE = Path(__file__).parent
DEFAULT_VENV = Path("/tmp/modelrollout-bench/mlserver-venv")


@dataclass
class Figures:
    name: str
    concurrency: int
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process_group(
    command: list[str],
    ready_url: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
) -> Iterator[None]:
    output = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode} (log: {log})")
            try:
                import urllib.request

                with urllib.request.urlopen(ready_url, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready_url} never became ready (log: {log})")
            time.sleep(0.1)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def load(
    url: str,
    body: bytes,
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
    warmup: float = 0.5,
) -> tuple[int, float, list[float]]:
    """`concurrency` workers each send one request at a time until the deadline."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(until: float, record: bool) -> None:
            while time.perf_counter() < until:
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{url} answered {response.status}")
                if record:
                    latencies.append(time.perf_counter() - started)

        until = time.perf_counter() + warmup
        await asyncio.gather(*(worker(until, False) for _ in range(concurrency)))
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(worker(until, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies), elapsed, latencies


async def load_grpc(
    address: str,
    request: service_pb2.ModelInferRequest,
    concurrency: int,
    seconds: float,
    warmup: float = 0.5,
) -> tuple[int, float, list[float]]:
    """The same closed loop over one gRPC channel (HTTP/2 multiplexes the workers' calls)."""
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(address) as channel:
        infer = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer

        async def worker(until: float, record: bool) -> None:
            while time.perf_counter() < until:
                started = time.perf_counter()
                await infer(request)  # a status other than OK raises
                if record:
                    latencies.append(time.perf_counter() - started)

        until = time.perf_counter() + warmup
        await asyncio.gather(*(worker(until, False) for _ in range(concurrency)))
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(worker(until, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies), elapsed, latencies


def grpc_request(row: np.ndarray) -> service_pb2.ModelInferRequest:
    """What tritonclient.grpc sends by default: the tensor in raw_input_contents."""
    request = service_pb2.ModelInferRequest(model_name=MODEL)
    tensor = request.inputs.add()
    tensor.name, tensor.datatype = "features", "FP32"
    tensor.shape.extend(row.shape)
    request.raw_input_contents.append(row.tobytes())
    return request


def direct(path: Path, row: np.ndarray, seconds: float) -> Figures:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    latencies = []
    started = time.perf_counter()
    until = started + seconds
    while (now := time.perf_counter()) < until:
        session.run(["score"], {"features": row})
        latencies.append(time.perf_counter() - now)
    return Figures(
        "onnxruntime in-process", 1, len(latencies), time.perf_counter() - started, latencies
    )


def ensure_mlserver(venv: Path) -> Path:
    binary = venv / "bin" / "mlserver"
    if not binary.exists():
        print(f"creating {venv} with mlserver 1.7 (first run only)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "mlserver==1.7.*", "onnxruntime", "numpy"],
            check=True,
        )
    return binary


def mlserver_dir(root: Path, model_path: Path, port: int) -> Path:
    directory = root / "mlserver"
    (directory / MODEL).mkdir(parents=True)
    (directory / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "http_port": port,
                "grpc_port": free_port(),
                "metrics_port": free_port(),
                "parallel_workers": 0,
                "debug": False,
            }
        )
    )
    (directory / MODEL / "model-settings.json").write_text(
        json.dumps(
            {
                "name": MODEL,
                "implementation": "mlserver_model.OnnxModel",
                "parameters": {"uri": str(model_path)},
            }
        )
    )
    return directory


def table(results: list[Figures]) -> None:
    print(f"\n{'system':34} {'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r.name:34} {r.concurrency:5d} {r.throughput:9.0f} "
            f"{r.quantile(0.5) * 1e3:8.3f} {r.quantile(0.99) * 1e3:8.3f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--mlserver-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--no-mlserver", action="store_true")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per level")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    root = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    model_path = root / "repository" / MODEL / "1" / "model.onnx"
    write_model(model_path)
    row = np.random.default_rng(1).normal(size=(1, FEATURES)).astype(np.float32)
    json_body = json.dumps(
        {
            "inputs": [
                {
                    "name": "features",
                    "datatype": "FP32",
                    "shape": [1, FEATURES],
                    "data": row.ravel().tolist(),
                }
            ]
        }
    ).encode()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "features",
                    "datatype": "FP32",
                    "shape": [1, FEATURES],
                    "parameters": {"binary_data_size": row.nbytes},
                }
            ],
            "outputs": [{"name": "score", "parameters": {"binary_data": True}}],
        }
    ).encode()
    binary_body = header + row.tobytes()
    json_headers = {"content-type": "application/json"}
    binary_headers = {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(header)),
    }

    results: list[Figures] = [direct(model_path, row, args.seconds)]
    # Every system is up at once and the rounds alternate between them, so load from other work
    # on a shared machine falls on all of them alike rather than on whichever ran last.
    Load = Callable[[int, float], Coroutine[Any, Any, tuple[int, float, list[float]]]]

    def http(url: str, body: bytes, headers: dict[str, str]) -> Load:
        return lambda concurrency, seconds: load(url, body, headers, concurrency, seconds)

    systems: list[tuple[str, Load]] = []
    with ExitStack() as stack:
        port, grpc_port = free_port(), free_port()
        gateway = [
            sys.executable,
            "-m",
            "modelrollout_inference.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--grpc-port",
            str(grpc_port),
            "--model-repository",
            str(root / "repository"),
        ]
        stack.enter_context(
            process_group(
                gateway, f"http://127.0.0.1:{port}/v2/health/ready", log=root / "gateway.log"
            )
        )
        url = f"http://127.0.0.1:{port}/v2/models/{MODEL}/infer"
        systems.append(("gateway (JSON)", http(url, json_body, json_headers)))
        systems.append(("gateway (binary tensors)", http(url, binary_body, binary_headers)))
        request = grpc_request(row)
        systems.append(
            (
                "gateway (gRPC)",
                lambda concurrency, seconds: load_grpc(
                    f"127.0.0.1:{grpc_port}", request, concurrency, seconds
                ),
            )
        )
        if not args.no_mlserver:
            binary = ensure_mlserver(args.mlserver_venv)
            port = free_port()
            directory = mlserver_dir(root, model_path, port)
            stack.enter_context(
                process_group(
                    [str(binary), "start", str(directory)],
                    f"http://127.0.0.1:{port}/v2/models/{MODEL}/ready",
                    env={"PYTHONPATH": str(HERE / "gateway")},
                    log=root / "mlserver.log",
                )
            )
            systems.append(
                (
                    "mlserver 1.7 (JSON)",
                    http(
                        f"http://127.0.0.1:{port}/v2/models/{MODEL}/infer", json_body, json_headers
                    ),
                )
            )
        slice_seconds = args.seconds / args.rounds
        for concurrency in levels:
            for system in systems:
                results.append(Figures(system[0], concurrency, 0, 0.0, []))
            for _ in range(args.rounds):
                for name, run in systems:
                    count, elapsed, latencies = asyncio.run(run(concurrency, slice_seconds))
                    figures = next(
                        r for r in results if r.name == name and r.concurrency == concurrency
                    )
                    figures.requests += count
                    figures.seconds += elapsed
                    figures.latencies += latencies
            print(f"  c={concurrency} done", flush=True)

    table(results)
    floor = results[0]
    by = {(r.name, r.concurrency): r for r in results}
    print("\nratios")
    for concurrency in levels:
        ours = by[("gateway (JSON)", concurrency)]
        theirs = by.get(("mlserver 1.7 (JSON)", concurrency))
        if theirs:
            print(
                f"  c={concurrency:<3} gateway/mlserver throughput: "
                f"{ours.throughput / theirs.throughput:5.2f}x   p99 {ours.quantile(0.99) * 1e3:.3f}"
                f" vs {theirs.quantile(0.99) * 1e3:.3f} ms"
            )
        binary, over_grpc = (
            by[("gateway (binary tensors)", concurrency)],
            by[("gateway (gRPC)", concurrency)],
        )
        print(
            f"  c={concurrency:<3} gateway gRPC/binary HTTP throughput: "
            f"{over_grpc.throughput / binary.throughput:5.2f}x   p50 "
            f"{over_grpc.quantile(0.5) * 1e3:.3f} vs {binary.quantile(0.5) * 1e3:.3f} ms"
        )
    c1 = by.get(("gateway (JSON)", 1))
    if c1:
        added = (c1.quantile(0.99) - floor.quantile(0.99)) * 1e3
        added_p50 = (c1.quantile(0.5) - floor.quantile(0.5)) * 1e3
        print(
            f"  c=1 added over in-process ONNX Runtime: p50 {added_p50:.3f} ms, p99 {added:.3f} ms "
            f"(in-process p99 {floor.quantile(0.99) * 1e6:.1f} us, "
            f"p50 {statistics.median(floor.latencies) * 1e6:.1f} us)"
        )
    load_average = os.getloadavg()[0]
    print(f"\nload average {load_average:.1f} on {os.cpu_count()} cores during the run.")
    print(
        f"bounded by: {os.cpu_count()} CPU cores shared by the server, the client and other "
        "work on this machine; at c=1 by the round trip through loopback TCP and the event "
        "loops of client and server, at c>=8 by the server's one Python thread (CPU-bound)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

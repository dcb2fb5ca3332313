"""The cluster stand-in, in a process of its own: kmock's emulator and a kubelet stand-in.

    python -m operator_bench.cluster        # prints the API server URL on its first line

Changes to the stock emulator, all about the emulator's own cost, not its behaviour:
- the request log keeps only requests in flight. The stock emulator keeps every request for
  test assertions, and matching each new request to its reaction scans that whole log
  through the filters (kmock/_internal/dsl.py, `View.__contains__`): a request costs
  O(requests served so far), ~25 ms after a few thousand, and the operator's calls time out.
  This is what made the earlier benchmark fail at N=100 and reach 4.5 passes/s of 10 at N=20;
- GET and PATCH of one object look it up by key, as a real API server does, instead of
  scanning every object (O(objects): ~2,000 objects at N=1,000);
- object histories (kept for assertions) are trimmed every few seconds.
The kubelet stand-in makes Deployments ready (the only part the benchmark needs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import kmock
from kmock._internal import k8s_dicts, rendering
from kmock._internal.apps import Server

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.kubernetes import register_resources


class IndexedEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with keyed reads of single objects (same answers, O(1))."""

    async def _handle(self, request: rendering.Request) -> Any:
        try:
            return await super()._handle(request)
        finally:
            # Forget the request once answered (by identity: equal requests may be in flight).
            for i, seen in enumerate(self._requests):
                if seen is request:
                    del self._requests[i]
                    break

    def _one(self, request: rendering.Request, name: str | None = None) -> k8s_dicts.Object:
        key: Any = (request.resource, request.namespace, name or request.name)
        if key not in self.objects or self.objects[key].deleted:
            raise kmock.KubernetesObjectNotFoundError()
        return self.objects[key]

    async def _serve_fetch(self, request: rendering.Request) -> Any:
        async with self._lock:
            return self._one(request).raw

    async def _serve_update(self, request: rendering.Request) -> Any:
        async with self._lock:
            return self._one(request).last.raw

    async def _serve_create(self, request: rendering.Request) -> Any:
        namespace = request.namespace or request.data.get("metadata", {}).get("namespace")
        name = request.name or request.data.get("metadata", {}).get("name")
        key: Any = (request.resource, namespace, name)
        async with self._lock:
            return self.objects[key].raw

    def trim(self) -> None:
        """Forget old object versions (kept only for test assertions)."""
        for obj in self.objects.values():
            if len(obj.history) > 1:
                del obj.history[:-1]


def make_deployments_ready(emulator: kmock.KubernetesEmulator) -> int:
    """What a kubelet and the Deployment controller do, in one step; the number changed."""
    changed = 0
    for (resource, _ns, _name), obj in list(emulator.objects.items()):
        if getattr(resource, "plural", None) != "deployments" or obj.deleted:
            continue
        raw = obj.raw
        want = int(raw.get("spec", {}).get("replicas", 1))
        if (raw.get("status") or {}).get("readyReplicas") != want:
            obj.patch({"status": {"replicas": want, "readyReplicas": want}})
            changed += 1
    return changed


async def serve(port: int) -> None:
    emulator = (
        kmock.KubernetesEmulator() if os.environ.get("BENCH_STOCK_EMULATOR") else IndexedEmulator()
    )
    async with emulator, Server(emulator, port=port or None) as server:
        register_resources(emulator)
        print(str(server.url).rstrip("/"), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        ticks = 0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            make_deployments_ready(emulator)
            ticks += 1
            if ticks % 5 == 0 and isinstance(emulator, IndexedEmulator):
                emulator.trim()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()

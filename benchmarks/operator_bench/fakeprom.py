"""A fake Prometheus HTTP API in a process of its own, answering instant queries at once.

    python -m operator_bench.fakeprom       # prints its URL on its first line

For measuring the operator, not Prometheus: every query gets one sample, so the operator
does all its work (parse, decide, write status) at no cost on the Prometheus side.
The answers describe a candidate as good as its baseline (90% accurate, 20 ms p99) with
plenty of samples. `GET /stats` returns the number of queries answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time

from aiohttp import web

SAMPLES = 10_000.0


def answer(promql: str) -> float:
    """A plausible value for one of the operator's built-in queries."""
    if "histogram_quantile" in promql:
        return 0.02
    if "feedback_correct" in promql:
        return SAMPLES * 0.9
    if "code=~" in promql and " / " in promql:
        return 0.0  # error rate
    return SAMPLES


async def serve(port: int) -> None:
    queries = 0

    async def query(request: web.Request) -> web.Response:
        nonlocal queries
        queries += 1
        promql = request.query.get("query", "")
        if not promql:
            return web.json_response(
                {"status": "error", "errorType": "bad_data", "error": "no query"}, status=400
            )
        value = answer(promql)
        return web.json_response({"status": "success", "data": {"resultType": "vector",
            "result": [{"metric": {}, "value": [time.time(), str(value)]}]}})  # fmt: skip

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"queries": queries})

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    app.router.add_post("/api/v1/query", query)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"http://127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()

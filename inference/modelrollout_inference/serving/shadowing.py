"""Shadow traffic: mirror a share of requests to a version whose answer nobody waits for.

The mirror runs as a task after the answer is built, so it never delays it; a cap on tasks in
flight keeps a slow shadow version from piling up work (skipped mirrors are simply not sent).
A shadow answer is checked like a routed one (shape, NaN/Inf: counted as errors), compared with
the served answer (agree/disagree), and remembered under the request id for its label (`remember`
stores and logs it with route `shadow`), so shadow versions get an accuracy of their own.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import numpy as np
import structlog

from ..backends.base import output_problem
from ..feedback.correctness import agree
from ..metrics import GatewayMetrics
from ..routing.table import Correctness
from ..tensors import Array, InferenceRequest
from .tables import AppliedTable

log = structlog.get_logger(__name__)


Remember = Callable[[str, str, InferenceRequest, dict[str, Array], Correctness], Awaitable[None]]


class Shadower:
    def __init__(self, metrics: GatewayMetrics, max_in_flight: int, remember: Remember) -> None:
        self._metrics = metrics
        self._max_in_flight = max_in_flight
        self._remember = remember
        self._tasks: set[asyncio.Task[None]] = set()

    def maybe_mirror(
        self,
        model: str,
        applied: AppliedTable,
        request: InferenceRequest,
        answered: str,
        outputs: dict[str, Array],
        correctness: Correctness,
    ) -> None:
        shadow = applied.table.shadow
        if shadow is None or shadow.version == answered or shadow.percent <= 0:
            return
        if random.random() * 100 >= shadow.percent or len(self._tasks) >= self._max_in_flight:
            return
        task = asyncio.get_running_loop().create_task(
            self._mirror(model, applied, request, shadow.version, outputs, correctness)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _mirror(
        self,
        model: str,
        applied: AppliedTable,
        request: InferenceRequest,
        version: str,
        answer: dict[str, Array],
        correctness: Correctness,
    ) -> None:
        started = time.perf_counter()
        backend = applied.backends[version]
        try:
            async with asyncio.timeout(applied.table.timeout_seconds):
                mirrored = await backend.infer(request)
            problem = output_problem(backend.inputs, backend.outputs, request, mirrored)
            if problem is not None:
                raise ValueError(f"{problem[0]}: {problem[1]}")
        except Exception as exc:  # any failure of the shadow is only counted
            log.debug("shadow failed", model=model, version=version, error=str(exc))
            self._metrics.shadow.labels(model, version, "error").inc()
            self._metrics.observe_answer(
                model, version, "shadow", 503, time.perf_counter() - started
            )
            return
        self._metrics.observe_answer(model, version, "shadow", 200, time.perf_counter() - started)
        # Remembered before it is counted: once counted, its label can join it.
        await self._remember(model, version, request, mirrored, correctness)
        outcome = "agree" if _agree(applied, answer, mirrored) else "disagree"
        self._metrics.shadow.labels(model, version, outcome).inc()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _agree(applied: AppliedTable, answer: dict[str, Array], mirrored: dict[str, Array]) -> bool:
    correctness = applied.table.correctness
    if correctness.output in answer and correctness.output in mirrored:
        return agree(correctness, answer[correctness.output], mirrored[correctness.output])
    shared = set(answer) & set(mirrored)
    return bool(shared) and all(
        answer[n].shape == mirrored[n].shape and bool(np.allclose(answer[n], mirrored[n]))
        for n in shared
    )

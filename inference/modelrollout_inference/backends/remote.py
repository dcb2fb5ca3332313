"""A remote KServe v2 server (Triton, or a gateway serving one version) through tritonclient.

One pooled aiohttp connector per endpoint; a background health check keeps `is_ready` current
so routing skips a dead endpoint instead of timing out on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog
import tritonclient.http as triton_http
import tritonclient.http.aio as triton_aio
from tritonclient.utils import InferenceServerException

from ..errors import BackendFailure
from ..tensors import Array, InferenceRequest, TensorSpec, v2_datatype
from .base import select_outputs, validate_inputs

log = structlog.get_logger(__name__)


class TritonHttpBackend:
    def __init__(
        self,
        url: str,
        model_name: str,
        model_version: str,
        *,
        connections: int = 64,
        health_interval: float = 2.0,
        connect_timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"triton url must be http(s)://host:port, got {url!r}")
        self._url = url
        self._address = parts.netloc
        self._ssl = parts.scheme == "https"
        self._model = model_name
        self._version = model_version
        self._connections = connections
        self._health_interval = health_interval
        self._connect_timeout = connect_timeout
        self._client: triton_aio.InferenceServerClient | None = None
        self._inputs: list[TensorSpec] = []
        self._outputs: list[TensorSpec] = []
        self._ready = False
        self._health: asyncio.Task[None] | None = None

    @property
    def description(self) -> str:
        return f"triton:{self._url}/v2/models/{self._model}/versions/{self._version}"

    @property
    def inputs(self) -> Sequence[TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> Sequence[TensorSpec]:
        return self._outputs

    def is_ready(self) -> bool:
        return self._ready

    async def start(self) -> None:
        # aiohttp sessions belong to a running loop: create the client here, not in __init__.
        self._client = triton_aio.InferenceServerClient(
            self._address,
            conn_limit=self._connections,
            conn_timeout=self._connect_timeout,
            ssl=self._ssl,
        )
        await self._check()
        self._health = asyncio.create_task(self._watch_health(), name=f"health {self.description}")

    async def _check(self) -> None:
        assert self._client is not None
        try:
            ready = bool(await self._client.is_model_ready(self._model, self._version))
            if ready and not self._inputs:
                metadata: dict[str, Any] = await self._client.get_model_metadata(
                    self._model, self._version
                )
                self._inputs = [_spec(t) for t in metadata.get("inputs", [])]
                self._outputs = [_spec(t) for t in metadata.get("outputs", [])]
        except Exception as exc:  # any transport error means "not ready", never a crash
            if self._ready:
                log.warning("backend unready", backend=self.description, error=str(exc))
            ready = False
        if ready and not self._ready:
            log.info("backend ready", backend=self.description)
        self._ready = ready

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval)
            await self._check()

    async def infer(self, request: InferenceRequest) -> dict[str, Array]:
        if self._client is None:
            raise BackendFailure(f"{self.description} was not started")
        if self._inputs:
            validate_inputs(self._inputs, request)
        names = (
            select_outputs(self._outputs, request)
            if self._outputs
            else [o.name for o in request.outputs or []]
        )
        inputs = []
        for name, array in request.inputs.items():
            tensor = triton_http.InferInput(name, list(array.shape), v2_datatype(array))
            tensor.set_data_from_numpy(array, binary_data=True)
            inputs.append(tensor)
        outputs = [triton_http.InferRequestedOutput(n, binary_data=True) for n in names] or None
        try:
            result = await self._client.infer(
                self._model,
                inputs,
                model_version=self._version,
                outputs=outputs,
                request_id=request.request_id,
            )
        except InferenceServerException as exc:
            raise BackendFailure(f"{self.description}: {exc.message()}") from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise BackendFailure(f"{self.description}: {exc!r}") from exc
        if not names:
            names = [o["name"] for o in result.get_response().get("outputs", [])]
        answer: dict[str, Array] = {}
        for name in names:
            array = result.as_numpy(name)
            if array is None:
                raise BackendFailure(f"{self.description} did not return output '{name}'")
            answer[name] = array
        return answer

    async def close(self) -> None:
        if self._health is not None:
            self._health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health
        if self._client is not None:
            await self._client.close()


def _spec(tensor: dict[str, Any]) -> TensorSpec:
    return TensorSpec(
        name=str(tensor["name"]),
        datatype=str(tensor["datatype"]),
        shape=tuple(int(d) for d in tensor.get("shape", [])),
    )

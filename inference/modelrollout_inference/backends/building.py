"""Build backends from routing-table entries, reusing them across tables.

A weight change must not reload a model: backends are cached by (model, version, backend spec),
and ones no table uses any more are closed after a grace period, so requests still running on
them finish first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from ..errors import BadRequest, NotFound
from ..repository import ModelRepository
from ..routing.table import OnnxRuntimeBackend, TritonBackend, VersionRoute
from ..settings import GatewaySettings
from .base import ModelBackend
from .embedded import EmbeddedOnnxBackend
from .fetching import ArtifactError, fetch_artifact
from .remote import TritonHttpBackend

log = structlog.get_logger(__name__)

BackendKey = tuple[str, str, str]
_Builder = Callable[[], Awaitable[ModelBackend]]


class BackendPool:
    def __init__(self, settings: GatewaySettings, repository: ModelRepository) -> None:
        self._settings = settings
        self._repository = repository
        self._backends: dict[BackendKey, ModelBackend] = {}
        self._building: dict[BackendKey, asyncio.Lock] = {}
        self._retiring: dict[asyncio.Task[None], ModelBackend] = {}

    async def for_route(self, model: str, route: VersionRoute) -> ModelBackend:
        key = (model, route.version, route.backend.model_dump_json())
        return await self._get(key, lambda: self._build(model, route))

    async def for_repository(self, model: str, version: str) -> ModelBackend:
        """A version straight from the model repository (no routing table)."""
        return await self.for_route(model, VersionRoute(version=version, weight=0, role="baseline"))

    def cached(self, model: str, version: str) -> ModelBackend | None:
        """The repository backend if it is loaded: the hot path avoids the lock and the await."""
        return self._backends.get((model, version, _PLAIN))

    async def _get(self, key: BackendKey, build: _Builder) -> ModelBackend:
        backend = self._backends.get(key)
        if backend is not None:
            return backend
        lock = self._building.setdefault(key, asyncio.Lock())
        async with lock:
            backend = self._backends.get(key)
            if backend is None:
                backend = await build()
                await backend.start()
                self._backends[key] = backend
                log.info(
                    "backend loaded", model=key[0], version=key[1], backend=backend.description
                )
        return backend

    async def _build(self, model: str, route: VersionRoute) -> ModelBackend:
        spec = route.backend
        if isinstance(spec, TritonBackend):
            return TritonHttpBackend(
                spec.url,
                spec.model_name or model,
                spec.model_version or route.version,
                connections=self._settings.triton_connections,
                health_interval=self._settings.health_interval_seconds,
            )
        assert isinstance(spec, OnnxRuntimeBackend)
        path: Path | None
        if spec.uri is not None:
            assert spec.sha256 is not None
            try:
                path = await asyncio.to_thread(
                    fetch_artifact, spec.uri, spec.sha256, self._settings.artifact_cache_dir
                )
            except ArtifactError as exc:
                raise BadRequest(f"version {route.version}: {exc}") from exc
        else:
            path = self._repository.model_path(model, route.version)
            if path is None:
                raise NotFound(
                    f"version {route.version} of model '{model}' is not in the model repository"
                )
        threads = self._settings.ort_intra_op_threads
        try:
            return await asyncio.to_thread(EmbeddedOnnxBackend, path, intra_op_threads=threads)
        except Exception as exc:  # a corrupt model is a bad table, not a crash
            raise BadRequest(f"version {route.version}: cannot load {path}: {exc}") from exc

    def retire_unused(self, in_use: set[BackendKey], grace_seconds: float = 30.0) -> None:
        """Close backends outside `in_use` (repository backends stay) after a grace period."""
        for key in list(self._backends):
            if key in in_use or key[2] == _PLAIN:
                continue
            backend = self._backends.pop(key)
            task = asyncio.create_task(_close_later(backend, grace_seconds))
            self._retiring[task] = backend
            task.add_done_callback(lambda done: self._retiring.pop(done, None))

    async def close(self) -> None:
        retiring = list(self._retiring.items())
        for task, _ in retiring:
            task.cancel()
        backends = [backend for _, backend in retiring] + list(self._backends.values())
        self._backends = {}
        for backend in backends:
            await backend.close()


def route_key(model: str, route: VersionRoute) -> BackendKey:
    return (model, route.version, route.backend.model_dump_json())


_PLAIN = OnnxRuntimeBackend().model_dump_json()


async def _close_later(backend: ModelBackend, delay: float) -> None:
    await asyncio.sleep(delay)
    await backend.close()

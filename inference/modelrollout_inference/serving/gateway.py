"""The gateway core: choose a version, answer with fallback, mirror, remember, log.

No HTTP here: the ASGI layer (`serving/app.py`) decodes and encodes, this module decides.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from ..backends.base import ModelBackend, nonfinite_input, output_problem
from ..backends.building import BackendPool, route_key
from ..errors import BackendFailure, BadRequest, Conflict, GatewayError, NotFound, Unavailable
from ..feedback.stores import (
    Key,
    MemoryStore,
    Prediction,
    PredictionStore,
    RedisStore,
    StoreUnavailable,
)
from ..logging.records import prediction_record
from ..logging.writer import PredictionLogWriter
from ..metrics import GatewayMetrics
from ..repository import ModelRepository
from ..routing.hashing import choose, key_point
from ..routing.table import (
    LOCAL_NAMESPACE,
    BinaryCorrectness,
    Correctness,
    RoutingTable,
    served_name,
)
from ..settings import GatewaySettings
from ..tensors import Array, InferenceRequest
from .shadowing import Shadower
from .tables import AppliedTable

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Answer:
    version: str
    route: str
    outputs: dict[str, Array]


class Gateway:
    def __init__(self, settings: GatewaySettings, metrics: GatewayMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or GatewayMetrics()
        self.repository = ModelRepository(settings.model_repository)
        self.pool = BackendPool(settings, self.repository)
        self.tables: dict[str, AppliedTable] = {}
        self.store = build_store(settings)
        self.prediction_log: PredictionLogWriter | None = None
        if settings.prediction_log_dir is not None:
            self.prediction_log = PredictionLogWriter(
                settings.prediction_log_dir,
                max_bytes=settings.prediction_log_max_bytes,
                max_total_bytes=settings.prediction_log_max_total_bytes,
                queue_size=settings.prediction_log_queue,
                s3_uri=settings.prediction_log_s3_uri,
                on_drop=lambda reason: self.metrics.log_dropped.labels(reason).inc(),
                on_delete=lambda reason: self.metrics.log_deleted.labels(reason).inc(),
                on_size=self.metrics.log_bytes.set,
            )
        self.default_correctness: Correctness = BinaryCorrectness(
            output=settings.default_output, threshold=settings.default_threshold
        )
        self.shadower = Shadower(self.metrics, settings.shadow_max_in_flight, self._remember_shadow)
        self._apply_lock = asyncio.Lock()
        self._started = False
        # Repository versions that failed to load at start: skipped, reported, not fatal.
        self.load_errors: dict[tuple[str, str], str] = {}

    @property
    def ready(self) -> bool:
        return self.not_ready_reason() is None

    def not_ready_reason(self) -> str | None:
        if not self._started:
            return "not ready: starting or stopping"
        if self.prediction_log is not None and self.prediction_log.error is not None:
            return f"not ready: the prediction log cannot write: {self.prediction_log.error}"
        return None

    async def start(self) -> None:
        if self.prediction_log is not None:
            self.prediction_log.start()
        for model in self.repository.models():
            for version in self.repository.versions(model):
                try:
                    await self.pool.for_repository(model, version)
                except GatewayError as exc:
                    # One corrupt version must not keep the others from serving.
                    self.load_errors[(model, version)] = exc.message
                    log.error(
                        "version skipped: it cannot be loaded",
                        model=model,
                        version=version,
                        error=exc.message,
                    )
                    continue
                self.metrics.declare_version(model, version)
        self._started = True

    async def close(self) -> None:
        self._started = False
        await self.shadower.close()
        await self.pool.close()
        await self.store.close()
        if self.prediction_log is not None:
            await asyncio.to_thread(self.prediction_log.close)

    # -- routing tables ------------------------------------------------------------------------

    async def apply(self, table: RoutingTable, source: str, namespace: str | None = None) -> bool:
        """Apply a table; False when it is older than the one applied. Backends load first.

        A table written for `namespace` (a routing ConfigMap's) is served under
        `served_name(namespace, model)`: the same model routed for two namespaces keeps two
        tables, two sets of weights and its own `namespace` label on every series.
        """
        namespace = namespace or LOCAL_NAMESPACE
        served = served_name(namespace, table.model)
        async with self._apply_lock:
            current = self.tables.get(served)
            # Generations order one source's tables; another ConfigMap (the next Experiment on
            # this model) counts its own, and the watcher has chosen it already.
            same_source = current is not None and (
                current.source == source or not source.startswith("configmap:")
            )
            if current is not None and same_source and table.generation < current.table.generation:
                if source.startswith("admin"):
                    raise Conflict(
                        f"generation {table.generation} is older than the applied "
                        f"{current.table.generation} for model '{table.model}'"
                    )
                log.info(
                    "older routing table ignored",
                    model=table.model,
                    source=source,
                    generation=table.generation,
                    applied=current.table.generation,
                )
                return False
            if current is not None and current.table == table:
                return True
            backends: dict[str, ModelBackend] = {}
            for route in table.versions:
                backends[route.version] = await self.pool.for_route(table.model, route)
            self.metrics.names.register(served, namespace, table.model)
            self.tables[served] = AppliedTable.build(table, backends, source)
            self.metrics.set_weights(served, self.tables[served].weights())
            for route in table.versions:
                self.metrics.declare_version(served, route.version)
            self._retire()
            log.info(
                "routing table applied",
                model=table.model,
                namespace=namespace,
                generation=table.generation,
                source=source,
                weights={v.version: v.weight for v in table.versions},
            )
            return True

    async def remove(self, model: str) -> bool:
        async with self._apply_lock:
            if self.tables.pop(model, None) is None:
                return False
            self.metrics.set_weights(model, [])
            self._retire()
            log.info("routing table removed", model=model)
            return True

    def _retire(self) -> None:
        in_use = {
            route_key(applied.table.model, route)
            for applied in self.tables.values()
            for route in applied.table.versions
        }
        self.pool.retire_unused(in_use)

    def knows(self, model: str) -> bool:
        return model in self.tables or bool(self.repository.versions(model))

    def resolve(self, name: str) -> str:
        """The served name a request's model name means (docs/contracts.md §6).

        `<namespace>.<model>` names one namespace's table (`<model>` alone is the local one's);
        a bare `<model>` routed for exactly one namespace means that one; routed for several,
        it is refused naming the choices. Anything else is left to the repository.
        """
        if name in self.tables:
            return name
        namespace, dot, model = name.partition(".")
        if dot and namespace == LOCAL_NAMESPACE and model in self.tables:
            return model
        routed = sorted(k for k, a in self.tables.items() if a.table.model == name)
        if len(routed) == 1:
            return routed[0]
        if len(routed) > 1:
            choices = ", ".join(served_name(self.metrics.names.split(k)[0], name) for k in routed)
            raise Conflict(
                f"model '{name}' is routed for several namespaces: ask for one of {choices}"
            )
        return name

    # -- inference -----------------------------------------------------------------------------

    async def infer(
        self,
        model: str,
        version: str | None,
        request: InferenceRequest,
        headers: Mapping[str, str],
        started: float,
    ) -> Answer:
        applied = self.tables.get(model)
        allow_nonfinite = applied is not None and applied.table.allow_non_finite_inputs
        if applied is None or (version is not None and version not in applied.backends):
            answer = await self._infer_direct(model, version, request, started, allow_nonfinite)
            correctness = applied.table.correctness if applied else self.default_correctness
        else:
            if version is not None:
                order = [version]
            else:
                sticky_by = applied.table.sticky_by
                key = headers.get(sticky_by.lower()) if sticky_by else None
                point = key_point(key, model) if key else random.getrandbits(64)
                order = applied.answer_order(choose(point, applied.slots))
            if not allow_nonfinite:
                self._refuse_nonfinite(model, order[0], applied.routes[order[0]], request, started)
            answer = await self._answer(model, applied, order, request, started)
            correctness = applied.table.correctness
            self.shadower.maybe_mirror(
                model, applied, request, answer.version, answer.outputs, correctness
            )
        await self._remember(model, request, answer, correctness)
        return answer

    def _refuse_nonfinite(
        self, model: str, version: str, route: str, request: InferenceRequest, started: float
    ) -> None:
        name = nonfinite_input(request)
        if name is None:
            return
        self.metrics.observe_answer(model, version, route, 400, time.perf_counter() - started)
        raise BadRequest(
            f"input '{name}' holds NaN or Inf; model '{model}' takes finite numbers only "
            f"(its routing table's allowNonFiniteInputs is off)"
        )

    async def _infer_direct(
        self,
        model: str,
        version: str | None,
        request: InferenceRequest,
        started: float,
        allow_nonfinite: bool = False,
    ) -> Answer:
        backend = self.pool.cached(model, version) if version is not None else None
        if backend is None:
            versions = self.repository.versions(model)
            if not versions:
                raise NotFound(f"unknown model '{model}'")
            loadable = [v for v in versions if (model, v) not in self.load_errors]
            version = version or (loadable or versions)[-1]
            if version not in versions:
                raise NotFound(f"unknown version '{version}' of model '{model}'")
            backend = self.pool.cached(model, version) or await self.pool.for_repository(
                model, version
            )
        assert version is not None
        if not allow_nonfinite:
            self._refuse_nonfinite(model, version, "stable", request, started)
        try:
            outputs = await backend.infer(request)
        except GatewayError as exc:
            self.metrics.observe_answer(
                model, version, "stable", exc.status, time.perf_counter() - started
            )
            raise
        except BackendFailure as exc:
            self.metrics.observe_answer(
                model, version, "stable", 503, time.perf_counter() - started
            )
            raise Unavailable(f"version {version} of model '{model}' cannot answer: {exc}") from exc
        problem = output_problem(backend.inputs, backend.outputs, request, outputs)
        if problem is not None:
            self.metrics.observe_answer(
                model, version, "stable", 503, time.perf_counter() - started
            )
            raise Unavailable(f"version {version} of model '{model}' answered badly: {problem[1]}")
        self.metrics.observe_answer(model, version, "stable", 200, time.perf_counter() - started)
        return Answer(version, "stable", outputs)

    async def _answer(
        self,
        model: str,
        applied: AppliedTable,
        order: list[str],
        request: InferenceRequest,
        started: float,
    ) -> Answer:
        failures: list[tuple[str, str, str]] = []
        timeout = applied.table.timeout_seconds
        for version in order:
            backend = applied.backends[version]
            route = applied.routes[version]
            if not backend.is_ready():
                failures.append((version, "unready", "not ready"))
                continue
            try:
                # asyncio.timeout is a timer handle, not a task: cheap enough for microsecond work.
                async with asyncio.timeout(timeout):
                    outputs = await backend.infer(request)
            except GatewayError as exc:
                self.metrics.observe_answer(
                    model, version, route, exc.status, time.perf_counter() - started
                )
                raise
            except TimeoutError:
                failures.append((version, "timeout", f"no answer within {timeout}s"))
                continue
            except BackendFailure as exc:
                failures.append((version, exc.reason, str(exc)))
                continue
            except Exception as exc:  # a backend bug must not take the request down with it
                log.exception("backend raised", model=model, version=version)
                failures.append((version, "error", repr(exc)))
                continue
            problem = output_problem(backend.inputs, backend.outputs, request, outputs)
            if problem is not None:  # a wrong answer is a failure of the version that gave it
                failures.append((version, *problem))
                continue
            for failed, reason, message in failures:
                self.metrics.fallbacks.labels(model, failed, reason).inc()
                log.debug(
                    "fallback",
                    model=model,
                    failed=failed,
                    reason=reason,
                    answered=version,
                    error=message,
                )
            self.metrics.observe_answer(model, version, route, 200, time.perf_counter() - started)
            return Answer(version, route, outputs)
        first = order[0]
        self.metrics.observe_answer(
            model, first, applied.routes[first], 503, time.perf_counter() - started
        )
        summary = "; ".join(f"version {v}: {reason} ({message})" for v, reason, message in failures)
        raise Unavailable(f"no version of model '{model}' could answer: {summary}")

    async def _remember(
        self, model: str, request: InferenceRequest, answer: Answer, correctness: Correctness
    ) -> None:
        await self._store_and_log(
            Key(model, request.request_id),
            model,
            answer.version,
            answer.route,
            request,
            answer.outputs,
            correctness,
        )

    async def _remember_shadow(
        self,
        model: str,
        version: str,
        request: InferenceRequest,
        outputs: dict[str, Array],
        correctness: Correctness,
    ) -> None:
        key = Key(model, request.request_id, "shadow")
        await self._store_and_log(key, model, version, "shadow", request, outputs, correctness)

    async def _store_and_log(
        self,
        key: Key,
        model: str,
        version: str,
        route: str,
        request: InferenceRequest,
        outputs: dict[str, Array],
        correctness: Correctness,
    ) -> None:
        now = time.time()
        if self.prediction_log is not None:
            inputs = request.inputs
            self.prediction_log.submit(
                lambda: prediction_record(
                    request_id=request.request_id,
                    time=now,
                    model=model,
                    version=version,
                    route=route,
                    inputs=inputs,
                    outputs=outputs,
                )
            )
        prediction = Prediction(
            model, version, route, outputs.get(correctness.output), correctness, now
        )
        try:
            await self.store.put(key, prediction)
        except StoreUnavailable:
            # The answer stands; only its label will find nothing. Counted, logged by the store.
            self.metrics.store_errors.labels("put").inc()

    # -- metadata ------------------------------------------------------------------------------

    async def backend_for(self, model: str, version: str | None) -> tuple[str, ModelBackend]:
        applied = self.tables.get(model)
        if applied is not None:
            chosen = version or applied.baseline
            if chosen in applied.backends:
                return chosen, applied.backends[chosen]
        versions = self.repository.versions(model)
        if not versions and applied is None:
            raise NotFound(f"unknown model '{model}'")
        chosen = version or versions[-1] if versions else ""
        if chosen not in versions:
            raise NotFound(f"unknown version '{version}' of model '{model}'")
        return chosen, await self.pool.for_repository(model, chosen)

    def versions_of(self, model: str) -> list[str]:
        applied = self.tables.get(model)
        found = set(self.repository.versions(model))
        if applied is not None:
            found |= set(applied.backends)
        return sorted(found, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v))


def build_store(settings: GatewaySettings) -> PredictionStore:
    if settings.feedback_store == "redis":
        password = settings.feedback_redis_password
        return RedisStore(
            settings.feedback_redis_url,
            password=password.get_secret_value() if password else None,
            ttl_seconds=settings.feedback_ttl_seconds,
            timeout_seconds=settings.feedback_store_timeout_seconds,
        )
    return MemoryStore(
        max_entries=settings.feedback_max_entries, ttl_seconds=settings.feedback_ttl_seconds
    )

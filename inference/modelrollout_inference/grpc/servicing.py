"""`GRPCInferenceService` over the gateway core: the same routing, fallback, shadow and memory.

Only the wire format differs from HTTP: the sticky key comes from gRPC metadata (keys are
lower-case there, as the table's `stickyBy` header is matched), and the answering version and
request id go back in the initial metadata as well as in the response.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import structlog
from tritonclient.grpc import service_pb2, service_pb2_grpc

from ..errors import GatewayError, NotFound
from ..serving.gateway import Gateway
from .decoding import decode_model_infer_request
from .encoding import encode_model_infer_response
from .statuses import status_code

log = structlog.get_logger(__name__)

SERVER_NAME = "modelrollout-gateway"
SERVER_VERSION = "0.1.0"
PLATFORM = "onnxruntime_onnx"

Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Any, Request, grpc.aio.ServicerContext[Any, Any]], Awaitable[Response]]


def _guarded(handler: Handler[Request, Response]) -> Handler[Request, Response]:
    """Gateway errors become their status code; anything else INTERNAL, never a crash."""

    @functools.wraps(handler)
    async def wrapper(
        self: Any, request: Request, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Response:
        try:
            return await handler(self, request, context)
        except GatewayError as exc:
            await context.abort(status_code(exc), exc.message)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("gRPC call failed", method=handler.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error in the gateway")
        raise AssertionError("unreachable: abort raises")  # pragma: no cover

    return wrapper


def _metadata(context: grpc.aio.ServicerContext[Any, Any]) -> dict[str, str]:
    # Binary ("-bin") metadata carries bytes; no routing key is binary, so skip those.
    return {
        key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)
    }


# The generated gRPC module has no type stubs: its servicer base is Any to mypy.
class InferenceServicer(service_pb2_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """Health, metadata and ModelInfer; the other Triton RPCs answer UNIMPLEMENTED.

    Method names are fixed by the service definition, hence CamelCase.
    """

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @_guarded
    async def ServerLive(
        self, request: service_pb2.ServerLiveRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> service_pb2.ServerLiveResponse:
        return service_pb2.ServerLiveResponse(live=True)

    @_guarded
    async def ServerReady(
        self, request: service_pb2.ServerReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> service_pb2.ServerReadyResponse:
        return service_pb2.ServerReadyResponse(ready=self.gateway.ready)

    @_guarded
    async def ServerMetadata(
        self,
        request: service_pb2.ServerMetadataRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> service_pb2.ServerMetadataResponse:
        return service_pb2.ServerMetadataResponse(
            name=SERVER_NAME, version=SERVER_VERSION, extensions=[]
        )

    @_guarded
    async def ModelReady(
        self, request: service_pb2.ModelReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> service_pb2.ModelReadyResponse:
        name = self.gateway.resolve(request.name)
        _, backend = await self.gateway.backend_for(name, request.version or None)
        return service_pb2.ModelReadyResponse(ready=backend.is_ready())

    @_guarded
    async def ModelMetadata(
        self,
        request: service_pb2.ModelMetadataRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> service_pb2.ModelMetadataResponse:
        name = self.gateway.resolve(request.name)
        _, backend = await self.gateway.backend_for(name, request.version or None)
        TensorMetadata = service_pb2.ModelMetadataResponse.TensorMetadata
        return service_pb2.ModelMetadataResponse(
            name=request.name,
            versions=self.gateway.versions_of(name),
            platform=PLATFORM,
            inputs=[
                TensorMetadata(name=s.name, datatype=s.datatype, shape=s.shape)
                for s in backend.inputs
            ],
            outputs=[
                TensorMetadata(name=s.name, datatype=s.datatype, shape=s.shape)
                for s in backend.outputs
            ],
        )

    @_guarded
    async def ModelInfer(
        self, request: service_pb2.ModelInferRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> service_pb2.ModelInferResponse:
        started = time.perf_counter()
        model = self.gateway.resolve(request.model_name)
        if not self.gateway.knows(model):
            raise NotFound(f"unknown model '{model}'")
        headers = _metadata(context)
        decoded = decode_model_infer_request(request, headers.get("x-request-id"))
        answer = await self.gateway.infer(
            model, request.model_version or None, decoded, headers, started
        )
        await context.send_initial_metadata(
            (
                ("x-request-id", decoded.request_id),
                ("x-model-version", answer.version),
                ("x-model-route", answer.route),
            )
        )
        return encode_model_infer_response(
            model=model,
            version=answer.version,
            request_id=decoded.request_id,
            outputs=answer.outputs,
        )

"""Gateway errors as gRPC status codes: the same classes the HTTP face maps to HTTP statuses."""

from __future__ import annotations

import grpc

from ..errors import GatewayError

# HTTP status of a GatewayError -> the gRPC code a client of Triton would expect for it.
STATUS_CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


def status_code(error: GatewayError) -> grpc.StatusCode:
    return STATUS_CODES.get(error.status, grpc.StatusCode.INTERNAL)

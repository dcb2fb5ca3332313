"""The gRPC server's life: started and stopped by the HTTP app's lifespan, in its event loop."""

from __future__ import annotations

import grpc
import structlog
from tritonclient.grpc import service_pb2_grpc

from ..serving.gateway import Gateway
from .servicing import InferenceServicer

log = structlog.get_logger(__name__)


class GrpcServerError(RuntimeError):
    """The gRPC port could not be bound."""


def listen_address(host: str, port: int) -> str:
    # gRPC wants IPv6 literals bracketed, as in URLs.
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


class GrpcServer:
    """`grpc.aio` server for one gateway; port 0 binds a free port (read `port` after start)."""

    def __init__(
        self,
        gateway: Gateway,
        host: str,
        port: int,
        *,
        max_message_bytes: int,
        grace_seconds: float = 5.0,
    ) -> None:
        self.gateway = gateway
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.grace_seconds = grace_seconds
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        # Created here, not in __init__: grpc.aio binds the server to the running event loop.
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", self.max_message_bytes),
                ("grpc.max_send_message_length", self.max_message_bytes),
            ]
        )
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(self.gateway), server
        )
        address = listen_address(self.host, self.port)
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise GrpcServerError(f"cannot listen for gRPC on {address}: {exc}") from exc
        if bound == 0:  # older grpcio reports a failed bind this way
            raise GrpcServerError(f"cannot listen for gRPC on {address}")
        await server.start()
        self._server, self.port = server, bound
        log.info("gRPC listening", address=listen_address(self.host, bound))

    async def stop(self) -> None:
        if self._server is None:
            return
        # In-flight calls get the grace period to finish; new ones are refused at once.
        await self._server.stop(self.grace_seconds)
        self._server = None

"""`modelrollout-gateway serve ...`: the gateway process."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from pydantic import ValidationError

from .backends.fetching import ArtifactError
from .grpc.serving import GrpcServer
from .preparing.command import PREPARE_COMMAND, add_prepare_parser, prepare_main
from .serving.app import Background, GatewayApp, Service
from .serving.gateway import Gateway
from .serving.single import SingleVersionError, prepare_single_version
from .settings import GatewaySettings
from .watching import ConfigMapWatcher, kube_client, watch_routing_file


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelrollout-gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve models over the KServe v2 HTTP protocol",
        description="Serve models over KServe v2 (HTTP, optionally gRPC), routing traffic "
        "between their versions by routing table.",
        epilog="Every setting, these and the rest (feedback store, limits, admin token, ...), "
        "can also be given as an environment variable MODELROLLOUT_GATEWAY_<NAME>, e.g. "
        "MODELROLLOUT_GATEWAY_PORT=8000; an option given here wins.",
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="HTTP port (default 8000)")
    serve.add_argument("--grpc-port", type=int, help="also serve KServe v2 gRPC on this port")
    serve.add_argument(
        "--model-repository",
        type=Path,
        help="a Triton-layout repository (<model>/<version>/model.onnx) to serve from",
    )
    serve.add_argument("--model", help="serve one version of this model from --artifact-uri")
    serve.add_argument("--version", type=int, help="the version number it is served as")
    serve.add_argument("--artifact-uri", help="model.onnx by path or s3:// URI")
    serve.add_argument("--artifact-sha256", help="refuse the artifact unless it has this hash")
    serve.add_argument(
        "--routing-file",
        type=Path,
        help="a routing table (JSON) to apply, re-read when it changes",
    )
    serve.add_argument(
        "--watch-configmaps",
        action="store_true",
        default=None,
        help="apply the routing tables the operator writes to ConfigMaps (Kubernetes API)",
    )
    serve.add_argument(
        "--namespace",
        help="the namespace whose routing ConfigMaps are watched (default: the pod's own)",
    )
    serve.add_argument(
        "--prediction-log-dir",
        type=Path,
        help="write the prediction log (JSON Lines, rotated by size) to this directory",
    )
    serve.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="least severe log level written (default warning)",
    )
    add_prepare_parser(commands)
    return parser


def configure_logging(level: str, as_json: bool) -> None:
    numeric = logging.getLevelName(level.upper())
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )


def build_app(settings: GatewaySettings) -> GatewayApp:
    gateway = Gateway(settings)
    background: list[Background] = []
    if settings.routing_file is not None:
        routing_file = settings.routing_file
        background.append(lambda: watch_routing_file(gateway, routing_file))
    if settings.watch_configmaps:
        namespace = settings.namespace
        background.append(lambda: ConfigMapWatcher(gateway, kube_client(settings), namespace).run())
    services: list[Service] = []
    if settings.grpc_port is not None:
        services.append(
            GrpcServer(
                gateway,
                settings.host,
                settings.grpc_port,
                max_message_bytes=settings.max_request_bytes,
            )
        )
    return GatewayApp(gateway, background, services)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.command == PREPARE_COMMAND:
        return prepare_main(arguments)
    overrides = {
        key: value
        for key, value in vars(arguments).items()
        if key != "command" and value is not None
    }
    try:
        settings = GatewaySettings(**overrides)
    except ValidationError as exc:
        print(f"modelrollout-gateway: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    try:
        settings = prepare_single_version(settings)
    except (SingleVersionError, ArtifactError) as exc:
        print(f"modelrollout-gateway: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_json)
    app = build_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

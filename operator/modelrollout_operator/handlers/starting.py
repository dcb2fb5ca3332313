"""Operator start and stop: login, settings, services into memo, the health server."""

from __future__ import annotations

from typing import Any

import kopf

from ..observability import configure_logging
from ..settings import OperatorSettings
from .services import build_services


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """An explicit API server (tests, emulators) from settings; else kopf's own discovery."""
    settings = OperatorSettings()
    if settings.kube_server:
        return kopf.ConnectionInfo(
            server=settings.kube_server,
            insecure=True,
            default_namespace=settings.default_namespace,
        )
    return kopf.login_via_client(**kwargs)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    ours = OperatorSettings()
    configure_logging(ours.log_format, ours.log_level)
    # Keep kopf's bookkeeping in annotations: status belongs to the API models, which forbid
    # unknown fields.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix="modelrollout.dev"
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="modelrollout.dev", key="last-handled-configuration"
    )
    settings.posting.level = 100  # Events come from the handlers themselves, not kopf's logs
    settings.watching.server_timeout = 300
    services = build_services(ours)
    if services.server is not None:
        await services.server.start()
    memo.services = services
    services.ready = True


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    services = getattr(memo, "services", None)
    if services is not None:
        services.ready = False
        await services.close()

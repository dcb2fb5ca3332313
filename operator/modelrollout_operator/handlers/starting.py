"""Operator start and stop: login, settings, services into memo, the health server."""

from __future__ import annotations

from typing import Any

import kopf

from ..k8s import credentials
from ..observability import configure_logging
from ..settings import OperatorSettings
from .services import build_services


@kopf.on.login()
def login(settings: kopf.OperatorSettings, logger: Any, **_: Any) -> kopf.ConnectionInfo:
    """The one source of credentials (k8s/credentials.py), also used by the operator's client.

    kopf calls it again after a 401, which reads a rotated service-account token afresh.
    """
    return credentials.login(OperatorSettings(), kopf_settings=settings, logger=logger)


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

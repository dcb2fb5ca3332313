"""Where the operator's API credentials come from: one login for kopf and for `KubeClient`.

kopf calls `login` through its login handler (and again whenever the API answers 401);
`KubeClient` calls the same function when it starts and whenever the API answers 401. Each call
reads the credentials afresh, so a projected service-account token that the kubelet rotates
keeps working on both paths.

Order: an explicit `MODELROLLOUT_KUBE_SERVER` (local emulators, no TLS checks, no token); else
the pod's service account (`KUBERNETES_SERVICE_HOST`/`_PORT`, IPv6 hosts bracketed, and
`/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}`); else the KUBECONFIG
context. Discovery itself is kopf's (`kopf.login_via_client`, over the official client's loaders):
this module only picks the source and normalises the result.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import kopf

from ..settings import OperatorSettings

NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

_log = logging.getLogger(__name__)


def normalised(info: kopf.ConnectionInfo) -> kopf.ConnectionInfo:
    """The scheme as `Bearer` whatever case the loader used, the token without white space.

    The official client's in-cluster loader stores `"bearer <token>"` (lower case) and keeps a
    trailing newline of the file; a kubeconfig gives `"Bearer <token>"`. The scheme is
    case-insensitive (RFC 7235) but not every proxy knows that.
    """
    if info.token and (info.scheme is None or info.scheme.lower() == "bearer"):
        return dataclasses.replace(info, scheme="Bearer", token=info.token.strip())
    return info


def authorization(info: kopf.ConnectionInfo) -> str | None:
    """The `Authorization` header value for `info` (a token; basic auth is not supported)."""
    if not info.token:
        return None
    return f"{info.scheme or 'Bearer'} {info.token}"


def pod_namespace() -> str | None:
    try:
        return NAMESPACE_FILE.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def login(
    settings: OperatorSettings,
    *,
    kopf_settings: kopf.OperatorSettings | None = None,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
) -> kopf.ConnectionInfo:
    """Fresh credentials: read again on every call (tokens rotate)."""
    if settings.kube_server:
        return kopf.ConnectionInfo(
            server=settings.kube_server.rstrip("/"),
            insecure=True,
            default_namespace=settings.default_namespace,
        )
    info = kopf.login_via_client(
        logger=logger or _log, settings=kopf_settings or kopf.OperatorSettings()
    )
    if info is None:  # the official client is a dependency; this would be a broken install
        raise kopf.LoginError("the kubernetes client library is not installed")
    if info.default_namespace is None:
        info = dataclasses.replace(info, default_namespace=pod_namespace())
    return normalised(info)

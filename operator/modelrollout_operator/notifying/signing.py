"""What goes on the wire for each webhook format, and the signature over it. Pure."""

from __future__ import annotations

import hashlib
import hmac
import json

from ..api.v1alpha1 import WebhookFormat
from .transitions import Notification

#: Header carrying `sha256=<hex HMAC-SHA256 of the raw body>` (as GitHub's X-Hub-Signature-256).
SIGNATURE_HEADER = "X-ModelRollout-Signature"
#: The transition's kind, for receivers that route without parsing the body.
KIND_HEADER = "X-ModelRollout-Event"


def body_of(notification: Notification, fmt: WebhookFormat) -> bytes:
    """The request body: the JSON document (generic), or {"text": ...} (Slack)."""
    if fmt == WebhookFormat.SLACK:
        return json.dumps({"text": notification.text}).encode()
    return json.dumps(notification.document, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: bytes, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of `body` under `secret`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(signature(secret, body), header)


def headers_of(notification: Notification, body: bytes, secret: bytes | None) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "user-agent": "model-rollout-operator",
        KIND_HEADER: notification.kind.value,
    }
    if secret is not None:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    return headers

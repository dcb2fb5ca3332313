"""Notifications of an Experiment's transitions: generic signed webhooks and Slack.

- `transitions.py`: which transitions of a pass are notified, and the JSON document (pure);
- `signing.py`: request bodies per format and the HMAC-SHA256 signature (pure);
- `targets.py`: the receivers of one notification (the Experiment's and the defaults; pure);
- `sending.py`: the background delivery (bounded queue, retries with back-off, counts).
"""

from .sending import Notifier, SecretReader
from .signing import KIND_HEADER, SIGNATURE_HEADER, body_of, signature, verify
from .targets import receivers
from .transitions import Notification, notifications_for, weights_of

__all__ = [
    "KIND_HEADER",
    "SIGNATURE_HEADER",
    "Notification",
    "Notifier",
    "SecretReader",
    "body_of",
    "notifications_for",
    "receivers",
    "signature",
    "verify",
    "weights_of",
]

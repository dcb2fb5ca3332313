"""Errors that map to HTTP answers: the message is what the client reads."""

from __future__ import annotations


class GatewayError(Exception):
    """An error with an HTTP status; its message is safe to show to the client."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(GatewayError):
    status = 400


class NotFound(GatewayError):
    status = 404


class Conflict(GatewayError):
    status = 409


class PayloadTooLarge(GatewayError):
    status = 413


class Unauthorized(GatewayError):
    status = 401


class Unavailable(GatewayError):
    """No backend could answer: the client may retry elsewhere."""

    status = 503


class BackendFailure(Exception):
    """A backend failed to answer (transport, server error, timeout): a fallback reason."""

    def __init__(self, message: str, *, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason

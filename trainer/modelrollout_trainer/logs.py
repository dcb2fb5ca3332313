"""Logging for the trainer: quiet by default, key=value or JSON lines on stderr.

Fields go in `extra={"fields": {...}}` so the message stays a stable event name
and the values stay machine-readable.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

_ROOT = "modelrollout_trainer"


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self._as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = dict(getattr(record, "fields", {}) or {})
        if self._as_json:
            payload = {
                "level": record.levelname.lower(),
                "logger": record.name,
                "event": record.getMessage(),
                **fields,
            }
            return json.dumps(payload, default=str)
        pairs = " ".join(f"{key}={value}" for key, value in fields.items())
        return f"{record.levelname.lower():<7} {record.getMessage()}" + (
            f" {pairs}" if pairs else ""
        )


def configure(verbosity: int = 0, as_json: bool = False) -> None:
    """Send the trainer's records to stderr: warnings by default, info with -v, debug with -vv."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logger = logging.getLogger(_ROOT)
    logger.setLevel(level)
    for handler in list(logger.handlers):
        if getattr(handler, "_modelrollout", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(as_json))
    handler._modelrollout = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False

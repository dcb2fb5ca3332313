"""Status writes as merge patches that also clear fields the new status no longer has."""

from __future__ import annotations

from typing import Any


def status_patch(old: Any, new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch turning `old` into `new`: changed keys, and None for dropped ones."""
    old = old if isinstance(old, dict) else {}
    patch: dict[str, Any] = {k: v for k, v in new.items() if old.get(k) != v}
    for key in old:
        if key not in new and key != "kopf":
            patch[key] = None
    return patch

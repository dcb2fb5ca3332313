"""The object a PATCH would produce, so admission can check the result, not the patch.

JSON merge patches (RFC 7386) and JSON patches (RFC 6902) are applied as the API server does.
Strategic-merge and apply patches are applied as merge patches, which is also what the
emulator behind the front stores (it knows no patch strategies).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import yaml

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"


class PatchError(ValueError):
    """The patch cannot be applied (a bad body, a failed JSON-patch test, an unknown type)."""


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def parse_body(content_type: str, body: bytes) -> Any:
    """The patch document of a request body."""
    kind = content_type.split(";")[0].strip().lower()
    try:
        return yaml.safe_load(body) if kind.endswith("yaml") else json.loads(body or b"null")
    except (ValueError, yaml.YAMLError) as exc:
        raise PatchError(f"the patch body does not parse: {exc}") from exc


def apply(current: Any, content_type: str, patch: Any) -> Any:
    """The object after the patch."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in (MERGE, STRATEGIC, APPLY):
        return merge(current, patch)
    if kind == JSON_PATCH:
        try:
            return jsonpatch.apply_patch(current, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise PatchError(str(exc)) from exc
    raise PatchError(f"unsupported patch type {content_type!r}")

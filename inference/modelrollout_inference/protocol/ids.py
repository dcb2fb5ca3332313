"""Request ids: chosen by clients, echoed in a header, kept for hours: bounded length and charset.

An id must fit a header (no CR/LF or anything else a header cannot carry) and must not let a
client make the gateway keep megabytes per prediction for the join TTL.
"""

from __future__ import annotations

import re

from ..errors import BadRequest

MAX_REQUEST_ID = 128
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
RULE = f"1 to {MAX_REQUEST_ID} characters of A-Z a-z 0-9 . _ : -"


def is_valid_request_id(value: object) -> bool:
    return isinstance(value, str) and _REQUEST_ID.fullmatch(value) is not None


def checked_request_id(value: object, where: str) -> str:
    """`value` when it is a valid id, else a 400 that says what an id may be."""
    if is_valid_request_id(value):
        assert isinstance(value, str)
        return value
    shown = repr(value)[:40] + ("..." if len(repr(value)) > 40 else "")
    raise BadRequest(f"{where} {shown} is not a valid request id ({RULE})")

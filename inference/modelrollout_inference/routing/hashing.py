"""Sticky assignment of a request to a version: pure, no I/O.

A sticky key hashes to a point on [0, 2**64). The baseline occupies the bottom of the range
and candidates stack from the top down, each taking its weight's share. Raising a candidate's
weight only grows its slice downwards, so a user on the candidate at weight w stays there at any
weight w' >= w, and going 10% -> 25% moves exactly the users in [75%, 90%).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

SPACE = 1 << 64


@dataclass(frozen=True, slots=True)
class Slot:
    version: str
    weight: int  # percent, 0..100
    baseline: bool


def key_point(key: str, salt: str = "") -> int:
    """A stable point in [0, 2**64) for a sticky key (salted per model, so models are independent)."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def choose(point: int, slots: Sequence[Slot]) -> str:
    """The version whose slice holds `point`. Weights must sum to 100 with one baseline."""
    if not 0 <= point < SPACE:
        raise ValueError(f"point {point} is outside [0, 2**64)")
    # Candidates from the top down, in table order; exact integer arithmetic (no float edges).
    upper = 100
    scaled = point * 100
    for slot in slots:
        if slot.baseline or slot.weight <= 0:
            continue
        lower = upper - slot.weight
        if scaled >= lower * SPACE:
            return slot.version
        upper = lower
    for slot in slots:
        if slot.baseline:
            return slot.version
    raise ValueError("no baseline among the slots")

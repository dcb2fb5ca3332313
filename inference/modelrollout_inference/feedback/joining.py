"""Predictions remembered until their label arrives, bounded by age and count.

Labels arrive seconds to hours after the answer. Memory is bounded: the oldest predictions are
evicted past `max_entries`, and entries older than `ttl_seconds` expire. A short tombstone list
remembers why an id is gone, so a late label is counted as expired or evicted, not unknown.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ..routing.table import Correctness
from ..tensors import Array


@dataclass(frozen=True, slots=True)
class Prediction:
    model: str
    version: str
    route: str
    output: Array | None  # the output named by `correctness`, None when the model lacks it
    correctness: Correctness
    time: float


class PredictionMemory:
    def __init__(self, *, max_entries: int, ttl_seconds: float) -> None:
        if max_entries <= 0 or ttl_seconds <= 0:
            raise ValueError("max_entries and ttl_seconds must be positive")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._live: OrderedDict[str, Prediction] = OrderedDict()
        self._gone: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._live)

    def remember(self, request_id: str, prediction: Prediction) -> None:
        self._live[request_id] = prediction
        self._live.move_to_end(request_id)
        self._expire(prediction.time)
        while len(self._live) > self.max_entries:
            old_id, _ = self._live.popitem(last=False)
            self._bury(old_id, "evicted")

    def take(self, request_id: str, now: float) -> tuple[Prediction | None, str]:
        """The prediction for a label (removed: one label per prediction), or why there is none."""
        self._expire(now)
        prediction = self._live.pop(request_id, None)
        if prediction is not None:
            return prediction, "joined"
        reason = self._gone.pop(request_id, None)
        return None, reason or "unknown"

    def _expire(self, now: float) -> None:
        horizon = now - self.ttl_seconds
        # Insertion order is time order, so only the head can be stale.
        while self._live:
            request_id, oldest = next(iter(self._live.items()))
            if oldest.time >= horizon:
                break
            self._live.popitem(last=False)
            self._bury(request_id, "expired")

    def _bury(self, request_id: str, reason: str) -> None:
        self._gone[request_id] = reason
        while len(self._gone) > self.max_entries:
            self._gone.popitem(last=False)

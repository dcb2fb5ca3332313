"""Applied routing tables: an immutable snapshot per model, swapped atomically.

A request reads the snapshot once and keeps it; a table change builds the next snapshot
(loading backends first) and replaces the reference, so requests in flight never see a
half-applied table and nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backends.base import ModelBackend
from ..routing.hashing import Slot
from ..routing.table import RoutingTable


@dataclass(frozen=True, slots=True)
class AppliedTable:
    table: RoutingTable
    backends: dict[str, ModelBackend]  # version -> backend
    slots: tuple[Slot, ...]
    routes: dict[str, str]  # version -> "stable" | "candidate"
    baseline: str
    source: str

    @classmethod
    def build(
        cls, table: RoutingTable, backends: dict[str, ModelBackend], source: str
    ) -> AppliedTable:
        return cls(
            table=table,
            backends=backends,
            slots=tuple(Slot(v.version, v.weight, v.role == "baseline") for v in table.versions),
            routes={
                v.version: "stable" if v.role == "baseline" else "candidate" for v in table.versions
            },
            baseline=table.baseline.version,
            source=source,
        )

    def answer_order(self, chosen: str) -> list[str]:
        """Who answers when `chosen` cannot: the baseline, then other serving versions."""
        order = [chosen]
        if self.baseline not in order:
            order.append(self.baseline)
        order += [v.version for v in self.table.versions if v.weight > 0 and v.version not in order]
        return order

    def weights(self) -> list[tuple[str, str, float]]:
        """(version, route, weight) for the traffic-weight gauge; the shadow share as `shadow`."""
        weights = [
            (v.version, self.routes[v.version], float(v.weight)) for v in self.table.versions
        ]
        shadow = self.table.shadow
        if shadow is not None:
            weights.append((shadow.version, "shadow", float(shadow.percent)))
        return weights

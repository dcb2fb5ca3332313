"""The machine-readable outcome of a demo run (`--summary-json`): what CI checks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    experiment: str
    baseline: str  # version numbers
    candidate: str
    expected: str  # the phase the scenario must end in: RolledBack or Succeeded
    actual: str
    steps_walked: list[int]  # candidate weights applied, in order
    total_steps: int
    final_weights: dict[str, int]  # as the gateway reports them at the end
    accuracy: dict[str, float | None]  # last measured, per version
    samples: dict[str, int]
    seconds: float
    message: str = ""
    answered: dict[str, int] = field(default_factory=dict)  # client-side answers per version

    @property
    def ok(self) -> bool:
        return self.actual == self.expected


@dataclass(frozen=True)
class DemoSummary:
    metrics_source: str  # "prometheus" or "gateway-counters"
    fast: bool
    workdir: str
    timeline: str | None
    scenarios: Sequence[ScenarioResult]
    timings: dict[str, float]

    @property
    def ok(self) -> bool:
        return bool(self.scenarios) and all(s.ok for s in self.scenarios)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "metricsSource": self.metrics_source,
            "fast": self.fast,
            "workdir": self.workdir,
            "timeline": self.timeline,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "scenarios": [_camel(asdict(s)) | {"ok": s.ok} for s in self.scenarios],
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


def _camel(data: dict[str, Any]) -> dict[str, Any]:
    def camel(key: str) -> str:
        head, *rest = key.split("_")
        return head + "".join(part.title() for part in rest)

    return {camel(k): v for k, v in data.items()}

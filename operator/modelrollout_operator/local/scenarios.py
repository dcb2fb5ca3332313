"""One demo scenario: today's routing, labelled traffic, the driver, and what came of it."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..api.v1alpha1 import Experiment
from ..metrics import MetricsProvider
from ..rollout import EmitEvent, SetTraffic
from ..routing import ExperimentRef, VersionRef
from .configuring import Manifests
from .counters import GatewayCountersProvider
from .loading import LoadGenerator, LoadProfile, TrafficSample
from .printing import progress_line, worth_printing
from .stepping import Driver, Outcome
from .summary import ScenarioResult
from .timeline import Tick
from .traffic import AdminRouter


@dataclass(frozen=True)
class Scenario:
    name: str
    experiment: str  # an Experiment of examples/demo
    expected: str  # the phase it must end in


SCENARIOS = (
    Scenario("1: bad candidate", "scorer-v3-canary", "RolledBack"),
    Scenario("2: good candidate", "scorer-v2-canary", "Succeeded"),
)


@dataclass
class ScenarioRunner:
    """What every scenario shares: the versions, the traffic, the gateway and the clock."""

    manifests: Manifests
    sample: TrafficSample
    gateway_url: str
    provider: MetricsProvider
    router: AdminRouter
    load: LoadProfile
    deadline: float  # seconds a scenario may take
    clock_zero: float  # time.monotonic() when the demo started
    say: Callable[[str], None] = print
    snapshots: Path | None = None  # DIR for `modelrollout get experiment NAME --local DIR`

    async def close(self) -> None:
        await self.router.close()
        close = getattr(self.provider, "close", None)
        if close is not None:
            await close()

    def _ref(self, name: str) -> VersionRef:
        # Trained into the repository the gateway serves: embedded ONNX Runtime, Ready.
        version = self.manifests.version(name).spec.version
        return VersionRef(name=name, version=str(version), ready=True)

    def _on_event(self, event: EmitEvent) -> None:
        mark = "!" if event.type == "Warning" else "*"
        self.say(f"  {mark} {event.reason}: {event.message}")

    def _printer(self) -> Callable[[Tick], None]:
        previous: list[Tick] = []

        def show(tick: Tick) -> None:
            if worth_printing(previous[-1] if previous else None, tick):
                self.say(progress_line(tick))
            previous[:] = [tick]

        return show

    async def run(
        self, scenario: Scenario, experiment: Experiment
    ) -> tuple[ScenarioResult, Outcome]:
        spec = experiment.spec
        baseline, candidate = self._ref(spec.baseline), self._ref(spec.candidate)
        name = str(experiment.metadata.get("name"))
        self.say("")
        self.say(
            f"== scenario {scenario.name}: {name}, v{baseline.version} -> v{candidate.version} "
            f"(expected: {scenario.expected})"
        )
        if self.snapshots is not None:
            self.say(
                f"   live view: modelrollout get experiment {name} "
                f"--local {self.snapshots.parent} --watch"
            )
        # Today's state: the baseline answers everything before the experiment starts.
        await self.router.apply(
            ExperimentRef(name, "default"),
            spec,
            SetTraffic(candidate_weight=0),
            baseline,
            candidate,
        )
        load = LoadGenerator(
            self.gateway_url,
            spec.model,
            self.sample,
            self.load,
            sticky_header=spec.routing.sticky_by or "x-user-id",
            seed=zlib.crc32(name.encode()),
        )
        if isinstance(self.provider, GatewayCountersProvider):
            await self.provider.sample(datetime.now(UTC))  # the counters before any traffic
        begun = time.monotonic()
        await load.start()
        driver = Driver(
            experiment,
            baseline,
            candidate,
            self.provider,
            self.router,
            clock_zero=self.clock_zero,
            on_tick=self._printer(),
            on_event=self._on_event,
            snapshots=self.snapshots,
        )
        try:
            outcome = await driver.run(self.deadline)
        finally:
            stats = await load.stop()
        seconds = time.monotonic() - begun
        final_weights = await self.router.weights(spec.model, (baseline.version, candidate.version))
        last = last_figures(outcome.ticks)
        actual = outcome.status.phase.value + (" (deadline)" if outcome.timed_out else "")
        result = ScenarioResult(
            name=scenario.name,
            experiment=name,
            baseline=baseline.version,
            candidate=candidate.version,
            expected=scenario.expected,
            actual=actual,
            steps_walked=distinct_steps(outcome.weights_applied),
            total_steps=outcome.status.total_steps,
            final_weights=final_weights,
            accuracy={v: f[0] for v, f in last.items()},
            samples={v: f[1] for v, f in last.items()},
            seconds=seconds,
            message=outcome.status.message,
            answered=dict(stats.answered),
        )
        return result, outcome


def distinct_steps(weights: Sequence[int]) -> list[int]:
    """The candidate weights held, in order: repeats (a re-stated weight) and 0 dropped."""
    out: list[int] = []
    for w in weights:
        if w > 0 and (not out or out[-1] != w):
            out.append(w)
    return out


def last_figures(ticks: Sequence[Tick]) -> dict[str, tuple[float | None, int]]:
    """Each version's last measured accuracy and its sample count."""
    out: dict[str, tuple[float | None, int]] = {}
    for tick in ticks:
        for version, figures in tick.figures.items():
            if figures.accuracy is not None:
                out[version] = (figures.accuracy, figures.samples)
    return out

"""`modelrollout demo`: the whole loop on one machine, a bad candidate rolled back and a good
one promoted, from the same YAML a cluster user applies."""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from types import FrameType

from ..api.v1alpha1 import Experiment, ModelVersion
from ..errors import ModelRolloutError
from ..metrics import MetricsProvider, PrometheusProvider
from .configuring import Manifests, load_manifests, shorten
from .counters import GatewayCountersProvider
from .loading import LoadProfile, read_sample
from .plotting import draw_timeline
from .preparing import prepare
from .printing import summary_table
from .scenarios import SCENARIOS, ScenarioRunner
from .servers import find_prometheus, start_gateway, start_prometheus
from .summary import DemoSummary, ScenarioResult
from .supervising import Supervisor
from .timeline import Tick
from .traffic import AdminRouter

#: What the demo runs besides this package, and the extra that installs it.
REQUIREMENTS = {
    "modelrollout_trainer": "the trainer (pip install 'model-rollout[trainer]')",
    "modelrollout_inference": "the gateway (pip install 'model-rollout[inference]')",
    "torch": "the trainer's PyTorch (pip install 'model-rollout[trainer]')",
    "onnxruntime": "ONNX Runtime (pip install 'model-rollout[inference]')",
    "uvicorn": "the gateway's server (pip install 'model-rollout[inference]')",
    "matplotlib": "the timeline plot (pip install 'model-rollout[demo]')",
}


class MissingRequirement(ModelRolloutError, RuntimeError):
    """Something the demo starts is not installed."""


def preflight() -> None:
    """Fail before any work when a component is missing (looked up, not imported)."""
    missing = [what for name, what in REQUIREMENTS.items() if find_spec(name) is None]
    if missing:
        raise MissingRequirement("missing: " + "; ".join(missing))


@dataclass(frozen=True)
class DemoOptions:
    examples: Path
    workdir: Path | None = None
    fast: bool = False
    summary_json: Path | None = None
    timeline: Path | None = None
    rate: float = 150.0  # requests per second
    feedback_delay: float = 1.0
    metrics: str = "auto"  # auto | prometheus | counters
    scenario_timeout: float | None = None  # seconds; default 240, 120 with --fast
    scenario: str = "default"  # default: both rollouts | continuous: the Model's loop

    @property
    def time_factor(self) -> float:
        return 0.5 if self.fast else 1.0

    @property
    def deadline(self) -> float:
        if self.scenario_timeout is not None:
            return self.scenario_timeout
        return 120.0 if self.fast else 240.0

    @property
    def row_scale(self) -> float:
        return 0.5 if self.fast else 1.0


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every `finally`


def metrics_provider(
    supervisor: Supervisor,
    choice: str,
    gateway_url: str,
    model: str,
    workdir: Path,
    say: Callable[[str], None],
) -> tuple[MetricsProvider, str]:
    """What the analysis reads, and its name: a real Prometheus scraping the gateway when one
    is installed (`--metrics prometheus` insists on it), else the gateway's own counters."""
    binary = find_prometheus() if choice != "counters" else None
    if choice == "prometheus" and binary is None:
        raise MissingRequirement("--metrics prometheus: no `prometheus` binary on PATH")
    if binary is not None:
        prometheus = start_prometheus(supervisor, binary, gateway_url, workdir)
        say(f"metrics: a real Prometheus on {prometheus.url} scraping the gateway every 1s")
        return PrometheusProvider(prometheus.url), "prometheus"
    why = "--metrics counters" if choice == "counters" else "no `prometheus` on PATH"
    say(f"metrics: the gateway's own /metrics counters ({why})")
    return GatewayCountersProvider(gateway_url, model), "gateway-counters"


def run_demo(options: DemoOptions, say: Callable[[str], None] = print) -> int:
    """Run both scenarios; 0 only when each ends as it should."""
    preflight()
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="modelrollout-demo-") as tmp:
            workdir = (options.workdir or Path(tmp)).resolve()
            workdir.mkdir(parents=True, exist_ok=True)
            if options.scenario == "continuous":
                from .continuous import run_continuous, write_summary

                result = run_continuous(options, workdir, started, say)
                if options.summary_json is not None:
                    write_summary(options.summary_json, result)
                    say(f"summary written to {options.summary_json}")
                return 0 if result["ok"] else 1
            summary = _run(options, workdir, started, say)
            if options.summary_json is not None:
                summary.write(options.summary_json)
                say(f"summary written to {options.summary_json}")
            return 0 if summary.ok else 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def timeline_path(options: DemoOptions) -> Path:
    """Where the plot goes: --timeline, else the kept --workdir, else the current directory.

    Never the temporary work dir: it is deleted when the demo ends, and the path is printed.
    """
    if options.timeline is not None:
        return options.timeline
    return (options.workdir or Path.cwd()) / "demo-timeline.png"


def _experiments(manifests: Manifests, fast_factor: float) -> list[Experiment]:
    chosen = []
    for scenario in SCENARIOS:
        experiment = manifests.experiment(scenario.experiment)
        if fast_factor < 1:
            experiment = experiment.model_copy(
                update={"spec": shorten(experiment.spec, fast_factor)}
            )
        chosen.append(experiment)
    return chosen


def _versions(manifests: Manifests, experiments: Sequence[Experiment]) -> list[ModelVersion]:
    names = sorted({n for e in experiments for n in (e.spec.baseline, e.spec.candidate)})
    return [manifests.version(n) for n in names]


def _run(
    options: DemoOptions, workdir: Path, started: float, say: Callable[[str], None]
) -> DemoSummary:
    timings: dict[str, float] = {}
    manifests = load_manifests(options.examples)
    experiments = _experiments(manifests, options.time_factor)
    versions = _versions(manifests, experiments)
    kept = "" if options.workdir else " (temporary: removed at exit; keep it with --workdir)"
    say(f"model-rollout demo: work dir {workdir}{kept}{' (--fast)' if options.fast else ''}")
    say(
        f"configuration: {len(versions)} ModelVersions and {len(experiments)} Experiments "
        f"from {options.examples}"
    )
    with Supervisor(workdir / "logs") as supervisor:
        prepared = prepare(versions, workdir, supervisor, row_scale=options.row_scale, say=say)
        for trained in prepared.trained.values():
            say(
                f"  {trained.name}: version {trained.version}, offline test accuracy "
                f"{_fmt(trained.test_accuracy)}"
            )
        timings["prepareSeconds"] = time.monotonic() - started
        gateway = start_gateway(supervisor, prepared.repository)
        say(f"gateway (embedded ONNX Runtime) on {gateway.url}")
        provider, source = metrics_provider(
            supervisor, options.metrics, gateway.url, experiments[0].spec.model, workdir, say
        )
        timings["startSeconds"] = time.monotonic() - started - timings["prepareSeconds"]
        runner = ScenarioRunner(
            manifests=manifests,
            sample=read_sample(prepared.traffic),
            gateway_url=gateway.url,
            provider=provider,
            router=AdminRouter(gateway.url, admin_token=gateway.admin_token),
            load=LoadProfile(rate=options.rate, feedback_delay=options.feedback_delay),
            deadline=options.deadline,
            clock_zero=started,
            say=say,
            snapshots=workdir / "experiments",
        )
        results, ticks = asyncio.run(_scenarios(runner, experiments, supervisor))
    timeline = timeline_path(options)
    if ticks:
        draw_timeline(ticks, timeline, "modelrollout demo: weight and accuracy per version")
    timings["totalSeconds"] = time.monotonic() - started
    summary = DemoSummary(
        metrics_source=source,
        fast=options.fast,
        workdir=str(workdir),
        timeline=str(timeline) if ticks else None,
        scenarios=results,
        timings=timings,
    )
    say("")
    say(summary_table(results))
    say("")
    say(f"timeline plot: {timeline}")
    say(
        f"{'OK' if summary.ok else 'FAILED'}: "
        f"{sum(r.ok for r in results)}/{len(results)} scenarios ended as expected "
        f"in {timings['totalSeconds']:.0f}s"
    )
    return summary


async def _scenarios(
    runner: ScenarioRunner, experiments: Sequence[Experiment], supervisor: Supervisor
) -> tuple[list[ScenarioResult], list[Tick]]:
    results: list[ScenarioResult] = []
    ticks: list[Tick] = []
    try:
        for scenario, experiment in zip(SCENARIOS, experiments, strict=True):
            supervisor.check_alive()
            result, outcome = await runner.run(scenario, experiment)
            results.append(result)
            ticks.extend(outcome.ticks)
    finally:
        await runner.close()
    return results, ticks


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"

"""`modelrollout demo --scenario continuous`: a Model that retrains itself from its feedback.

scorer-v1 serves; the live traffic drifts (the synthetic generator's segment shift, labels
following the new truth) and its accuracy falls; the Model's loop (`rollout/learning.py`, the
operator's own pure decisions) fires on its trigger, builds the dataset from the gateway's
prediction log joined with the feedback (the real `modelrollout-trainer build-dataset`), trains
the next version with the real trainer, canaries it against the one in service with the same
engine (`stepping.Driver`) and promotes it; accuracy recovers.

Accuracy is measured from the gateway's own feedback counters (what the analysis reads), per
version, over windows of equal length: v1 before the drift, v1 on drifted traffic, and the
promoted version on drifted traffic after its promotion.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog
import yaml

from ..api.v1alpha1 import Experiment, HistoryEntry, Model, ModelStatus, ModelVersion
from ..errors import ModelRolloutError
from ..metrics import MetricsProvider
from ..resources.training import dataset_build_args
from ..rollout import EmitEvent, SetTraffic
from ..rollout.learning import (
    Context,
    Counts,
    CreateExperiment,
    CreateVersion,
    DeleteVersion,
    ExperimentFacts,
    VersionFacts,
    decide,
    experiment_body,
)
from ..routing import ExperimentRef, VersionRef
from .configuring import Manifests, local_dataset_path, shorten, trainer_argv
from .counters import GatewayCountersProvider
from .exposition import Snapshot
from .loading import LoadGenerator, LoadProfile, TrafficSample
from .preparing import EXIT_GATE_FAILED, TRAINER, last_json_line
from .stepping import Driver
from .supervising import Supervisor
from .timeline import Tick
from .traffic import AdminRouter

log = structlog.get_logger(__name__)

WINDOW_SECONDS = 15.0  # each accuracy measurement (pre-drift, drifted, recovered)
PASS_SECONDS = 1.0  # how often the loop looks (the operator's requeue, shortened)


class ContinuousError(ModelRolloutError, RuntimeError):
    """The continuous-learning scenario cannot run (no Model in the examples, a failed step)."""


def load_model(directory: Path) -> Model:
    """The one Model of the demo's examples."""
    for path in sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")]):
        for doc in yaml.safe_load_all(path.read_text("utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "Model":
                return Model.model_validate(doc)
    raise ContinuousError(f"no Model in {directory}: --scenario continuous needs one")


@dataclass(frozen=True)
class Window:
    """One version's labelled answers between two scrapes."""

    version: str
    labels: int
    correct: int
    start: float  # seconds since the demo started
    end: float

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labels if self.labels else None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "accuracy": self.accuracy, "labels": self.labels,
                "start": round(self.start, 1), "end": round(self.end, 1)}  # fmt: skip


def window_of(version: str, earlier: Snapshot, later: Snapshot, start: float, end: float) -> Window:
    delta = later.of(version).minus(earlier.of(version))
    n = round(delta.feedback)
    return Window(version, n, min(round(delta.correct), n), start, end)


@dataclass
class Trace:
    """What the plot and the summary show: samples, marks and decisions, in demo seconds."""

    points: list[tuple[float, dict[str, int], dict[str, float]]] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)


@dataclass
class ContinuousRunner:
    model: Model
    manifests: Manifests
    workdir: Path
    repository: Path
    clean: TrafficSample
    drifted: TrafficSample
    gateway_url: str
    provider: MetricsProvider  # what the canary's analysis reads
    counters: GatewayCountersProvider  # the loop's counts and the windows' accuracy
    router: AdminRouter
    supervisor: Supervisor
    load: LoadProfile
    clock_zero: float
    fast: bool = False
    deadline: float = 120.0  # seconds for the loop to retrain and roll out after the drift
    say: Callable[[str], None] = print
    trace: Trace = field(default_factory=Trace)
    _history: list[tuple[float, Snapshot]] = field(default_factory=list)
    _built: dict[str, dict[str, Any]] = field(default_factory=dict)  # build-dataset results

    def now(self) -> float:
        return time.monotonic() - self.clock_zero

    def mark(self, label: str) -> None:
        self.trace.marks.append((self.now(), label))

    def tell(self, line: str) -> None:
        self.trace.decisions.append(f"{self.now():6.1f}s {line}")
        self.say(f"  [{self.now():5.1f}s] {line}")

    async def scrape(self) -> Snapshot:
        snapshot = await self.counters.scrape()
        at = self.now()
        self._history.append((at, snapshot))
        weights = _weights(self.router)
        accuracy: dict[str, float] = {}
        earlier = self._at_or_before(at - 5.0)
        if earlier is not None:
            for version in weights:
                w = window_of(version, earlier[1], snapshot, earlier[0], at)
                if w.accuracy is not None and w.labels >= 30:
                    accuracy[version] = w.accuracy
        self.trace.points.append((at, weights, accuracy))
        return snapshot

    def _at_or_before(self, at: float) -> tuple[float, Snapshot] | None:
        chosen = None
        for item in self._history:
            if item[0] <= at:
                chosen = item
        return chosen

    async def measure(self, version: str, seconds: float) -> Window:
        start_at, start = self.now(), await self.scrape()
        end_at = start_at + seconds
        while self.now() < end_at:
            await asyncio.sleep(min(PASS_SECONDS, max(0.05, end_at - self.now())))
            await self.scrape()
        end = self._history[-1]
        return window_of(version, start, end[1], start_at, end[0])

    async def run(self) -> dict[str, Any]:
        spec = self.model.spec
        name = str(self.model.metadata.get("name"))
        v1 = self.manifests.version(f"{name}-v1")
        first = str(v1.metadata["name"])
        ctx = Context(name=name, namespace="default", trainer_image="model-rollout-trainer:local",
                      created_at=datetime.now(UTC))  # fmt: skip
        versions = {first: VersionFacts(first, 1, "Ready")}  # prebuilt: adopted by the loop
        refs = {first: VersionRef(first, "1", ready=True)}
        experiments: dict[str, ExperimentFacts] = {}
        status = ModelStatus()
        serving_spec = _spec_for(ctx, self.model, first)
        await self.router.apply(ExperimentRef(f"{name}-serving", "default"), serving_spec,
                                SetTraffic(candidate_weight=0), refs[first],
                                VersionRef("none", "0", ready=False))  # fmt: skip
        gen = LoadGenerator(self.gateway_url, name, self.clean, self.load,
                            sticky_header=spec.experiment.routing.sticky_by or "x-user-id",
                            seed=13)  # fmt: skip
        await gen.start()
        sampler = asyncio.create_task(self._sample_while())  # the plot, during the long steps
        try:
            self.say("")
            self.say(f"== scenario continuous: Model {name}, live data drifts, the loop retrains")
            status = await self._pass(ctx, status, versions, experiments, refs)  # adopts v1
            await asyncio.sleep(2.0)  # the first answers and labels
            pre = await self.measure("1", WINDOW_SECONDS)
            self.tell(f"pre-drift: v1 live accuracy {_pct(pre.accuracy)} ({pre.labels} labels)")
            gen.switch(self.drifted)
            self.mark("drift")
            self.tell("the live data drifts: segment ctx_0 < 0.35 now answers the other way")
            await asyncio.sleep(self.load.feedback_delay + 1.0)  # labels of drifted rows
            drifted = await self.measure("1", WINDOW_SECONDS)
            self.tell(f"drifted: v1 live accuracy {_pct(drifted.accuracy)} "
                      f"({drifted.labels} labels)")  # fmt: skip
            give_up = time.monotonic() + self.deadline
            promoted: str | None = None
            while time.monotonic() < give_up:
                status = await self._pass(ctx, status, versions, experiments, refs)
                if status.in_service and status.in_service != first:
                    promoted = status.in_service
                    break
                await asyncio.sleep(PASS_SECONDS)
            recovered = None
            if promoted is not None:
                await asyncio.sleep(self.load.feedback_delay + 1.0)
                recovered = await self.measure(str(versions[promoted].version),
                                               WINDOW_SECONDS)  # fmt: skip
                self.tell(f"recovered: {promoted} live accuracy {_pct(recovered.accuracy)} "
                          f"({recovered.labels} labels) on the drifted traffic")  # fmt: skip
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            stats = await gen.stop()
        entry = next((e for e in reversed(status.history) if e.version > 1), None)
        return {
            "model": name,
            "preDrift": pre.to_json(),
            "drifted": drifted.to_json(),
            "recovered": recovered.to_json() if recovered is not None else None,
            "inService": status.in_service,
            "promoted": promoted is not None,
            "retrained": _entry_json(entry, self._built.get(entry.name) if entry else None),
            "history": [_entry_json(e, self._built.get(e.name)) for e in status.history],
            "decisions": list(self.trace.decisions),
            "answered": dict(stats.answered),
        }

    async def _pass(
        self,
        ctx: Context,
        status: ModelStatus,
        versions: dict[str, VersionFacts],
        experiments: dict[str, ExperimentFacts],
        refs: dict[str, VersionRef],
    ) -> ModelStatus:
        """One turn of the operator's Model handler: observe, decide (pure), act."""
        spec = self.model.spec
        counts = await self._counts(status, ctx)
        decision = decide(ctx, spec, status, list(versions.values()), list(experiments.values()),
                          counts, datetime.now(UTC))  # fmt: skip
        status = decision.status
        # Events first: the decision is told before its (long) consequences run.
        ordered = sorted(decision.actions, key=lambda a: not isinstance(a, EmitEvent))
        for action in ordered:
            if isinstance(action, EmitEvent):
                self.tell(f"{'!' if action.type == 'Warning' else '*'} {action.reason}: "
                          f"{action.message}")  # fmt: skip
            elif isinstance(action, CreateVersion):
                self.mark(f"retrain v{action.body['spec']['version']}")
                versions[action.name] = await self._train(action)
                facts = versions[action.name]
                refs[action.name] = VersionRef(action.name, str(facts.version),
                                               ready=facts.phase == "Ready")  # fmt: skip
                self.mark(f"v{facts.version} {facts.phase}")
            elif isinstance(action, CreateExperiment):
                experiments[action.name] = await self._rollout(action, refs)
            elif isinstance(action, DeleteVersion):
                self.tell(f"  (would delete {action.name}: beyond the history limit)")
        return status

    async def _counts(self, status: ModelStatus, ctx: Context) -> Counts:
        snapshot = await self.scrape()
        since = status.last_training_at or ctx.created_at
        assert since is not None
        seconds = (datetime.now(UTC) - since).total_seconds()
        earlier = self._at_or_before(self.now() - seconds) or self._history[0]
        rows = sum(snapshot.of(v).feedback - earlier[1].of(v).feedback for v in snapshot.versions)
        return Counts(labelled_rows=rows)

    async def _train(self, action: CreateVersion) -> VersionFacts:
        """The training Job, locally: `build-dataset` (its first step), then `train`."""
        version = ModelVersion.model_validate(action.body)
        training = version.spec.training
        assert training is not None and training.build is not None
        build = training.build
        local = training.model_copy(update={
            "dataset": str(local_dataset_path(training.dataset, self.workdir)),
            "build": build.model_copy(update={
                "base": str(local_dataset_path(build.base, self.workdir)) if build.base else None,
                "prediction_log": str(local_dataset_path(build.prediction_log, self.workdir))
                if build.prediction_log else None,
            }),
        })  # fmt: skip
        Path(local.dataset).parent.mkdir(parents=True, exist_ok=True)
        build_argv = [*TRAINER, *dataset_build_args(version.spec, local)]
        self.tell(f"building the dataset: modelrollout-trainer {' '.join(build_argv[3:])}")
        (code, output), = await asyncio.to_thread(
            self.supervisor.run, [(f"build-{action.name}", build_argv)], timeout=300.0
        )  # fmt: skip
        built = last_json_line(output) or {}
        number = int(version.spec.version)
        if code != 0:
            self.tell(f"! the dataset build failed ({code}): {built.get('message', '')}")
            return VersionFacts(action.name, number, "Failed", "dataset build failed",
                                managed=True)  # fmt: skip
        self._built[action.name] = built
        rows = int(built.get("rows", 0))
        self.tell(f"dataset: {rows} rows, {built.get('rows_labelled', '?')} of them labelled "
                  "rows from the prediction log")  # fmt: skip
        mv = version.model_copy(update={"spec": version.spec.model_copy(
            update={"training": training})})  # fmt: skip
        argv = [*TRAINER, *trainer_argv(mv, Path(local.dataset), self.repository),
                "--threads", "1", "--quiet"]  # fmt: skip
        self.tell(f"training {action.name} with the real trainer")
        (code, output), = await asyncio.to_thread(
            self.supervisor.run, [(f"train-{action.name}", argv)], timeout=600.0
        )  # fmt: skip
        result = last_json_line(output) or {}
        metrics = {k: float(v) for k, v in result.get("metrics", {}).get("test", {}).items()
                   if isinstance(v, int | float)}  # fmt: skip
        if code == EXIT_GATE_FAILED:
            phase, message = "Rejected", "; ".join(result.get("gate", {}).get("reasons", []))
        elif code != 0:
            phase, message = "Failed", f"the trainer exited {code}"
        else:
            phase, message = "Ready", ""
        self.tell(f"{action.name}: {phase}, offline test accuracy "
                  f"{_pct(metrics.get('accuracy'))}")  # fmt: skip
        return VersionFacts(action.name, number, phase, message, metrics, managed=True,
                            dataset_rows=rows)  # fmt: skip

    async def _rollout(
        self, action: CreateExperiment, refs: dict[str, VersionRef]
    ) -> ExperimentFacts:
        experiment = Experiment.model_validate(action.body)
        if self.fast:
            experiment = experiment.model_copy(update={"spec": shorten(experiment.spec, 0.5)})
        spec = experiment.spec
        self.mark(f"canary {spec.candidate}")
        last_weight = [-1]

        def on_tick(tick: Tick) -> None:
            if tick.weight != last_weight[0] and tick.weight > 0 and tick.event is None:
                self.mark(f"{tick.weight}%")
                last_weight[0] = tick.weight
            self.trace.ticks.append(tick)

        def on_event(event: EmitEvent) -> None:
            self.tell(f"{'!' if event.type == 'Warning' else '*'} {spec.candidate}: "
                      f"{event.reason}: {event.message}")  # fmt: skip

        if isinstance(self.provider, GatewayCountersProvider):
            await self.provider.sample(datetime.now(UTC))
        driver = Driver(experiment, refs[spec.baseline], refs[spec.candidate], self.provider,
                        self.router, clock_zero=self.clock_zero, on_tick=on_tick,
                        on_event=on_event)  # fmt: skip
        outcome = await driver.run(self.deadline)
        phase = outcome.status.phase.value
        self.mark("promoted" if outcome.promoted else phase)
        return ExperimentFacts(action.name, spec.baseline, spec.candidate, phase,
                               outcome.status.message or "")  # fmt: skip

    async def _sample_while(self) -> None:
        while True:
            await asyncio.sleep(PASS_SECONDS)
            try:
                await self.scrape()
            except httpx.HTTPError as error:  # a missed point on the plot, nothing more
                log.debug("scrape failed", error=str(error))


def _spec_for(ctx: Context, model: Model, baseline: str) -> Any:
    body = experiment_body(ctx, model.spec, 1, baseline, f"{ctx.name}-none")
    return Experiment.model_validate(body).spec


def _weights(router: AdminRouter) -> dict[str, int]:
    if not router.applied:
        return {}
    return {str(r["version"]): int(r["weight"]) for r in router.applied[-1].get("versions", [])}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _entry_json(entry: HistoryEntry | None, built: dict[str, Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    data: dict[str, Any] = entry.model_dump(by_alias=True, exclude_none=True, mode="json")
    if built is not None:
        data["build"] = built
        data["logRows"] = int(built.get("rows_labelled", 0))
    return data


def write_summary(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def run_continuous(
    options: Any, workdir: Path, started: float, say: Callable[[str], None]
) -> dict[str, Any]:
    """The whole scenario: v1 trained and served, the drift, the loop's cycle, the summary.

    `options` is the demo's `DemoOptions` (fast, rate, feedback delay, metrics, timeline)."""
    from .configuring import load_manifests
    from .demo import metrics_provider, timeline_path
    from .loading import read_sample
    from .plotting import draw_cycle
    from .preparing import prepare
    from .recipes import DRIFTED_TRAFFIC_FILE, recipe_for
    from .servers import start_gateway

    timings: dict[str, float] = {}
    manifests = load_manifests(options.examples)
    model = load_model(options.examples)
    name = str(model.metadata.get("name"))
    spec = model.spec
    v1 = manifests.version(f"{name}-v1")
    kept = "" if options.workdir else " (temporary: removed at exit; keep it with --workdir)"
    say(f"model-rollout demo --scenario continuous: work dir {workdir}{kept}"
        f"{' (--fast)' if options.fast else ''}")  # fmt: skip
    say(f"configuration: Model {name} and its first version {v1.metadata['name']} from "
        f"{options.examples}")  # fmt: skip
    with Supervisor(workdir / "logs") as supervisor:
        prepared = prepare([v1], workdir, supervisor, row_scale=options.row_scale, say=say)
        extra = [local_dataset_path(spec.data.base, workdir)] if spec.data.base else []
        extra.append(prepared.traffic.parent / DRIFTED_TRAFFIC_FILE)
        jobs = [(f"synth-{p.stem}", [*TRAINER, *recipe_for(p).argv(p, options.row_scale)])
                for p in extra]  # fmt: skip
        for (job, _), (code, output) in zip(jobs, supervisor.run(jobs, timeout=300.0),
                                            strict=True):  # fmt: skip
            if code != 0:
                raise ContinuousError(f"{job} failed with exit code {code}:\n{output[-2000:]}")
        for trained in prepared.trained.values():
            say(f"  {trained.name}: version {trained.version}, offline test accuracy "
                f"{_pct(trained.test_accuracy)}")  # fmt: skip
        timings["prepareSeconds"] = time.monotonic() - started
        log_dir = local_dataset_path(spec.data.prediction_log.uri, workdir) \
            if spec.data.prediction_log else workdir / "predictions"  # fmt: skip
        gateway = start_gateway(supervisor, prepared.repository, prediction_log=log_dir)
        say(f"gateway (embedded ONNX Runtime) on {gateway.url}, prediction log in {log_dir}")
        counters = GatewayCountersProvider(gateway.url, name)
        provider, source = metrics_provider(
            supervisor, options.metrics, gateway.url, name, workdir, say
        )
        runner = ContinuousRunner(
            model=model,
            manifests=manifests,
            workdir=workdir,
            repository=prepared.repository,
            clean=read_sample(prepared.traffic),
            drifted=read_sample(prepared.traffic.parent / DRIFTED_TRAFFIC_FILE),
            gateway_url=gateway.url,
            provider=provider,
            counters=counters,
            router=AdminRouter(gateway.url, admin_token=gateway.admin_token),
            supervisor=supervisor,
            load=LoadProfile(rate=options.rate, feedback_delay=options.feedback_delay),
            clock_zero=started,
            fast=options.fast,
            deadline=options.deadline,
            say=say,
        )

        async def go() -> dict[str, Any]:
            try:
                return await runner.run()
            finally:
                await runner.router.close()
                await counters.close()
                close = getattr(provider, "close", None)
                if close is not None:
                    await close()

        result = asyncio.run(go())
    timeline = timeline_path(options)
    if runner.trace.points:
        draw_cycle(runner.trace.points, runner.trace.marks, timeline,
                   f"modelrollout demo --scenario continuous: Model {name}")  # fmt: skip
    timings["totalSeconds"] = time.monotonic() - started
    pre, recovered = result["preDrift"]["accuracy"], (result["recovered"] or {}).get("accuracy")
    retrained = result["retrained"] or {}
    ok = (
        result["promoted"]
        and pre is not None
        and recovered is not None
        and recovered >= pre - 0.02
        and retrained.get("logRows", 0) > 0
    )
    result.update({"ok": bool(ok), "scenario": "continuous", "metricsSource": source,
                   "fast": options.fast, "workdir": str(workdir),
                   "timeline": str(timeline) if runner.trace.points else None,
                   "timings": {k: round(v, 2) for k, v in timings.items()}})  # fmt: skip
    say("")
    say(f"live accuracy: pre-drift v1 {_pct(pre)}, drifted v1 "
        f"{_pct(result['drifted']['accuracy'])}, after the cycle "
        f"{result['inService']} {_pct(recovered)}")  # fmt: skip
    say(f"timeline plot: {timeline}")
    say(f"{'OK' if ok else 'FAILED'}: continuous learning "
        f"{'recovered' if ok else 'did not recover'} in {timings['totalSeconds']:.0f}s")  # fmt: skip
    return result

"""Continuous learning as a pure function: a Model's record and what the cluster shows in,
the Model's new record and the next actions out (no I/O, no clock: `now` is an argument).

One turn of the loop, for the model's versions in version order:
  trigger -> train version N+1 (its Job builds the dataset first) -> gate (Rejected: recorded)
  -> Ready -> Experiment against the version in service -> Succeeded: in service;
  RolledBack or Failed: recorded -> back-off -> next trigger.

Safety comes from the world, not from memory: a version is "in flight" while it is the
lowest version above the last concluded one, whoever created it (a hand-made ModelVersion of
the model is adopted and rolled out the same way), so a lost status write or a restart never
starts a second training, and the record (`status.training`) names a version owed to the
cluster when its creation was decided but not seen yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from ..api import cron
from ..api.v1alpha1 import (
    API_VERSION,
    DatasetBuild,
    ExperimentPhase,
    ExperimentSpec,
    HistoryEntry,
    ModelPhase,
    ModelSpec,
    ModelStatus,
    ModelVersionPhase,
    ModelVersionSpec,
    Outcome,
    Training,
    TriggerRecord,
    parse_duration,
)
from ..api.v1alpha1.base import MAX_DURATION_SECONDS
from .model import EmitEvent

LABEL_MODEL = "modelrollout.dev/model"
LABEL_MANAGED = "modelrollout.dev/managed-by"  # "model": created by the Model's loop
HISTORY_KEPT = 10
#: How often to look again while something is in flight (the handler may look sooner).
POLL_SECONDS = 30.0


@dataclass(frozen=True)
class VersionFacts:
    """One ModelVersion of the model as observed."""

    name: str
    version: int
    phase: str = ""  # ModelVersionPhase value ("" before the operator saw it)
    message: str = ""
    test_metrics: dict[str, float] = field(default_factory=dict)
    managed: bool = False  # created by this Model
    dataset_rows: int | None = None  # what its Job's dataset step built, when known


@dataclass(frozen=True)
class ExperimentFacts:
    """One Experiment of the model as observed."""

    name: str
    baseline: str
    candidate: str
    phase: str = ""
    message: str = ""
    undo_until: datetime | None = None  # a Succeeded one still needs its baseline until then

    @property
    def terminal(self) -> bool:
        return self.phase in {p.value for p in _TERMINAL}

    def active(self, now: datetime) -> bool:
        return not self.terminal or (self.undo_until is not None and self.undo_until > now)


_TERMINAL = (ExperimentPhase.SUCCEEDED, ExperimentPhase.ROLLED_BACK, ExperimentPhase.FAILED)


@dataclass(frozen=True)
class Counts:
    """What the metrics say: labels since the last training, live accuracy of the one in
    service (None: unknown, never a reason to train)."""

    labelled_rows: float | None = None
    accuracy: float | None = None
    accuracy_samples: float | None = None


@dataclass(frozen=True)
class CreateVersion:
    name: str
    body: dict[str, Any]
    kind: Literal["create-version"] = "create-version"


@dataclass(frozen=True)
class CreateExperiment:
    name: str
    body: dict[str, Any]
    kind: Literal["create-experiment"] = "create-experiment"


@dataclass(frozen=True)
class DeleteVersion:
    name: str
    kind: Literal["delete-version"] = "delete-version"


Action = CreateVersion | CreateExperiment | DeleteVersion | EmitEvent


@dataclass(frozen=True)
class LearningDecision:
    status: ModelStatus
    actions: tuple[Action, ...]
    requeue_after: float


@dataclass(frozen=True)
class Context:
    """Who the Model is and the operator's defaults."""

    name: str  # the Model's name: the model's name
    namespace: str
    trainer_image: str
    created_at: datetime | None = None


def version_name(model: str, version: int) -> str:
    return f"{model}-v{version}"


def experiment_name(model: str, version: int) -> str:
    return f"{model}-v{version}-rollout"


def _join(base: str, leaf: str) -> str:
    return f"{base.rstrip('/')}/{leaf}"


def version_body(ctx: Context, spec: ModelSpec, version: int, at: datetime) -> dict[str, Any]:
    """The ModelVersion the loop trains as `version`, triggered at `at` (deterministic)."""
    template = spec.version_template
    tt = template.training
    data = spec.data
    log = data.prediction_log
    build = DatasetBuild(
        base=data.base,
        prediction_log=log.uri if log else None,
        since=at - timedelta(seconds=parse_duration(log.window)) if log else None,
        until=at if log else None,
        min_labelled_rows=log.min_labelled_rows if log else 1,
    )
    name = version_name(ctx.name, version)
    training = Training(
        image=tt.image or ctx.trainer_image,
        dataset=_join(data.output, f"{name}.parquet"),
        task=tt.task,
        label_column=tt.label_column,
        output=tt.output,
        hyperparameters=tt.hyperparameters,
        resources=tt.resources,
        deadline=tt.deadline,
        retries=tt.retries,
        acceptance=tt.acceptance,
        build=build,
        credentials_secret=tt.credentials_secret,
        service_account_name=tt.service_account_name,
    )
    mv_spec = ModelVersionSpec(
        model=ctx.name,
        version=version,
        description=f"trained by Model {ctx.name}",
        training=training,
        serving=template.serving,
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelVersion",
        "metadata": {
            "name": name,
            "namespace": ctx.namespace,
            "labels": {LABEL_MODEL: ctx.name, LABEL_MANAGED: "model"},
        },
        "spec": mv_spec.to_wire(),
    }


def experiment_body(
    ctx: Context, spec: ModelSpec, version: int, baseline: str, candidate: str
) -> dict[str, Any]:
    template = spec.experiment
    exp_spec = ExperimentSpec(
        model=ctx.name,
        baseline=baseline,
        candidate=candidate,
        strategy=template.strategy,
        routing=template.routing,
        analysis=template.analysis,
        promotion=template.promotion,
        notify=template.notify,
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "Experiment",
        "metadata": {
            "name": experiment_name(ctx.name, version),
            "namespace": ctx.namespace,
            "labels": {LABEL_MODEL: ctx.name, LABEL_MANAGED: "model"},
        },
        "spec": exp_spec.to_wire(),
    }


def back_off_seconds(spec: ModelSpec, failures: int) -> float:
    """minInterval, doubled per failure in a row (capped at 720h)."""
    base = parse_duration(spec.triggers.min_interval)
    return float(min(MAX_DURATION_SECONDS, base * 2 ** min(failures, 32)))


class _Record:
    """The status being decided, with the actions and events that go with it."""

    def __init__(self, status: ModelStatus, now: datetime) -> None:
        self.st = status.model_copy(deep=True)
        self.now = now
        self.actions: list[Action] = []

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        self.actions.append(EmitEvent(reason, message, "Warning" if warning else "Normal"))

    def entry(self, v: VersionFacts, trigger: str = "") -> HistoryEntry:
        for e in self.st.history:
            if e.version == v.version and e.name == v.name:
                if v.test_metrics:
                    e.metrics = dict(v.test_metrics)
                if v.dataset_rows is not None:
                    e.dataset_rows = v.dataset_rows
                return e
        e = HistoryEntry(
            version=v.version,
            name=v.name,
            trigger=trigger or ("hand-made ModelVersion" if not v.managed else ""),
            outcome=Outcome.TRAINING,
            started_at=self.now,
            metrics=dict(v.test_metrics),
            dataset_rows=v.dataset_rows,
        )
        self.st.history = [*self.st.history, e][-HISTORY_KEPT:]
        return e

    def conclude(self, v: VersionFacts, outcome: Outcome, message: str, failed: bool) -> None:
        e = self.entry(v)
        e.outcome, e.message, e.finished_at = outcome, message[:500], self.now
        self.st.concluded_version = max(self.st.concluded_version, v.version)
        self.st.training = None
        self.st.experiment = None
        if failed:
            self.st.failures_in_a_row += 1
        self.event(outcome.value, f"version {v.version} ({v.name}): {message}", warning=failed)


def decide(
    ctx: Context,
    spec: ModelSpec,
    status: ModelStatus,
    versions: list[VersionFacts],
    experiments: list[ExperimentFacts],
    counts: Counts,
    now: datetime,
) -> LearningDecision:
    """The next step of the Model's loop (see the module's docstring)."""
    rec = _Record(status, now)
    st = rec.st
    by_name = {v.name: v for v in versions}
    st.latest_version = max([st.latest_version, *(v.version for v in versions)])
    if st.in_service is not None and st.in_service in by_name:
        st.in_service_version = by_name[st.in_service].version
    _undone(rec, by_name, experiments)

    floor = max(st.concluded_version, st.in_service_version or 0)
    in_flight = sorted((v for v in versions if v.version > floor), key=lambda v: v.version)
    owed = (
        st.training is not None
        and st.training not in by_name
        and st.latest_version > floor
        and not in_flight
    )
    if owed and st.training is not None and st.last_training_at is not None:
        # Decided and recorded, not seen in the cluster yet (or lost): create it (again).
        body = version_body(ctx, spec, st.latest_version, st.last_training_at)
        rec.actions.append(CreateVersion(st.training, body))
        _set(st, ModelPhase.TRAINING, f"training version {st.latest_version} ({st.training})")
        return _finish(rec, spec, versions, experiments, counts, POLL_SECONDS)

    if in_flight:
        candidate = in_flight[0]
        delay = _follow(rec, ctx, spec, candidate, experiments)
        return _finish(rec, spec, versions, experiments, counts, delay)

    delay = _maybe_train(rec, ctx, spec, versions, counts)
    return _finish(rec, spec, versions, experiments, counts, delay)


def _undone(
    rec: _Record, by_name: dict[str, VersionFacts], experiments: list[ExperimentFacts]
) -> None:
    """A promotion undone afterwards (`modelrollout undo` within the window, or a regression
    in the holdback): the Experiment that promoted the version in service ended RolledBack,
    so its baseline serves again and is the version in service."""
    st = rec.st
    entry = next((e for e in reversed(st.history) if e.name == st.in_service), None)
    if entry is None or entry.outcome != Outcome.PROMOTED or entry.experiment is None:
        return
    exp = next((e for e in experiments if e.name == entry.experiment), None)
    if exp is None or exp.phase not in (ExperimentPhase.ROLLED_BACK.value,
                                        ExperimentPhase.FAILED.value):  # fmt: skip
        return
    previous = by_name.get(exp.baseline)
    entry.outcome, entry.finished_at = Outcome.ROLLED_BACK, rec.now
    entry.message = f"undone after its promotion: {exp.message}"[:500]
    st.in_service = exp.baseline
    st.in_service_version = previous.version if previous is not None else None
    st.failures_in_a_row += 1
    rec.event("RolledBack", f"version {entry.version} ({entry.name}) undone after its "
              f"promotion by {exp.name}; {exp.baseline} is in service again", warning=True)  # fmt: skip


def _set(st: ModelStatus, phase: ModelPhase, message: str) -> None:
    st.phase, st.message = phase, message


def _follow(
    rec: _Record,
    ctx: Context,
    spec: ModelSpec,
    cand: VersionFacts,
    experiments: list[ExperimentFacts],
) -> float:
    """Follow the version in flight: its gate, its Experiment, its outcome."""
    st = rec.st
    trigger = st.last_trigger.reason if st.last_trigger and st.training == cand.name else ""
    rec.entry(cand, trigger)
    mine = [e for e in experiments if e.candidate == cand.name]
    done = next((e for e in mine if e.terminal), None)
    running = next((e for e in mine if not e.terminal), None)
    if running is None and done is not None:
        if done.phase == ExperimentPhase.SUCCEEDED.value:
            rec.entry(cand).experiment = done.name
            previous = st.in_service
            st.in_service, st.in_service_version = cand.name, cand.version
            st.failures_in_a_row = 0
            rec.conclude(cand, Outcome.PROMOTED, f"promoted by {done.name}, replacing {previous}",
                         failed=False)  # fmt: skip
        else:
            rec.entry(cand).experiment = done.name
            why = f"{done.phase} by {done.name}" + (f": {done.message}" if done.message else "")
            rec.conclude(cand, Outcome.ROLLED_BACK, f"{why}; {st.in_service} stays in service",
                         failed=True)  # fmt: skip
        _set(st, ModelPhase.IDLE, f"version {cand.version} {rec.st.history[-1].outcome.value}")
        return 0.0  # decide the next step at once
    if cand.phase == ModelVersionPhase.REJECTED.value:
        rec.conclude(cand, Outcome.REJECTED, cand.message or "failed its acceptance gate",
                     failed=True)  # fmt: skip
        _set(st, ModelPhase.BACKING_OFF, f"version {cand.version} rejected; nothing rolled out")
        return 0.0
    if cand.phase == ModelVersionPhase.FAILED.value:
        rec.conclude(cand, Outcome.FAILED, cand.message or "failed", failed=True)
        _set(st, ModelPhase.BACKING_OFF, f"version {cand.version} failed; nothing rolled out")
        return 0.0
    if cand.phase == ModelVersionPhase.RETIRED.value and running is None:
        rec.conclude(cand, Outcome.FAILED, "retired before it was rolled out", failed=True)
        return 0.0
    if cand.phase != ModelVersionPhase.READY.value:
        st.training = cand.name
        _set(st, ModelPhase.TRAINING, f"version {cand.version} ({cand.name}) is "
             f"{cand.phase or 'Pending'}")  # fmt: skip
        return POLL_SECONDS
    # Ready: it passed its gate (or was prebuilt) and serves.
    if st.in_service is None:
        st.in_service, st.in_service_version = cand.name, cand.version
        st.failures_in_a_row = 0
        rec.conclude(cand, Outcome.ADOPTED, "first version of the model, in service without a "
                     "rollout (nothing to compare it with)", failed=False)  # fmt: skip
        _set(st, ModelPhase.IDLE, f"version {cand.version} in service")
        return 0.0
    if running is not None:
        st.training, st.experiment = cand.name, running.name
        rec.entry(cand).outcome = Outcome.ROLLING_OUT
        rec.entry(cand).experiment = running.name
        _set(st, ModelPhase.ROLLING_OUT, f"{running.name}: version {cand.version} against "
             f"{running.baseline} ({running.phase or 'Pending'})")  # fmt: skip
        return POLL_SECONDS
    other = next((e for e in experiments if not e.terminal), None)
    if other is not None:
        _set(st, ModelPhase.ROLLING_OUT, f"version {cand.version} is Ready; waiting for "
             f"Experiment {other.name} of this model to finish")  # fmt: skip
        return POLL_SECONDS
    name = experiment_name(ctx.name, cand.version)
    body = experiment_body(ctx, spec, cand.version, st.in_service, cand.name)
    rec.actions.append(CreateExperiment(name, body))
    st.training, st.experiment = cand.name, name
    entry = rec.entry(cand)
    entry.outcome, entry.experiment = Outcome.ROLLING_OUT, name
    rec.event("RolloutStarted", f"Experiment {name}: version {cand.version} ({cand.name}) "
              f"against {st.in_service}")  # fmt: skip
    _set(st, ModelPhase.ROLLING_OUT, f"{name}: version {cand.version} against {st.in_service}")
    return POLL_SECONDS


def _reasons(
    ctx: Context, spec: ModelSpec, st: ModelStatus, counts: Counts, now: datetime
) -> tuple[list[str], TriggerRecord | None]:
    """Why to train now, and (when nothing fires) the next thing that would."""
    t = spec.triggers
    reasons: list[str] = []
    upcoming: list[tuple[datetime | None, str]] = []
    if st.in_service is None:
        reasons.append("no version in service")
    if t.schedule:
        schedule = cron.parse(t.schedule)
        since = st.last_training_at or ctx.created_at or now
        due = cron.next_after(schedule, since)
        if due is not None and due <= now:
            reasons.append(f"schedule {t.schedule!r} (due {due:%Y-%m-%dT%H:%MZ})")
        elif due is not None:
            upcoming.append((due, f"schedule {t.schedule!r}"))
    if t.new_labelled_rows is not None:
        have = counts.labelled_rows
        if have is not None and have >= t.new_labelled_rows:
            reasons.append(f"{have:.0f} new labelled rows (>= {t.new_labelled_rows})")
        else:
            shown = "unknown" if have is None else f"{have:.0f}"
            upcoming.append((None, f"{t.new_labelled_rows} new labelled rows (have {shown})"))
    if t.accuracy_below is not None and st.in_service is not None:
        acc, n = counts.accuracy, counts.accuracy_samples
        if acc is not None and n is not None and n >= t.min_accuracy_samples:
            if acc < t.accuracy_below:
                reasons.append(
                    f"live accuracy {acc:.4f} of {st.in_service} < {t.accuracy_below:g} "
                    f"({n:.0f} labels)"
                )
            else:
                upcoming.append((None, f"live accuracy {acc:.4f} < {t.accuracy_below:g}"))
        else:
            upcoming.append((None, f"live accuracy < {t.accuracy_below:g} (too few labels)"))
    nxt = None
    if upcoming:
        dated = [at for at, _ in upcoming if at is not None]
        nxt = TriggerRecord(
            at=min(dated) if dated else None, reason="; or ".join(w for _, w in upcoming)
        )
    return reasons, nxt


def _maybe_train(
    rec: _Record,
    ctx: Context,
    spec: ModelSpec,
    versions: list[VersionFacts],
    counts: Counts,
) -> float:
    st, now = rec.st, rec.now
    if spec.paused:
        _set(st, ModelPhase.IDLE if st.in_service else ModelPhase.PENDING,
             "paused: no new training")  # fmt: skip
        st.next_trigger = TriggerRecord(reason="paused")
        return POLL_SECONDS
    reasons, nxt = _reasons(ctx, spec, st, counts, now)
    earliest = None
    if st.last_training_at is not None:
        earliest = st.last_training_at + timedelta(seconds=back_off_seconds(spec, 0))
    failed_at = [e.finished_at for e in st.history if e.finished_at is not None]
    if st.failures_in_a_row and failed_at:
        # After a rejected or rolled-back version: minInterval doubled per failure in a row,
        # counted from the failure.
        wait = timedelta(seconds=back_off_seconds(spec, st.failures_in_a_row))
        earliest = max(earliest or max(failed_at), max(failed_at) + wait)
    if reasons and (earliest is None or earliest <= now):
        version = st.latest_version + 1
        name = version_name(ctx.name, version)
        reason = "; ".join(reasons)
        st.latest_version = version
        st.training, st.experiment = name, None
        st.last_training_at = now
        st.last_trigger = TriggerRecord(at=now, reason=reason)
        st.next_trigger = None
        rec.actions.append(CreateVersion(name, version_body(ctx, spec, version, now)))
        rec.entry(VersionFacts(name=name, version=version, managed=True), trigger=reason)
        rec.event("TrainingStarted", f"training version {version} ({name}): {reason}")
        _set(st, ModelPhase.TRAINING, f"training version {version} ({name})")
        return POLL_SECONDS
    if reasons and earliest is not None:
        why = "; ".join(reasons)
        failing = st.failures_in_a_row > 0
        st.next_trigger = TriggerRecord(
            at=earliest,
            reason=("back-off after a failed version: " if failing else "minInterval: ") + why,
        )
        _set(st, ModelPhase.BACKING_OFF if failing else ModelPhase.IDLE,
             f"{why}; not before {earliest:%Y-%m-%dT%H:%M:%SZ}")  # fmt: skip
        return max(1.0, (earliest - now).total_seconds())
    st.next_trigger = nxt
    phase = ModelPhase.IDLE if st.in_service else ModelPhase.PENDING
    served = f"version {st.in_service_version} in service" if st.in_service else "none in service"
    _set(st, phase, f"{served}; waiting for a trigger")
    if nxt is not None and nxt.at is not None:
        return max(1.0, min(POLL_SECONDS, (nxt.at - now).total_seconds()))
    return POLL_SECONDS


def _finish(
    rec: _Record,
    spec: ModelSpec,
    versions: list[VersionFacts],
    experiments: list[ExperimentFacts],
    counts: Counts,
    delay: float,
) -> LearningDecision:
    rec.actions.extend(_prune(rec.st, spec, versions, experiments, rec.now))
    return LearningDecision(rec.st, tuple(rec.actions), delay)


def _prune(
    st: ModelStatus,
    spec: ModelSpec,
    versions: list[VersionFacts],
    experiments: list[ExperimentFacts],
    now: datetime,
) -> list[DeleteVersion]:
    """Versions beyond the history limit, oldest first; never the one in service, one in
    flight, or one an Experiment still needs (running, or within its undo window)."""
    floor = max(st.concluded_version, st.in_service_version or 0)
    protected = {st.in_service, st.training}
    for e in experiments:
        if e.active(now):
            protected |= {e.baseline, e.candidate}
    newest_first = sorted(versions, key=lambda v: v.version, reverse=True)
    out = []
    for v in newest_first[spec.history_limit :]:
        if v.name in protected or v.version > floor:
            continue
        out.append(DeleteVersion(v.name))
    return out

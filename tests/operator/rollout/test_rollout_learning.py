"""The continuous-learning loop (rollout/learning.py) and its cron matcher: pure decisions.

The property test plays the cluster around the loop: versions train, pass or fail their gate,
Experiments promote or roll back, hand-made versions appear, labels and accuracy come and go,
and the operator crashes before or after its status write. Whatever the order, at most one
training and one Experiment of the model run at a time, and the version in service is always
one that passed its gate and its rollout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelrollout_operator.api import cron
from modelrollout_operator.api.v1alpha1 import Experiment as ExperimentModel
from modelrollout_operator.api.v1alpha1 import (
    ModelPhase,
    ModelSpec,
    ModelStatus,
    ModelVersion,
    Outcome,
)
from modelrollout_operator.rollout import EmitEvent
from modelrollout_operator.rollout.learning import (
    Context,
    Counts,
    CreateExperiment,
    CreateVersion,
    DeleteVersion,
    ExperimentFacts,
    VersionFacts,
    back_off_seconds,
    decide,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CTX = Context(name="scorer", namespace="ml", trainer_image="trainer:1", created_at=T0)


def _spec(**triggers: Any) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "versionTemplate": {
                "training": {"output": "s3://models/repo", "acceptance": {"minAccuracy": 0.8}}
            },
            "data": {
                "base": "s3://data/base.csv",
                "predictionLog": {"uri": "s3://logs/p", "window": "24h", "minLabelledRows": 50},
                "output": "s3://data/built",
            },
            "triggers": {"newLabelledRows": 100, "minInterval": "10m", **triggers},
            "historyLimit": 3,
        }
    )


# --- cron ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "after", "due"),
    [
        ("0 3 * * 1", datetime(2026, 12, 1, 12, 0, tzinfo=UTC), datetime(2026, 12, 7, 3, 0, tzinfo=UTC)),
        ("*/15 * * * *", datetime(2026, 12, 1, 12, 7, tzinfo=UTC), datetime(2026, 12, 1, 12, 15, tzinfo=UTC)),
        ("30 2 1 * *", datetime(2026, 12, 1, 2, 30, tzinfo=UTC), datetime(2027, 1, 1, 2, 30, tzinfo=UTC)),
        ("0 0 * * 7", datetime(2026, 12, 5, 0, 0, tzinfo=UTC), datetime(2026, 12, 6, 0, 0, tzinfo=UTC)),
        ("0 9-17/4 * * 1-5", datetime(2026, 12, 4, 17, 1, tzinfo=UTC), datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_cron_next_due_time(expr: str, after: datetime, due: datetime) -> None:
    assert cron.next_after(cron.parse(expr), after) == due


@pytest.mark.parametrize(
    "expr", ["* * * *", "60 * * * *", "a * * * *", "5-1 * * * *", "*/0 * * * *"]
)
def test_cron_refuses_what_it_cannot_match(expr: str) -> None:
    with pytest.raises(cron.CronError):
        cron.parse(expr)


def test_cron_that_never_fires_has_no_due_time() -> None:
    assert cron.next_after(cron.parse("0 0 30 2 *"), T0) is None


@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    start=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
)
def test_cron_next_is_the_first_matching_minute_after(
    minute: int, hour: int, start: datetime
) -> None:
    schedule = cron.parse(f"{minute} {hour} * * *")
    due = cron.next_after(schedule, start)
    assert due is not None and due > start and schedule.matches(due)
    assert due - start <= timedelta(days=1)


# --- one turn of the loop -----------------------------------------------------------------


def _mv(
    name: str, version: int, phase: str, managed: bool = True, acc: float = 0.9
) -> VersionFacts:
    return VersionFacts(name, version, phase, test_metrics={"accuracy": acc}, managed=managed)


def test_first_pass_trains_version_1_with_a_dataset_build_step() -> None:
    d = decide(CTX, _spec(), ModelStatus(), [], [], Counts(), T0)
    (create,) = [a for a in d.actions if isinstance(a, CreateVersion)]
    assert create.name == "scorer-v1"
    mv = ModelVersion.model_validate(create.body)
    training = mv.spec.training
    assert training is not None and training.build is not None
    assert training.image == "trainer:1"
    assert training.dataset == "s3://data/built/scorer-v1.parquet"
    assert training.build.prediction_log == "s3://logs/p"
    assert training.build.until == T0 and training.build.since == T0 - timedelta(hours=24)
    assert training.build.min_labelled_rows == 50
    assert d.status.training == "scorer-v1" and d.status.phase == ModelPhase.TRAINING
    assert (
        d.status.last_trigger is not None
        and "no version in service" in d.status.last_trigger.reason
    )


def test_labelled_rows_trigger_version_n_plus_1_then_the_experiment_against_the_one_in_service() -> (
    None
):
    status = ModelStatus(in_service="scorer-v1", in_service_version=1, latest_version=1,
                         concluded_version=1, last_training_at=T0)  # fmt: skip
    versions = [_mv("scorer-v1", 1, "Ready")]
    now = T0 + timedelta(hours=1)
    quiet = decide(CTX, _spec(), status, versions, [], Counts(labelled_rows=99), now)
    assert not [a for a in quiet.actions if isinstance(a, CreateVersion)]
    assert quiet.status.next_trigger is not None and "have 99" in quiet.status.next_trigger.reason
    d = decide(CTX, _spec(), status, versions, [], Counts(labelled_rows=100), now)
    (create,) = [a for a in d.actions if isinstance(a, CreateVersion)]
    assert create.name == "scorer-v2"
    # Training: nothing else happens, whatever the counts say.
    versions.append(_mv("scorer-v2", 2, "Training"))
    again = decide(CTX, _spec(), d.status, versions, [], Counts(labelled_rows=10**6), now)
    assert not [a for a in again.actions if isinstance(a, CreateVersion | CreateExperiment)]
    versions[1] = _mv("scorer-v2", 2, "Ready")
    ready = decide(CTX, _spec(), again.status, versions, [], Counts(), now)
    (exp,) = [a for a in ready.actions if isinstance(a, CreateExperiment)]
    spec = ExperimentModel.model_validate(exp.body).spec
    assert (spec.model, spec.baseline, spec.candidate) == ("scorer", "scorer-v1", "scorer-v2")
    assert ready.status.phase == ModelPhase.ROLLING_OUT
    done = [ExperimentFacts(exp.name, "scorer-v1", "scorer-v2", "Succeeded")]
    promoted = decide(CTX, _spec(), ready.status, versions, done, Counts(), now)
    assert promoted.status.in_service == "scorer-v2"
    assert promoted.status.history[-1].outcome == Outcome.PROMOTED
    assert promoted.status.history[-1].metrics == {"accuracy": 0.9}


def test_rolled_back_version_is_recorded_the_one_in_service_stays_and_the_next_waits() -> None:
    status = ModelStatus(in_service="scorer-v1", in_service_version=1, latest_version=2,
                         concluded_version=1, training="scorer-v2", experiment="scorer-v2-rollout",
                         last_training_at=T0)  # fmt: skip
    versions = [_mv("scorer-v1", 1, "Ready"), _mv("scorer-v2", 2, "Ready")]
    exps = [ExperimentFacts("scorer-v2-rollout", "scorer-v1", "scorer-v2", "RolledBack", "worse")]
    now = T0 + timedelta(minutes=30)
    d = decide(CTX, _spec(), status, versions, exps, Counts(labelled_rows=500), now)
    assert d.status.in_service == "scorer-v1"
    assert d.status.history[-1].outcome == Outcome.ROLLED_BACK
    assert d.status.failures_in_a_row == 1
    assert any(isinstance(a, EmitEvent) and a.type == "Warning" for a in d.actions)
    # Back-off: 10m doubled once = 20m after the rollback was recorded.
    nxt = decide(CTX, _spec(), d.status, versions, exps, Counts(labelled_rows=500), now)
    assert not [a for a in nxt.actions if isinstance(a, CreateVersion)]
    assert nxt.status.phase == ModelPhase.BACKING_OFF
    assert nxt.status.next_trigger is not None
    assert nxt.status.next_trigger.at == now + timedelta(minutes=20)
    later = decide(CTX, _spec(), nxt.status, versions, exps, Counts(labelled_rows=500),
                   now + timedelta(minutes=21))  # fmt: skip
    assert [a.name for a in later.actions if isinstance(a, CreateVersion)] == ["scorer-v3"]


def test_rejected_version_is_recorded_and_nothing_is_rolled_out() -> None:
    status = ModelStatus(in_service="scorer-v1", in_service_version=1, latest_version=2,
                         concluded_version=1, training="scorer-v2", last_training_at=T0)  # fmt: skip
    versions = [_mv("scorer-v1", 1, "Ready"), _mv("scorer-v2", 2, "Rejected", acc=0.6)]
    d = decide(CTX, _spec(), status, versions, [], Counts(), T0 + timedelta(minutes=1))
    assert not [a for a in d.actions if isinstance(a, CreateExperiment)]
    assert d.status.history[-1].outcome == Outcome.REJECTED
    assert d.status.in_service == "scorer-v1" and d.status.training is None


def test_hand_made_version_is_rolled_out_the_same_way() -> None:
    status = ModelStatus(in_service="scorer-v1", in_service_version=1, latest_version=1,
                         concluded_version=1, last_training_at=T0)  # fmt: skip
    versions = [_mv("scorer-v1", 1, "Ready"), _mv("prebuilt-7", 7, "Ready", managed=False)]
    d = decide(
        CTX, _spec(), status, versions, [], Counts(labelled_rows=10**6), T0 + timedelta(hours=1)
    )
    assert [a.name for a in d.actions if isinstance(a, CreateVersion)] == []
    (exp,) = [a for a in d.actions if isinstance(a, CreateExperiment)]
    assert exp.body["spec"]["candidate"] == "prebuilt-7"
    assert d.status.history[-1].trigger == "hand-made ModelVersion"
    assert d.status.latest_version == 7  # the next training is version 8


def test_status_write_lost_after_deciding_never_trains_twice() -> None:
    """Restart safety: the decision was recorded but the ModelVersion not created (crash)."""
    first = decide(CTX, _spec(), ModelStatus(), [], [], Counts(), T0)
    again = decide(CTX, _spec(), first.status, [], [], Counts(), T0 + timedelta(seconds=5))
    (create,) = [a for a in again.actions if isinstance(a, CreateVersion)]
    assert create.name == "scorer-v1" and create.body == next(
        a.body for a in first.actions if isinstance(a, CreateVersion)
    )


def test_prune_keeps_the_limit_and_never_the_one_in_service_or_in_an_experiment() -> None:
    status = ModelStatus(in_service="scorer-v2", in_service_version=2, latest_version=6,
                         concluded_version=6, last_training_at=T0)  # fmt: skip
    versions = [_mv(f"scorer-v{n}", n, "Ready") for n in range(1, 7)]
    holdback = [ExperimentFacts("x", "scorer-v1", "scorer-v6", "Succeeded",
                                undo_until=T0 + timedelta(hours=2))]  # fmt: skip
    d = decide(CTX, _spec(), status, versions, holdback, Counts(), T0 + timedelta(minutes=1))
    deleted = {a.name for a in d.actions if isinstance(a, DeleteVersion)}
    assert deleted == {"scorer-v3"}  # keep v6 v5 v4 (limit 3), v2 in service, v1 undo window


def test_unknown_counts_or_a_paused_model_never_start_a_training() -> None:
    status = ModelStatus(in_service="scorer-v1", in_service_version=1, latest_version=1,
                         concluded_version=1, last_training_at=T0)  # fmt: skip
    versions = [_mv("scorer-v1", 1, "Ready")]
    spec = _spec(accuracyBelow=0.8)
    later = T0 + timedelta(days=1)
    unknown = decide(CTX, spec, status, versions, [], Counts(), later)  # Prometheus down
    assert not [a for a in unknown.actions if isinstance(a, CreateVersion)]
    assert unknown.status.next_trigger is not None
    assert "have unknown" in unknown.status.next_trigger.reason
    paused = spec.model_copy(update={"paused": True})
    busy = decide(CTX, paused, status, versions, [], Counts(labelled_rows=10**6), later)
    assert not [a for a in busy.actions if isinstance(a, CreateVersion)]


def test_history_records_the_dataset_rows_of_each_version() -> None:
    status = ModelStatus(in_service="scorer-v1", in_service_version=1, latest_version=2,
                         concluded_version=1, training="scorer-v2", last_training_at=T0)  # fmt: skip
    v2 = VersionFacts("scorer-v2", 2, "Deploying", managed=True, dataset_rows=1234)
    d = decide(CTX, _spec(), status, [_mv("scorer-v1", 1, "Ready"), v2], [], Counts(), T0)
    assert d.status.history[-1].dataset_rows == 1234


def test_a_promotion_undone_afterwards_puts_the_previous_version_back_in_service() -> None:
    status = ModelStatus(in_service="scorer-v1", in_service_version=1, latest_version=2,
                         concluded_version=1, training="scorer-v2", last_training_at=T0)  # fmt: skip
    versions = [_mv("scorer-v1", 1, "Ready"), _mv("scorer-v2", 2, "Ready")]
    won = [ExperimentFacts("scorer-v2-rollout", "scorer-v1", "scorer-v2", "Succeeded")]
    promoted = decide(CTX, _spec(), status, versions, won, Counts(), T0)
    assert promoted.status.in_service == "scorer-v2"
    undone = [ExperimentFacts("scorer-v2-rollout", "scorer-v1", "scorer-v2", "RolledBack",
                              "undone by user")]  # fmt: skip
    d = decide(CTX, _spec(), promoted.status, versions, undone, Counts(), T0)
    assert (d.status.in_service, d.status.in_service_version) == ("scorer-v1", 1)
    assert d.status.history[-1].outcome == Outcome.ROLLED_BACK
    assert "undone after its promotion" in d.status.history[-1].message
    assert d.status.failures_in_a_row == 1
    again = decide(CTX, _spec(), d.status, versions, undone, Counts(), T0)
    assert again.status.in_service == "scorer-v1"  # recorded once
    assert again.status.failures_in_a_row == 1
    # scorer-v2 is concluded: it is not rolled out again.
    assert not [a for a in again.actions if isinstance(a, CreateExperiment)]


def test_back_off_doubles_and_is_capped() -> None:
    spec = _spec(minInterval="10m")
    assert [back_off_seconds(spec, n) for n in (0, 1, 2)] == [600, 1200, 2400]
    assert back_off_seconds(spec, 100) == 720 * 3600


def test_accuracy_below_its_bound_triggers_only_with_enough_labels() -> None:
    spec = _spec(newLabelledRows=None, accuracyBelow=0.8, minAccuracySamples=200)
    status = ModelStatus(in_service="scorer-v1", in_service_version=1, latest_version=1,
                         concluded_version=1, last_training_at=T0)  # fmt: skip
    versions = [_mv("scorer-v1", 1, "Ready")]
    now = T0 + timedelta(hours=1)
    few = decide(CTX, spec, status, versions, [], Counts(accuracy=0.5, accuracy_samples=10), now)
    assert not [a for a in few.actions if isinstance(a, CreateVersion)]
    many = decide(CTX, spec, status, versions, [], Counts(accuracy=0.7, accuracy_samples=500), now)
    assert [a.name for a in many.actions if isinstance(a, CreateVersion)] == ["scorer-v2"]
    assert many.status.last_trigger is not None
    assert "live accuracy 0.7000" in many.status.last_trigger.reason


def test_schedule_triggers_once_per_due_time() -> None:
    spec = _spec(newLabelledRows=None, schedule="0 3 * * *")
    status = ModelStatus(in_service="scorer-v1", in_service_version=1, latest_version=1,
                         concluded_version=1, last_training_at=T0)  # fmt: skip
    versions = [_mv("scorer-v1", 1, "Ready")]
    before = decide(CTX, spec, status, versions, [], Counts(), T0 + timedelta(hours=14))
    assert not [a for a in before.actions if isinstance(a, CreateVersion)]
    assert before.status.next_trigger is not None
    assert before.status.next_trigger.at == datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    due = decide(CTX, spec, status, versions, [], Counts(), T0 + timedelta(hours=15, minutes=1))
    assert [a.name for a in due.actions if isinstance(a, CreateVersion)] == ["scorer-v2"]


# --- the property -------------------------------------------------------------------------


@dataclass
class _MV:
    version: int
    phase: str
    managed: bool
    passed_gate: bool = False


@dataclass
class _World:
    status: ModelStatus = field(default_factory=ModelStatus)
    versions: dict[str, _MV] = field(default_factory=dict)
    experiments: dict[str, ExperimentFacts] = field(default_factory=dict)
    succeeded_candidates: set[str] = field(default_factory=set)
    ever_in_service: bool = False
    labels: float = 0.0
    now: datetime = T0
    trainings_started: int = 0
    first_adopted: str | None = None

    def facts(self) -> list[VersionFacts]:
        return [
            VersionFacts(n, v.version, v.phase, managed=v.managed) for n, v in self.versions.items()
        ]


TRAINING_PHASES = {"", "Pending", "Training", "Deploying"}

_STEP = st.sampled_from(
    ["pass", "pass", "pass", "crash_after_status", "crash_before_status", "train_ok",
     "train_rejected", "train_failed", "deploy", "promote", "roll_back", "labels", "time",
     "hand_made", "undo"]
)  # fmt: skip


def _check(w: _World) -> None:
    in_training = [n for n, v in w.versions.items() if v.managed and v.phase in TRAINING_PHASES]
    assert len(in_training) <= 1, f"two trainings at once: {in_training}"
    running = [e.name for e in w.experiments.values() if not e.terminal]
    assert len(running) <= 1, f"two Experiments at once: {running}"
    s = w.status
    if s.in_service is not None:
        mv = w.versions.get(s.in_service)
        assert mv is not None, "the version in service was deleted"
        assert mv.passed_gate, f"{s.in_service} in service without passing its gate"
        assert s.in_service in w.succeeded_candidates or s.in_service == w.first_adopted, (
            f"{s.in_service} in service without passing its rollout"
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(_STEP, st.integers(0, 10**6)), max_size=60))
def test_whatever_happens_one_training_one_experiment_and_a_proven_version_in_service(
    steps: list[tuple[str, int]],
) -> None:
    spec = _spec(minInterval="1m")
    w = _World()
    for step, pick in steps:
        if step in ("pass", "crash_after_status", "crash_before_status"):
            exps = list(w.experiments.values())
            d = decide(CTX, spec, w.status, w.facts(), exps, Counts(labelled_rows=w.labels), w.now)
            if step == "crash_before_status":
                continue
            if d.status.in_service != w.status.in_service and not w.ever_in_service:
                w.first_adopted = d.status.in_service
            if d.status.in_service is not None:
                w.ever_in_service = True
            w.status = d.status
            if step == "crash_after_status":
                _check(w)
                continue
            for a in d.actions:
                if isinstance(a, CreateVersion) and a.name not in w.versions:
                    busy = [
                        n for n, v in w.versions.items() if v.managed and v.phase in TRAINING_PHASES
                    ]
                    assert not busy, f"created {a.name} while {busy} trains"
                    w.versions[a.name] = _MV(a.body["spec"]["version"], "", managed=True)
                    w.trainings_started += 1
                    w.labels = 0.0
                elif isinstance(a, CreateExperiment) and a.name not in w.experiments:
                    spec_ = a.body["spec"]
                    assert w.versions[spec_["candidate"]].phase == "Ready"
                    assert w.versions[spec_["baseline"]].passed_gate
                    w.experiments[a.name] = ExperimentFacts(
                        a.name, spec_["baseline"], spec_["candidate"], "Progressing"
                    )
                elif isinstance(a, DeleteVersion):
                    assert a.name != w.status.in_service
                    assert all(
                        a.name not in (e.baseline, e.candidate)
                        for e in w.experiments.values()
                        if not e.terminal
                    )
                    w.versions.pop(a.name, None)
        elif step in ("train_ok", "train_rejected", "train_failed", "deploy"):
            waiting = [v for v in w.versions.values() if v.phase in TRAINING_PHASES]
            if waiting:
                mv = waiting[pick % len(waiting)]
                if step == "deploy":
                    mv.phase = "Training"
                elif step == "train_ok":
                    mv.phase, mv.passed_gate = "Ready", True
                else:
                    mv.phase = "Rejected" if step == "train_rejected" else "Failed"
        elif step in ("promote", "roll_back"):
            running = [e for e in w.experiments.values() if not e.terminal]
            if running:
                e = running[pick % len(running)]
                phase = "Succeeded" if step == "promote" else "RolledBack"
                w.experiments[e.name] = ExperimentFacts(e.name, e.baseline, e.candidate, phase)
                if phase == "Succeeded":
                    w.succeeded_candidates.add(e.candidate)
        elif step == "undo":
            # `modelrollout undo` within the window: only the latest promotion can be undone.
            won = [e for e in w.experiments.values()
                   if e.phase == "Succeeded" and e.candidate == w.status.in_service]  # fmt: skip
            if won:
                e = won[pick % len(won)]
                w.experiments[e.name] = ExperimentFacts(e.name, e.baseline, e.candidate,
                                                        "RolledBack")  # fmt: skip
                w.succeeded_candidates.discard(e.candidate)
        elif step == "labels":
            w.labels += 50 + pick % 100
        elif step == "time":
            w.now += timedelta(seconds=1 + pick % 600)
        elif step == "hand_made":
            top = max([v.version for v in w.versions.values()] + [w.status.latest_version])
            w.versions[f"prebuilt-{top + 1}"] = _MV(top + 1, "", managed=False)
        _check(w)

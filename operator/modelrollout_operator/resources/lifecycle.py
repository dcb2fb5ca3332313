"""The ModelVersion lifecycle as a pure function: observed facts in, new status and actions out.

Pending -> Training -> (Rejected | Failed | Deploying) -> Ready -> Retired. Each pass is
idempotent: the same facts give the same answer, so a replayed watch event or an operator
restart never creates a second Job or skips a phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..api.v1alpha1 import (
    ArtifactStatus,
    Condition,
    ModelVersion,
    ModelVersionPhase,
    ModelVersionStatus,
    SplitMetrics,
    set_condition,
)
from ..rollout.model import EmitEvent
from .naming import endpoint_url, job_name
from .training import TrainerResultError, gate_failures, parse_trainer_result

Phase = ModelVersionPhase
FINAL_PHASES = frozenset({Phase.REJECTED, Phase.FAILED})


@dataclass(frozen=True)
class JobFacts:
    """The training Job as observed: done or not, and its Pod's termination message."""

    succeeded: bool = False
    failed: bool = False
    reason: str = ""  # the Job's Failed condition: BackoffLimitExceeded, DeadlineExceeded...
    message: str = ""
    termination_message: str | None = None


# Exit codes of `modelrollout-gateway prepare-triton` (contracts.md §5) that retrying cannot
# fix: the artifact is not the approved one, or its config cannot serve the version as asked.
INIT_REFUSED_EXIT_CODES = {3: "ArtifactRejected", 2: "ServingConfigInvalid"}


@dataclass(frozen=True)
class InitFailure:
    """A serving pod's init container that exited non-zero, with its termination message."""

    container: str
    exit_code: int
    message: str

    @property
    def refused(self) -> bool:
        return self.exit_code in INIT_REFUSED_EXIT_CODES

    def describe(self) -> str:
        why = self.message.strip() or "no termination message"
        return f"init container {self.container} exited {self.exit_code}: {why}"


def init_failure(pods: list[dict[str, Any]]) -> InitFailure | None:
    """The most telling failed init container of the serving pods, if any.

    A refusal (see INIT_REFUSED_EXIT_CODES) wins over a transient failure; the kubelet keeps
    the last run in `lastState` while it waits to restart a crash-looping one.
    """
    found: list[InitFailure] = []
    for pod in pods:
        for cs in (pod.get("status") or {}).get("initContainerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated")
            if term is None:  # waiting to restart, or running again: the last run says why
                term = (cs.get("lastState") or {}).get("terminated") or {}
            code = term.get("exitCode")
            if isinstance(code, int) and code != 0:
                message = str(term.get("message") or term.get("reason") or "")
                found.append(InitFailure(str(cs.get("name", "")), code, message))
    if not found:
        return None
    return sorted(found, key=lambda f: (not f.refused, f.container, f.message))[0]


@dataclass(frozen=True)
class ServingFacts:
    replicas: int
    ready_replicas: int
    failed_reason: str | None = None  # e.g. ProgressDeadlineExceeded
    init_failure: InitFailure | None = None


@dataclass(frozen=True)
class CreateJob:
    kind: Literal["create-job"] = "create-job"


@dataclass(frozen=True)
class EnsureServing:
    """Create the Deployment and Service (when missing) for this artifact."""

    artifact_uri: str
    sha256: str
    kind: Literal["ensure-serving"] = "ensure-serving"


@dataclass(frozen=True)
class ScaleServing:
    replicas: int
    kind: Literal["scale-serving"] = "scale-serving"


@dataclass(frozen=True)
class CountTraining:
    result: Literal["succeeded", "failed", "rejected"]
    kind: Literal["count-training"] = "count-training"


VersionAction = CreateJob | EnsureServing | ScaleServing | EmitEvent | CountTraining


@dataclass(frozen=True)
class VersionStep:
    status: ModelVersionStatus
    actions: tuple[VersionAction, ...] = field(default_factory=tuple)

    @property
    def settled(self) -> bool:
        """Nothing left to watch closely: a final phase, or retired and scaled to zero."""
        return self.status.phase in FINAL_PHASES


def _cond(type_: str, ok: bool | None, reason: str, message: str, now: datetime) -> Condition:
    status: Literal["True", "False", "Unknown"] = (
        "Unknown" if ok is None else ("True" if ok else "False")
    )
    return Condition(
        type=type_, status=status, reason=reason, message=message, last_transition_time=now
    )


def advance_version(
    mv: ModelVersion,
    job: JobFacts | None,
    serving: ServingFacts | None,
    now: datetime,
) -> VersionStep:
    """The next status of `mv` and what to do, given what the cluster shows now."""
    old = mv.status or ModelVersionStatus()
    st = old.model_copy(deep=True)
    generation = mv.metadata.get("generation")
    if isinstance(generation, int):
        st.observed_generation = generation
    actions: list[VersionAction] = []
    name = str(mv.metadata.get("name", ""))
    namespace = str(mv.metadata.get("namespace", "default"))
    spec = mv.spec

    def move(phase: Phase, message: str, reason: str | None = None) -> None:
        st.phase = phase
        st.message = message
        st.conditions = set_condition(
            st.conditions, _cond("Ready", phase == Phase.READY, reason or phase.value, message, now)
        )

    if old.phase in FINAL_PHASES:
        return VersionStep(status=old)

    if old.phase == Phase.RETIRED:
        if serving is not None and serving.replicas > 0:
            actions.append(ScaleServing(0))
        return VersionStep(status=st, actions=tuple(actions))

    # 1. The artifact: given, or produced by training.
    artifact: ArtifactStatus | None = st.artifact
    if artifact is None and spec.artifact is not None:
        artifact = ArtifactStatus(uri=spec.artifact.uri, sha256=spec.artifact.sha256)
        st.artifact = artifact
    if artifact is None:
        assert spec.training is not None  # the spec's validator: artifact xor training
        st.job_name = job_name(name)
        if job is None:
            actions.append(CreateJob())
            move(Phase.TRAINING, f"training job {st.job_name} started")
            st.conditions = set_condition(
                st.conditions, _cond("Trained", None, "JobRunning", "training in progress", now)
            )
        elif job.succeeded or job.failed:
            step = _judge_training(mv, job, st, now)
            if step is not None:
                return _with_phase_event(old, step, actions)
            artifact = st.artifact
        else:
            move(Phase.TRAINING, f"training job {st.job_name} running")
    if artifact is None:
        return _with_phase_event(old, VersionStep(st, ()), actions)

    # 2. Serving: the version is Ready once its replicas report the model ready.
    if serving is None:
        actions.append(EnsureServing(artifact.uri, artifact.sha256))
        move(Phase.DEPLOYING, "creating the serving Deployment and Service")
    elif serving.failed_reason:
        move(Phase.FAILED, f"serving failed: {serving.failed_reason}", reason="ServingFailed")
    elif serving.ready_replicas < 1 and serving.init_failure and serving.init_failure.refused:
        failure = serving.init_failure
        move(
            Phase.FAILED,
            f"serving refused to start: {failure.describe()}",
            reason=INIT_REFUSED_EXIT_CODES[failure.exit_code],
        )
    elif serving.ready_replicas >= 1:
        st.endpoint = endpoint_url(name, namespace)
        move(
            Phase.READY,
            f"{serving.ready_replicas}/{serving.replicas} replicas report "
            f"{spec.model} version {spec.version} ready",
            reason="ModelReady",
        )
    elif serving.init_failure is not None:
        # A fetch that failed (S3 down, no credentials): the kubelet retries it; say why.
        move(
            Phase.DEPLOYING,
            f"{serving.init_failure.describe()}; the kubelet retries it",
            reason="ServingInitFailing",
        )
    else:
        move(Phase.DEPLOYING, f"waiting for {spec.model} version {spec.version} to load")
    return _with_phase_event(old, VersionStep(st, ()), actions)


def _judge_training(
    mv: ModelVersion, job: JobFacts, st: ModelVersionStatus, now: datetime
) -> VersionStep | None:
    """Rejected or Failed (a final step), or None with st.artifact set when accepted."""
    training = mv.spec.training
    assert training is not None
    result = None
    parse_problem = ""
    if job.termination_message:
        try:
            result = parse_trainer_result(job.termination_message)
        except TrainerResultError as exc:
            parse_problem = str(exc)
    if result is not None:
        st.metrics = SplitMetrics(**result.metrics)
    reasons = gate_failures(training.acceptance, result.metrics["test"]) if result else []
    if result is not None and not reasons and not result.gate_passed:
        reasons = list(result.gate_reasons) or ["the trainer's acceptance gate failed"]
    if result is not None and reasons:
        msg = "; ".join(reasons)
        st.phase, st.message = Phase.REJECTED, f"rejected: {msg}"
        st.conditions = set_condition(
            st.conditions, _cond("Trained", True, "JobSucceeded", "", now)
        )
        st.conditions = set_condition(
            st.conditions, _cond("Accepted", False, "BelowAcceptanceGate", msg, now)
        )
        st.conditions = set_condition(
            st.conditions, _cond("Ready", False, "Rejected", f"rejected: {msg}", now)
        )
        return VersionStep(st, (CountTraining("rejected"),))
    if job.failed or result is None:
        why = job.message or job.reason or parse_problem or "the training job failed"
        if job.succeeded and result is None:
            why = parse_problem or "the trainer left no result in its termination message"
        reason = job.reason or "TrainingFailed"
        st.phase, st.message = Phase.FAILED, f"training failed: {why}"
        st.conditions = set_condition(st.conditions, _cond("Trained", False, reason, why, now))
        st.conditions = set_condition(
            st.conditions, _cond("Ready", False, "Failed", f"training failed: {why}", now)
        )
        return VersionStep(st, (CountTraining("failed"),))
    st.artifact = ArtifactStatus(uri=result.artifact_uri, sha256=result.sha256)
    test = result.metrics["test"]
    summary = ", ".join(f"test {k} {v:.4g}" for k, v in sorted(test.items())) or "no test metrics"
    st.conditions = set_condition(st.conditions, _cond("Trained", True, "JobSucceeded", "", now))
    st.conditions = set_condition(
        st.conditions, _cond("Accepted", True, "AcceptanceGatePassed", summary, now)
    )
    return None


def _with_phase_event(
    old: ModelVersionStatus, step: VersionStep, actions: list[VersionAction]
) -> VersionStep:
    """Add an Event (and the training count) when the phase changed."""
    out = list(actions) + list(step.actions)
    new = step.status
    if new.phase != old.phase:
        warning = new.phase in FINAL_PHASES
        out.append(
            EmitEvent(
                reason=new.phase.value,
                message=new.message or new.phase.value,
                type="Warning" if warning else "Normal",
            )
        )
        if new.phase in (Phase.DEPLOYING, Phase.READY) and old.phase == Phase.TRAINING:
            out.append(CountTraining("succeeded"))
    elif step.actions:
        out = [a for a in out if not isinstance(a, CountTraining)]
    return VersionStep(new, tuple(out))

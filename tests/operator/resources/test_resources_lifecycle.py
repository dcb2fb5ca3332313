"""The ModelVersion lifecycle: training, the acceptance gate, serving, retirement."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.api.v1alpha1 import ModelVersion, ModelVersionPhase
from modelrollout_operator.resources.lifecycle import (
    CountTraining,
    CreateJob,
    EnsureServing,
    JobFacts,
    ScaleServing,
    ServingFacts,
    advance_version,
)
from modelrollout_operator.resources.training import gate_failures, parse_trainer_result
from modelrollout_operator.rollout import EmitEvent

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SHA = "b" * 64
Phase = ModelVersionPhase


def result(accuracy: float, passed: bool = True) -> str:
    return json.dumps({
        "model": "scorer", "version": 2,
        "artifact": {"uri": "s3://m/repo/scorer/2/model.onnx", "sha256": SHA, "format": "onnx"},
        "metrics": {"train": {"accuracy": 0.95}, "validation": {"accuracy": accuracy},
                    "test": {"accuracy": accuracy, "rocAuc": 0.9}},
        "gate": {"passed": passed, "reasons": [] if passed else ["accuracy too low"]},
    })  # fmt: skip


def mv(status: dict[str, Any] | None = None) -> ModelVersion:
    return ModelVersion.model_validate({
        "metadata": {"name": "scorer-v2", "namespace": "ml", "generation": 3},
        "spec": {"model": "scorer", "version": 2, "training": {
            "image": "t", "dataset": "d.csv", "output": "s3://m/repo",
            "acceptance": {"minAccuracy": 0.85}}},
        "status": status,
    })  # fmt: skip


def kinds(actions: tuple[Any, ...]) -> list[str]:
    return [a.kind for a in actions]


def test_a_new_version_starts_its_training_job_once() -> None:
    step = advance_version(mv(), None, None, NOW)
    assert step.status.phase == Phase.TRAINING
    assert step.status.job_name == "scorer-v2-train"
    assert step.status.observed_generation == 3
    assert CreateJob() in step.actions
    # The Job exists and runs: nothing more to create, no second event.
    again = advance_version(mv(step.status.to_wire()), JobFacts(), None, NOW)
    assert again.status.phase == Phase.TRAINING
    assert again.actions == ()


def test_accepted_training_deploys_and_counts_a_success() -> None:
    training = advance_version(mv(), None, None, NOW).status.to_wire()
    step = advance_version(
        mv(training), JobFacts(succeeded=True, termination_message=result(0.9)), None, NOW
    )
    assert step.status.phase == Phase.DEPLOYING
    assert step.status.artifact is not None and step.status.artifact.sha256 == SHA
    assert step.status.metrics is not None and step.status.metrics.test["accuracy"] == 0.9
    assert EnsureServing("s3://m/repo/scorer/2/model.onnx", SHA) in step.actions
    assert CountTraining("succeeded") in step.actions
    ready = advance_version(mv(step.status.to_wire()), None, ServingFacts(1, 1), NOW)
    assert ready.status.phase == Phase.READY
    assert ready.status.endpoint == "http://scorer-v2-server.ml.svc:8000"
    assert any(isinstance(a, EmitEvent) and a.reason == "Ready" for a in ready.actions)


def test_training_below_the_gate_is_rejected_with_the_numbers() -> None:
    training = advance_version(mv(), None, None, NOW).status.to_wire()
    # The trainer exits 3 on a failed gate, so the Job fails; its result still says why.
    step = advance_version(
        mv(training),
        JobFacts(failed=True, reason="PodFailurePolicy", termination_message=result(0.81, False)),
        None,
        NOW,
    )
    assert step.status.phase == Phase.REJECTED
    accepted = next(c for c in step.status.conditions if c.type == "Accepted")
    assert accepted.status == "False"
    assert accepted.message == "test accuracy 0.81 < minAccuracy 0.85"
    assert CountTraining("rejected") in step.actions
    assert any(isinstance(a, EmitEvent) and a.type == "Warning" for a in step.actions)
    # Final: later passes change nothing.
    assert advance_version(mv(step.status.to_wire()), None, None, NOW).actions == ()


def test_a_failed_job_without_result_fails_with_its_reason() -> None:
    training = advance_version(mv(), None, None, NOW).status.to_wire()
    step = advance_version(
        mv(training),
        JobFacts(failed=True, reason="DeadlineExceeded", message="Job was active longer"),
        None,
        NOW,
    )
    assert step.status.phase == Phase.FAILED
    trained = next(c for c in step.status.conditions if c.type == "Trained")
    assert (trained.status, trained.reason) == ("False", "DeadlineExceeded")
    assert "Job was active longer" in step.status.message
    assert CountTraining("failed") in step.actions


def test_retired_versions_scale_to_zero() -> None:
    step = advance_version(mv({"phase": "Retired"}), None, ServingFacts(2, 2), NOW)
    assert step.actions == (ScaleServing(0),)
    assert advance_version(mv({"phase": "Retired"}), None, ServingFacts(0, 0), NOW).actions == ()


def test_trainer_result_errors_are_clear() -> None:
    import pytest

    from modelrollout_operator.resources.training import TrainerResultError

    with pytest.raises(TrainerResultError, match="not JSON"):
        parse_trainer_result("Traceback: boom")
    with pytest.raises(TrainerResultError, match="no artifact"):
        parse_trainer_result('{"metrics": {}}')
    # Log lines may precede the result: the last line counts.
    assert parse_trainer_result("epoch 1\n" + result(0.9)).sha256 == SHA


@given(st.floats(0, 1), st.floats(0, 1))
def test_the_gate_fails_exactly_below_the_bound(accuracy: float, bound: float) -> None:
    from modelrollout_operator.api.v1alpha1 import Acceptance

    reasons = gate_failures(Acceptance(min_accuracy=bound), {"accuracy": accuracy})
    assert bool(reasons) == (accuracy < bound)

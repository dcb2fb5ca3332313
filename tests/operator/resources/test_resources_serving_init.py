"""A serving pod whose init container refuses to start: the ModelVersion says why.

The termination message is the real one: the gateway's `prepare-triton` command run with the
exact arguments the operator renders for the pod, against a tampered local artifact.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from modelrollout_inference.cli import main as gateway_main
from modelrollout_operator.api.v1alpha1 import ModelVersion, ModelVersionPhase
from modelrollout_operator.handlers.versioning import _serving_facts
from modelrollout_operator.resources.lifecycle import (
    INIT_REFUSED_EXIT_CODES,
    ServingFacts,
    advance_version,
    init_failure,
)
from modelrollout_operator.resources.manifests import REPOSITORY_MOUNT, serving_deployment
from modelrollout_operator.rollout import EmitEvent
from tests.support.inpod.podsecurity import violations

NOW = datetime(2026, 1, 1, tzinfo=UTC)
Phase = ModelVersionPhase


def deploying(uri: str, sha: str) -> ModelVersion:
    return ModelVersion.model_validate({
        "metadata": {"name": "scorer-v3", "namespace": "ml", "generation": 1},
        "spec": {"model": "scorer", "version": 3, "artifact": {"uri": uri, "sha256": sha},
                 "serving": {"runtime": "triton", "maxBatchSize": 32}},
        "status": {"phase": "Deploying", "artifact": {"uri": uri, "sha256": sha}},
    })  # fmt: skip


def crash_looping_pod(exit_code: int, message: str) -> dict[str, Any]:
    """What the kubelet reports while it waits to restart a failed init container."""
    return {
        "metadata": {"name": "scorer-v3-server-abc", "labels": {}},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [{
                "name": "prepare", "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": exit_code, "reason": "Error",
                                             "message": message}},
            }],
            "containerStatuses": [{"name": "triton", "ready": False,
                                   "state": {"waiting": {"reason": "PodInitializing"}}}],
        },
    }  # fmt: skip


def not_ready_deployment() -> dict[str, Any]:
    return {"spec": {"replicas": 1}, "status": {"replicas": 1, "readyReplicas": 0}}


def run_rendered_init_container(mv: ModelVersion, tmp_path: Path) -> tuple[int, str]:
    """Run the init container's command line as the operator renders it; exit code, message."""
    body = {"metadata": {"name": "scorer-v3", "namespace": "ml", "uid": "u"}}
    assert mv.status is not None and mv.status.artifact is not None
    dep = serving_deployment(
        body, mv.spec, mv.status.artifact.uri, mv.status.artifact.sha256,
        triton_image="triton", gateway_image="gateway",
    )  # fmt: skip
    (init,) = dep["spec"]["template"]["spec"]["initContainers"]
    assert init["command"] == ["modelrollout-gateway"]
    args = [str(tmp_path / "emptydir") if a == REPOSITORY_MOUNT else a for a in init["args"]]
    termination = tmp_path / "termination-log"
    termination.touch()
    code = gateway_main([*args, "--termination-log", str(termination)])
    return code, termination.read_text()


def repository(tmp_path: Path) -> tuple[Path, str]:
    model = tmp_path / "repo" / "scorer" / "3" / "model.onnx"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"an onnx model, as approved")
    (tmp_path / "repo" / "scorer" / "config.pbtxt").write_text(
        'name: "scorer" max_batch_size: 8 input [{ name: "features" data_type: TYPE_FP32 '
        'dims: [ 3 ] }] output [{ name: "score" data_type: TYPE_FP32 dims: [ 1 ] }]'
    )
    return model, hashlib.sha256(model.read_bytes()).hexdigest()


def test_a_tampered_artifact_fails_the_version_and_its_status_names_the_file_and_both_hashes(
    tmp_path: Path,
) -> None:
    model, approved = repository(tmp_path)
    model.write_bytes(b"an onnx model, swapped after approval")
    tampered = hashlib.sha256(model.read_bytes()).hexdigest()
    mv = deploying(str(model), approved)
    code, message = run_rendered_init_container(mv, tmp_path)
    assert code == 3

    facts = _serving_facts(not_ready_deployment(), [crash_looping_pod(code, message)])
    step = advance_version(mv, None, facts, NOW)

    assert step.status.phase == Phase.FAILED
    for words in (str(model), approved, tampered, "init container prepare exited 3"):
        assert words in (step.status.message or ""), words
    ready = next(c for c in step.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "ArtifactRejected")
    assert tampered in ready.message
    (event,) = [a for a in step.actions if isinstance(a, EmitEvent)]
    assert (event.type, event.reason) == ("Warning", "Failed")
    # Final: a later pass (the pod still crash-looping) changes nothing and emits nothing.
    again = advance_version(
        deploying(str(model), approved).model_copy(update={"status": step.status}),
        None,
        facts,
        NOW,
    )
    assert again.status.phase == Phase.FAILED and again.actions == ()


def test_an_intact_artifact_lets_the_version_become_ready(tmp_path: Path) -> None:
    model, approved = repository(tmp_path)
    mv = deploying(str(model), approved)
    assert run_rendered_init_container(mv, tmp_path) == (0, "")
    served = sorted(p.relative_to(tmp_path / "emptydir").as_posix()
                    for p in (tmp_path / "emptydir").rglob("*") if p.is_file())  # fmt: skip
    assert served == ["scorer/3/model.onnx", "scorer/config.pbtxt"]
    ready = {"spec": {"replicas": 1}, "status": {"replicas": 1, "readyReplicas": 1}}
    step = advance_version(mv, None, _serving_facts(ready, []), NOW)
    assert step.status.phase == Phase.READY


def test_a_fetch_that_failed_keeps_the_version_deploying_and_says_why(tmp_path: Path) -> None:
    model, approved = repository(tmp_path)
    model.unlink()  # the bucket is unreachable, or the object not there yet
    mv = deploying(str(model), approved)
    code, message = run_rendered_init_container(mv, tmp_path)
    assert code == 1 and str(model) in message
    step = advance_version(
        mv, None, _serving_facts(not_ready_deployment(), [crash_looping_pod(code, message)]), NOW
    )
    assert step.status.phase == Phase.DEPLOYING
    assert str(model) in (step.status.message or "")
    ready = next(c for c in step.status.conditions if c.type == "Ready")
    assert ready.reason == "ServingInitFailing"


def test_a_ready_deployment_is_not_failed_by_an_old_pods_refusal() -> None:
    mv = deploying("/repo/scorer/3/model.onnx", "a" * 64)
    facts = ServingFacts(2, 1, init_failure=init_failure([crash_looping_pod(3, "refused")]))
    assert advance_version(mv, None, facts, NOW).status.phase == Phase.READY


_codes = st.integers(-255, 255)
_status = st.fixed_dictionaries(
    {},
    optional={
        "state": st.one_of(
            st.just({"running": {}}),
            st.builds(lambda c: {"terminated": {"exitCode": c, "message": f"m{c}"}}, _codes),
        ),
        "lastState": st.builds(
            lambda c: {"terminated": {"exitCode": c, "message": f"m{c}"}}, _codes
        ),
    },
).map(lambda d: {"name": "prepare", **d})
_pods = st.lists(
    st.lists(_status, max_size=3).map(lambda s: {"status": {"initContainerStatuses": s}}),
    max_size=4,
)


@given(_pods)
def test_init_failure_reports_a_refusal_whenever_any_pod_shows_one(
    pods: list[dict[str, Any]],
) -> None:
    found = init_failure(pods)
    codes = []
    for pod in pods:
        for cs in pod["status"]["initContainerStatuses"]:
            # A run that ended (even with 0) is the current word; else the last run's.
            term = (cs.get("state") or {}).get("terminated")
            if term is None:
                term = (cs.get("lastState") or {}).get("terminated") or {}
            if term.get("exitCode"):
                codes.append(term["exitCode"])
    if not codes:
        assert found is None
        return
    assert found is not None and found.exit_code in codes
    assert found.refused == any(c in INIT_REFUSED_EXIT_CODES for c in codes)


def test_triton_pod_and_its_init_container_meet_pod_security_restricted() -> None:
    mv = deploying("s3://m/repo/scorer/3/model.onnx", "a" * 64)
    dep = serving_deployment(
        {"metadata": {"name": "scorer-v3", "namespace": "ml"}}, mv.spec,
        "s3://m/repo/scorer/3/model.onnx", "a" * 64, triton_image="t", gateway_image="g",
    )  # fmt: skip
    pod = dep["spec"]["template"]["spec"]
    assert violations(pod) == []
    (init,) = pod["initContainers"]
    (triton,) = pod["containers"]
    assert init["securityContext"] == triton["securityContext"]
    assert init["securityContext"]["readOnlyRootFilesystem"] is True
    # the one-version repository is an emptyDir: allowed under "restricted", pod-private
    repository = next(v for v in pod["volumes"] if v["name"] == "model-repository")
    assert set(repository) == {"name", "emptyDir"}


def test_a_succeeded_init_container_is_not_reported_for_an_earlier_failed_run() -> None:
    pod = crash_looping_pod(1, "S3 unreachable")
    pod["status"]["initContainerStatuses"][0]["state"] = {"terminated": {"exitCode": 0}}
    assert init_failure([pod]) is None

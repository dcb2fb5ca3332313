"""ModelVersions under faults: a recreated version never inherits the old Job's result, and its
status writes are conditional on the resourceVersion they were decided from."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fault_harness import NS, Clock
from faulty_api import FakePrometheus, FaultyApi

from modelrollout_operator.handlers.services import Services
from modelrollout_operator.handlers.versioning import version_pass
from modelrollout_operator.k8s.client import Conflict
from modelrollout_operator.resources.naming import job_name

NAME = "churn-v3"
RESULT = {
    "model": "churn",
    "version": 3,
    "artifact": {"uri": "s3://models/repo/churn/3/model.onnx", "sha256": "b" * 64,
                 "format": "onnx", "repository": "s3://models/repo"},
    "metrics": {"test": {"accuracy": 0.99}},
    "gate": {"passed": True, "reasons": []},
}  # fmt: skip


def trained_version(uid: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": NAME, "namespace": NS, "uid": uid},
        "spec": {
            "model": "churn",
            "version": 3,
            "training": {
                "image": "trainer:1",
                "dataset": "s3://data/d.csv",
                "output": "s3://models/repo",
            },
        },
    }


def finished_job(owner_uid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(NAME), "namespace": NS, "uid": "job-old",
                     "ownerReferences": [{"kind": "ModelVersion", "name": NAME,
                                          "uid": owner_uid}]},
        "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
    }  # fmt: skip
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{job_name(NAME)}-x", "namespace": NS,
                     "labels": {"job-name": job_name(NAME)},
                     "ownerReferences": [{"kind": "Job", "name": job_name(NAME),
                                          "uid": "job-old"}]},
        "status": {"containerStatuses": [{"name": "trainer", "state": {"terminated": {
            "exitCode": 0, "message": json.dumps(RESULT),
            "finishedAt": "2026-01-01T00:00:00Z"}}}]},
    }  # fmt: skip
    return job, pod


async def test_a_recreated_modelversion_never_inherits_the_old_jobs_result(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    job, pod = finished_job(owner_uid="uid-of-the-deleted-one")
    api.put("jobs", NS, job)
    api.put("pods", NS, pod)
    api.put("modelversions", NS, trained_version(uid="uid-of-the-new-one"))
    await version_pass(services, NS, NAME)
    st = (api.get("modelversions", NS, NAME) or {}).get("status") or {}
    assert st.get("phase") in ("Pending", "Training"), st
    assert "artifact" not in st, "the old Job's model is not this version's"
    deletes = [r for r in api.log if r.method == "DELETE" and r.plural == "jobs"]
    assert deletes and deletes[0].body["preconditions"] == {"uid": "job-old"}
    # Once it is gone, this version's own Job is created.
    await version_pass(services, NS, NAME)
    new_job = api.get("jobs", NS, job_name(NAME))
    assert new_job is not None
    assert new_job["metadata"]["ownerReferences"][0]["uid"] == "uid-of-the-new-one"


async def test_its_own_job_is_still_followed(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    job, pod = finished_job(owner_uid="uid-1")
    api.put("jobs", NS, job)
    api.put("pods", NS, pod)
    api.put("modelversions", NS, trained_version(uid="uid-1"))
    await version_pass(services, NS, NAME)
    st = (api.get("modelversions", NS, NAME) or {}).get("status") or {}
    assert st["artifact"]["sha256"] == "b" * 64


async def test_a_modelversion_status_write_is_conditional_and_a_409_is_decided_again(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    api.put("modelversions", NS, trained_version(uid="uid-1"))
    api.fail("PATCH", "modelversions", subresource="status", status=409)
    with pytest.raises(Conflict):
        await version_pass(services, NS, NAME)
    await version_pass(services, NS, NAME)  # the daemon's next pass
    writes = [r for r in api.log if r.plural == "modelversions" and r.method == "PATCH"]
    assert all(r.body.get("metadata", {}).get("resourceVersion") for r in writes), writes
    st = (api.get("modelversions", NS, NAME) or {}).get("status") or {}
    assert st["phase"] == "Training"
    assert len([j for j in api.of("jobs")]) == 1


async def test_an_invalid_modelversion_is_reported_and_picked_up_once_fixed(
    api: FaultyApi, prometheus: FakePrometheus, services: Services, clock: Clock
) -> None:
    body = trained_version(uid="uid-1")
    body["spec"]["serving"] = {"runtime": "onnxruntime", "gpus": 1}  # gpus need triton
    api.put("modelversions", NS, body)
    for _ in range(3):
        step = await version_pass(services, NS, NAME)
        assert step is not None, "the daemon must keep watching an invalid ModelVersion"
    st = (api.get("modelversions", NS, NAME) or {}).get("status") or {}
    cond = next(c for c in st["conditions"] if c["type"] == "SpecValid")
    assert cond["status"] == "False" and "gpus" in cond["message"]
    assert len([e for e in api.of("events") if e.get("reason") == "InvalidSpec"]) == 1
    fixed = api.get("modelversions", NS, NAME)
    assert fixed is not None
    fixed["spec"]["serving"] = {"runtime": "onnxruntime"}
    api.put("modelversions", NS, fixed)
    await version_pass(services, NS, NAME)
    st = (api.get("modelversions", NS, NAME) or {}).get("status") or {}
    assert st["phase"] == "Training"
    assert not any(c["type"] == "SpecValid" for c in st["conditions"])

"""Continuous learning through the operator process (kopf, emulator, a real Prometheus, a moto
S3 server): a Model whose labels reach the threshold trains version N+1 (the Job's first step,
the trainer's dataset builder, run for real against S3), canaries it against the version in
service and promotes it; a worse retrained version is rolled back and the one in service
stays; a retrain below its gate is recorded and nothing is rolled out; the operator killed
while a version trains and while its Experiment runs neither repeats nor skips a training."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from modelrollout_operator.handlers.models import MODELS
from modelrollout_operator.k8s.client import EXPERIMENTS, MODELVERSIONS, KubeClient
from modelrollout_trainer import cli as trainer_cli
from tests.operator.e2e.conftest import events_eventually, wait_until
from tests.operator.e2e.scenarios import (
    NS,
    every_half_second,
    prebuilt_version,
    server_fields,
    status_of,
)
from tests.support.kubernetes import FakeKubelet, TrainingOutcome, objects_of

# Test accuracy each retrained version reports (gate 0.8) and how it then does live.
OFFLINE = {2: 0.91, 3: 0.86, 4: 0.7}
LIVE = {2: 0.95, 3: 0.6}


@pytest.fixture()
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}")
    for bucket in ("logs", "data"):
        client.create_bucket(Bucket=bucket)
    yield client
    server.stop()


def _upload_log(s3: Any) -> None:
    """The gateway's uploaded prediction log: 30 labelled requests of the last hour."""
    at = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = []
    for i in range(30):
        x = float(i % 7)
        lines += [
            {"kind": "prediction", "requestId": f"r{i}", "time": at, "model": "scorer",
             "version": "1", "route": "stable", "inputs": {"features": [[x, -x]]},
             "outputs": {"score": [[0.5]]}},
            {"kind": "feedback", "requestId": f"r{i}", "time": at, "model": "scorer",
             "version": "1", "label": i % 2, "correct": True},
        ]  # fmt: skip
    body = "".join(json.dumps(r) + "\n" for r in lines).encode()
    s3.put_object(Bucket="logs", Key="gw/predictions-20261201T000000Z-1.jsonl", Body=body)


def model() -> dict[str, Any]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "Model",
        "metadata": server_fields("scorer"),
        "spec": {
            "versionTemplate": {"training": {
                "image": "trainer:1", "output": "s3://models/repo",
                "acceptance": {"minAccuracy": 0.8}}},
            "data": {"predictionLog": {"uri": "s3://logs/gw", "window": "24h",
                                       "minLabelledRows": 20},
                     "output": "s3://data/built"},
            "triggers": {"newLabelledRows": 400, "minInterval": "2s"},
            "experiment": {
                "strategy": {"type": "canary",
                             "canary": {"steps": [{"weight": 50, "bake": "1s"},
                                                  {"weight": 100, "bake": "1s"}]}},
                "analysis": {"interval": "1s", "failureLimit": 2, "alpha": 0.05,
                             "noData": {"policy": "hold", "after": "10s"},
                             "metrics": [{"name": "accuracy", "kind": "accuracy",
                                          "maxDegradation": 0.05, "minSamples": 100}]},
                "promotion": {"scaleDownDelay": "1s"},
            },
            "historyLimit": 10,
        },
    }  # fmt: skip


def _result(version: int) -> str:
    acc = OFFLINE[version]
    return json.dumps({
        "model": "scorer", "version": version,
        "artifact": {"uri": f"s3://models/repo/scorer/{version}/model.onnx", "sha256": "e" * 64},
        "metrics": {"test": {"accuracy": acc}}, "gate": {"passed": acc >= 0.8, "reasons": []},
    })  # fmt: skip


class Trainer:
    """Plays the training pods: runs each Job's first step (build-dataset) for real against
    S3, then hands the trainer's result to the fake kubelet, once `release`d."""

    def __init__(self, cluster: Any, kubelet: FakeKubelet, tmp: Path) -> None:
        self.cluster, self.kubelet, self.tmp = cluster, kubelet, tmp
        self.released: set[int] = set()
        self.built: dict[str, dict[str, Any]] = {}

    def init_statuses(self) -> None:
        """The kubelet's record of each finished dataset step: its termination message."""
        for ns, name, pod in objects_of(self.cluster, "pods"):
            job = name.removesuffix("-pod")
            if job in self.built and not (pod.get("status") or {}).get("initContainerStatuses"):
                term = {"exitCode": 0, "message": json.dumps(self.built[job])}
                self.cluster.objects[("v1/pods", ns, name)].patch({"status": {
                    "initContainerStatuses": [{"name": "dataset",
                                               "state": {"terminated": term}}]}})  # fmt: skip

    async def run(self) -> None:
        while True:
            self.init_statuses()
            for _, name, job in objects_of(self.cluster, "jobs"):
                version = int(name.removeprefix("scorer-v").removesuffix("-train"))
                if name in self.built or version not in self.released:
                    continue
                (step,) = job["spec"]["template"]["spec"]["initContainers"]
                log = self.tmp / f"{name}.term"
                log.write_text("")
                code = await asyncio.to_thread(
                    trainer_cli.main, [*step["args"], "--termination-log", str(log)]
                )
                assert code == 0, f"build-dataset exited {code}"
                self.built[name] = json.loads(log.read_text())
                self.kubelet.outcomes[name] = TrainingOutcome(
                    _result(version), succeed=OFFLINE[version] >= 0.8
                )
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def labelled_traffic(kube: KubeClient, cluster: Any, source: Any) -> AsyncIterator[None]:
    """Every 0.5 s: the version in service answers 100 labelled requests (90% right), and a
    running Experiment's candidate 100 more at its live accuracy."""

    async def tick() -> None:
        st = await status_of(kube, "scorer", MODELS)
        serving = st.get("inServiceVersion") or 1
        source.serve(str(serving), "stable", requests=100, correct=90)
        for _, _, exp in objects_of(cluster, "experiments"):
            if (exp.get("status") or {}).get("phase") in ("Progressing", "Pending", None):
                candidate = int(exp["spec"]["candidate"].removeprefix("scorer-v"))
                acc = LIVE[candidate]
                source.serve(str(candidate), "candidate", requests=100,
                             correct=round(100 * acc))  # fmt: skip

    async with every_half_second(tick):
        yield


async def _statuses(kube: KubeClient) -> str:
    out = [json.dumps(await status_of(kube, "scorer", MODELS))[:3000]]
    for name in ("scorer-v2-rollout", "scorer-v3-rollout"):
        out.append(name + ": " + json.dumps(await status_of(kube, name, EXPERIMENTS))[:1500])
    return "\n".join(out)


async def test_model_retrains_from_its_labels_promotes_rolls_back_and_rejects_across_restarts(
    cluster: Any, kube: KubeClient, kubelet: FakeKubelet, gateway_metrics: Any, prometheus: Any,
    start_operator: Any, s3: Any, tmp_path: Path,
) -> None:  # fmt: skip
    for version in ("3", "4"):
        gateway_metrics.touch(version, "candidate")
    _upload_log(s3)
    trainer = Trainer(cluster, kubelet, tmp_path)
    trainer_task = asyncio.get_running_loop().create_task(trainer.run())
    op = await start_operator()
    try:
        await kube.create(MODELVERSIONS, NS, prebuilt_version("scorer-v1", 1))
        await kube.create(MODELS, NS, model())

        async def in_service() -> int | None:
            return (await status_of(kube, "scorer", MODELS)).get("inServiceVersion")

        assert await wait_until(in_service, 60, "v1 adopted", op) == 1
        await asyncio.to_thread(
            prometheus.wait_for_series, 'modelrollout_feedback_total{version="1"}'
        )
        async with labelled_traffic(kube, cluster, gateway_metrics):
            # 1. Labels reach the threshold: version 2 is created. Kill the operator while it
            #    trains; the new one follows the same training (no second version).
            await wait_until(lambda: kube.get(MODELVERSIONS, NS, "scorer-v2"), 30, "v2", op)
            op.kill()
            op = await start_operator()
            await asyncio.sleep(1.0)
            assert await kube.get(MODELVERSIONS, NS, "scorer-v3") is None
            trainer.released.add(2)

            async def promoted() -> bool:
                return await in_service() == 2

            await wait_until(promoted, 60, "v2 canaried and promoted", op)
            assert trainer.built["scorer-v2-train"]["rows"] == 30  # the S3 log's window
            # 2. Version 3 trains on the next labels, passes its gate, but is worse live.
            trainer.released.add(3)

            async def v3_canary() -> bool:
                st = await status_of(kube, "scorer-v3-rollout", EXPERIMENTS)
                return st.get("phase") == "Progressing"

            await wait_until(v3_canary, 60, "v3's Experiment under way", op)
            op.kill()  # while the Experiment runs
            op = await start_operator()

            async def v3_recorded() -> dict[str, Any] | None:
                st = await status_of(kube, "scorer", MODELS)
                return st if any(h["version"] == 3 and h["outcome"] == "RolledBack"
                                 for h in st.get("history", [])) else None  # fmt: skip

            try:
                st = await wait_until(v3_recorded, 60, "v3 rolled back and recorded", op)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{await _statuses(kube)}") from None
            assert st["inServiceVersion"] == 2
            # 3. Version 4 fails its gate: recorded, nothing rolled out.
            trainer.released.add(4)

            async def v4_recorded() -> dict[str, Any] | None:
                st = await status_of(kube, "scorer", MODELS)
                return st if any(h["version"] == 4 and h["outcome"] == "Rejected"
                                 for h in st.get("history", [])) else None  # fmt: skip

            st = await wait_until(v4_recorded, 60, "v4 rejected and recorded", op)
    finally:
        trainer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trainer_task

    assert st["inServiceVersion"] == 2 and st["inService"] == "scorer-v2"
    outcomes = [(h["version"], h["outcome"]) for h in st["history"]]
    assert outcomes == [(1, "Adopted"), (2, "Promoted"), (3, "RolledBack"), (4, "Rejected")]
    assert st["history"][1]["metrics"]["accuracy"] == 0.91
    assert [h.get("datasetRows") for h in st["history"]] == [None, 30, 30, 30]
    assert "new labelled rows" in st["history"][1]["trigger"]
    # Neither repeated nor skipped: one Job per version 2..4, no Experiment for version 4.
    jobs = sorted(n for _, n, _ in objects_of(cluster, "jobs"))
    assert jobs == ["scorer-v2-train", "scorer-v3-train", "scorer-v4-train"]
    exps = sorted(n for _, n, _ in objects_of(cluster, "experiments"))
    assert exps == ["scorer-v2-rollout", "scorer-v3-rollout"]
    v3 = await status_of(kube, "scorer-v3-rollout", EXPERIMENTS)
    assert v3["phase"] == "RolledBack"
    expected = {"Adopted", "TrainingStarted", "RolloutStarted", "Promoted", "RolledBack",
                "Rejected"}  # fmt: skip
    await events_eventually(
        cluster, "scorer", lambda evs: expected <= {e["reason"] for e in evs},
        f"the Model's events {sorted(expected)}",
    )  # fmt: skip

"""The cluster the in-pod scenarios run in, plus the user's side (objects, artifacts, traffic).

The chart is rendered with test values and runs behind the API front (`Harness`: TLS, tokens,
the chart's RBAC, admission, Pod Security "restricted" in the users' namespace): its operator and
gateway start as pods from the rendered Deployments with their ServiceAccounts' files. The
kubelet stand-in runs what the operator creates (Jobs, serving Deployments) on the pod network;
the gateway resolves their Service names through a hosts file kept by that network. A real
Prometheus scrapes the gateway and the operator queries it. Users act as the cluster admin,
through the front.

A user's S3 settings reach the pods as a user sets them: a Secret with AWS_* variables named by
the ModelVersion's `credentialsSecret`. S3 is a moto server on the pod bridge's host address (pods
cannot reach the host's loopback); it is still only reachable from this machine.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import numpy as np

from modelrollout_operator.local.loading import LoadGenerator, LoadProfile, read_sample
from tests.support.kubernetes import register_resources
from tests.support.prometheus import PrometheusServer

from .authn import ServiceAccount
from .chart import CHART, render
from .harness import RESTRICTED, Harness
from .kubelet import Kubelet, PodRun
from .network import PodNetwork
from .pods import Mount, PodProcess

NS = "ml"  # the users' namespace: Pod Security "restricted" enforced
SYSTEM_NS = "mr-system"  # the chart's release namespace
DATA_BUCKET, MODELS_BUCKET = "data", "models"
CREDENTIALS = "s3-credentials"
TRAINER_IMAGE = "ghcr.io/model-rollout/trainer:0.1.0"
GROUP = "/apis/modelrollout.dev/v1alpha1"
# The emulator serves no Namespaces: the API front keeps their labels (Pod Security reads them).
NAMESPACE_LABELS: dict[str, dict[str, str]] = {SYSTEM_NS: {}, NS: dict(RESTRICTED)}


def chart_values(prometheus_url: str, chart: Path = CHART) -> list[str]:
    """What a platform engineer sets: where Prometheus is, one gateway; short poll intervals."""
    feedback = []
    if "\nfeedback:" in (chart / "values.yaml").read_text():
        # One gateway replica keeps its predictions in memory (no Redis pod to stand in); the
        # labelling client here is the test itself.
        feedback = ["feedback.store=memory", "feedback.auth.enabled=false"]
    return [
        *feedback,
        "gateway.replicas=1",
        "gateway.settings.logLevel=info",
        f"operator.settings.prometheusUrl={prometheus_url}",
        "operator.settings.prometheusTimeout=2",
        "operator.settings.versionPollInterval=0.5",
        "operator.settings.readyPollInterval=1",
        "operator.settings.startupSpread=0",
    ]


def experiment(name: str, *, baseline: str, candidate: str) -> dict[str, Any]:
    """A canary in two 1 s steps, judged each second on accuracy and errors (small samples)."""
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": "scorer",
            "baseline": baseline,
            "candidate": candidate,
            "strategy": {"type": "canary", "canary": {"steps": [
                {"weight": 25, "bake": "1s"}, {"weight": 50, "bake": "1s"}]}},
            "routing": {"stickyBy": "x-user-id"},
            "analysis": {
                "interval": "1s",
                "failureLimit": 1,
                "alpha": 0.05,
                "noData": {"policy": "hold", "after": "20s"},
                "metrics": [
                    {"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.3,
                     "minSamples": 30},
                    {"name": "errors", "kind": "errorRate", "max": 0.05, "window": "10s",
                     "minSamples": 20},
                ],
            },
        },
    }  # fmt: skip


def inverted_model(onnx_bytes: bytes) -> bytes:
    """The same network answering 1 - score: a candidate that is wrong where the other is right."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(onnx_bytes)
    graph = model.graph
    out = graph.output[0].name
    for node in graph.node:
        node.output[:] = [f"{out}_raw" if o == out else o for o in node.output]
    graph.initializer.append(numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"))
    graph.node.append(helper.make_node("Sub", ["one", f"{out}_raw"], [out]))
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class InpodCluster:
    """Everything started and stopped in order; `describe()` for failure messages."""

    def __init__(self, emulator: Any, workdir: Path) -> None:
        self.emulator = emulator
        self.workdir = workdir
        self.api = ""  # paths go to the front (the admin session's base URL)
        self.network = PodNetwork()
        self.tmp = tempfile.TemporaryDirectory(prefix="inpod-scenario-")
        self.moto: Any = None
        self.s3: Any = None
        self.harness: Harness | None = None
        self.kubelet: Kubelet | None = None
        self.prometheus: PrometheusServer | None = None
        self.gateway: PodProcess | None = None
        self.operator: PodProcess | None = None
        self.gateway_url = ""
        self.adds_server_fields = False  # the front does, as an API server
        self.load_stats: Counter[str] = Counter()
        self._http: aiohttp.ClientSession | None = None

    # -- start and stop -------------------------------------------------------------------------

    async def start(self) -> None:
        register_resources(self.emulator)
        self.network.start()
        self._start_s3()
        self.prometheus = PrometheusServer([])
        # INPOD_CHART: another checkout's chart (with its code on PYTHONPATH), e.g. to show what
        # the harness says about an older release.
        chart_dir = Path(os.environ.get("INPOD_CHART") or CHART)
        values = chart_values(self.prometheus.url, chart_dir)
        chart = render(values, namespace=SYSTEM_NS, chart=chart_dir)
        self.harness = Harness(
            emulator=self.emulator, chart=chart, workdir=self.workdir,
            namespaces={k: dict(v) for k, v in NAMESPACE_LABELS.items()},
        )  # fmt: skip
        await self.harness.start()
        self._http = self.harness.session()
        await self.create({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": CREDENTIALS, "namespace": NS},
            "stringData": {
                "AWS_ENDPOINT_URL": self.s3_url, "AWS_ACCESS_KEY_ID": "inpod",
                "AWS_SECRET_ACCESS_KEY": "inpod-secret", "AWS_DEFAULT_REGION": "us-east-1"},
        })  # fmt: skip
        harness = self.harness

        def account_files(namespace: str, name: str) -> Path:
            return harness.account(ServiceAccount(namespace, name)).root

        self.kubelet = Kubelet(
            str(self.emulator.url), self.network, service_account_files=account_files,
            poll=0.4, probe_period=0.5, backoff=0.5,
        )  # fmt: skip
        await self.kubelet.start()
        # The gateway pod runs on the host's network (the harness's pods do): its /etc/hosts
        # comes from the pod network, so the operator's endpoints (<svc>.<ns>.svc) resolve.
        hosts = self.network.hosts_file(f"{SYSTEM_NS}/gateway", ip="127.0.0.1")
        self.gateway = harness.launch("gateway", extra_mounts=[Mount(hosts, "/etc/hosts", True)])
        port = self._port("gateway", "http")
        self.gateway_url = f"http://{self.gateway.pod_ip}:{port}"
        self.prometheus.targets = [f"{self.gateway.pod_ip}:{port}"]
        self.prometheus.start()
        self.operator = harness.launch("operator")

    def pods(self) -> list[PodRun]:
        """The pods the kubelet stand-in runs (and ran)."""
        assert self.kubelet is not None
        return self.kubelet.pods()

    def _port(self, component: str, name: str) -> int:
        assert self.harness is not None
        spec = self.harness.chart.deployment(component)["spec"]["template"]["spec"]
        return int(next(p["containerPort"] for p in spec["containers"][0]["ports"]
                        if p["name"] == name))  # fmt: skip

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self.harness is not None:
            await self.harness.stop()
        if self.kubelet is not None:
            await self.kubelet.stop()
        if self.prometheus is not None:
            self.prometheus.close()
        if self.moto is not None:
            self.moto.stop()
        self.network.close()
        self.tmp.cleanup()

    def _start_s3(self) -> None:
        from moto.server import ThreadedMotoServer

        port = _free_port(self.network.host_ip)
        self.moto = ThreadedMotoServer(ip_address=self.network.host_ip, port=port, verbose=False)
        self.moto.start()
        self.s3_url = f"http://{self.network.host_ip}:{port}"
        self.s3 = boto3.client("s3", endpoint_url=self.s3_url, region_name="us-east-1",
                               aws_access_key_id="inpod", aws_secret_access_key="inpod-secret")  # fmt: skip
        for bucket in (DATA_BUCKET, MODELS_BUCKET):
            self.s3.create_bucket(Bucket=bucket)
        from modelrollout_trainer.synthesizing import SynthSpec, synthesize

        frame = synthesize(SynthSpec(rows=3000, seed=1, rule_seed=0))
        sample = Path(self.tmp.name) / "scoring.csv"
        frame.to_csv(sample, index=False)
        self.s3.upload_file(str(sample), DATA_BUCKET, "scoring.csv")
        self.sample = read_sample(sample)

    def refusals(self) -> str:
        """Requests of the chart's service accounts (or with no valid token) the front refused
        (401/403/400/422), each kind once with its count."""
        assert self.harness is not None
        seen: Counter[str] = Counter()
        for r in self.harness.refusals():
            if r.user and not r.user.startswith(f"system:serviceaccount:{SYSTEM_NS}:"):
                continue
            seen[f"{r.code} {r.user or '<no valid token>'} {r.verb} {r.resource} in "
                 f"{r.namespace}: {r.message[:400]}"] += 1  # fmt: skip
        return "\n".join(f"  {n} x {line}" for line, n in seen.most_common(20))

    def describe(self) -> str:
        kubelet = self.kubelet.describe() if self.kubelet else ""
        states = []
        for (res, _ns, name), obj in list(self.emulator.objects.items()):
            if getattr(res, "plural", None) in ("experiments", "modelversions") and not obj.deleted:
                st = dict(obj.raw).get("status") or {}
                states.append(f"  {res.plural}/{name}: {st.get('phase')} {st.get('message')}")
        if self.prometheus is not None and self.prometheus.alive():
            for query in ("sum by (version) (modelrollout_feedback_total)",
                          "sum by (version) (modelrollout_requests_total)"):  # fmt: skip
                try:
                    series = self.prometheus.series(query)
                    states.append(f"  {query}: " + ", ".join(
                        f"{r['metric'].get('version')}={r['value'][1]}" for r in series))  # fmt: skip
                except Exception as exc:
                    states.append(f"  {query}: {exc!r}")
        pods = self.harness.describe() if self.harness else ""
        states.append(f"  answered so far (finished traffic): {dict(self.load_stats)}")
        return ("=== objects\n" + "\n".join(states) + "\n"
                f"=== refused by the API front\n{self.refusals()}\n{pods}\n"
                f"=== pods run by the kubelet stand-in\n{kubelet}")  # fmt: skip

    # -- the user's side ------------------------------------------------------------------------

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self._http is not None
        api_version, kind = body["apiVersion"], body["kind"]
        plural = {"Namespace": "namespaces", "Secret": "secrets", "ModelVersion": "modelversions",
                  "Experiment": "experiments"}[kind]  # fmt: skip
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        ns = body["metadata"].get("namespace")
        path = f"{base}/namespaces/{ns}/{plural}" if ns else f"{base}/{plural}"
        if self.adds_server_fields:
            # What a real API server adds on create and the bare emulator does not (kopf's
            # JSON patches test resourceVersion).
            name = body["metadata"]["name"]
            body = {**body, "metadata": {"uid": f"uid-{ns}-{name}", "resourceVersion": "1",
                                         "generation": 1, **body["metadata"]}}  # fmt: skip
        async with self._http.post(self.api + path, json=body) as resp:
            data: dict[str, Any] = await resp.json(content_type=None)
            assert resp.status < 400, f"create {kind} {body['metadata']['name']}: {data}"
            return data

    async def status(self, plural: str, name: str) -> dict[str, Any]:
        assert self._http is not None
        async with self._http.get(f"{self.api}{GROUP}/namespaces/{NS}/{plural}/{name}") as resp:
            if resp.status == 404:
                return {}
            data = await resp.json(content_type=None)
        return dict(data.get("status") or {})

    async def ready(self, name: str) -> dict[str, Any] | None:
        status = await self.status("modelversions", name)
        return status if status.get("phase") == "Ready" else None

    async def create_trained_version(self, name: str, version: int) -> None:
        await self.create({
            "apiVersion": "modelrollout.dev/v1alpha1", "kind": "ModelVersion",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"model": "scorer", "version": version,
                     "training": {"image": TRAINER_IMAGE,
                                  "dataset": f"s3://{DATA_BUCKET}/scoring.csv",
                                  "output": f"s3://{MODELS_BUCKET}/repo",
                                  "hyperparameters": {"epochs": 12, "hidden": [32],
                                                      "batchSize": 128, "learningRate": 0.01,
                                                      "patience": 3},
                                  "resources": {"cpu": "500m", "memory": "1Gi"},
                                  "acceptance": {"minAccuracy": 0.7},
                                  "retries": 0, "deadline": "5m",
                                  "credentialsSecret": CREDENTIALS},
                     "serving": {"runtime": "onnxruntime", "credentialsSecret": CREDENTIALS}},
        })  # fmt: skip

    async def create_prebuilt_version(
        self, name: str, version: int, model: bytes, *, runtime: str = "onnxruntime"
    ) -> None:
        import hashlib

        key = f"repo/scorer/{version}/model.onnx"
        self.s3.put_object(Bucket=MODELS_BUCKET, Key=key, Body=model)
        await self.create({
            "apiVersion": "modelrollout.dev/v1alpha1", "kind": "ModelVersion",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"model": "scorer", "version": version,
                     "artifact": {"uri": f"s3://{MODELS_BUCKET}/{key}", "format": "onnx",
                                  "sha256": hashlib.sha256(model).hexdigest()},
                     "serving": {"runtime": runtime, "credentialsSecret": CREDENTIALS}},
        })  # fmt: skip

    async def artifact_bytes(self, model: str, version: int) -> bytes:
        obj = self.s3.get_object(Bucket=MODELS_BUCKET, Key=f"repo/{model}/{version}/model.onnx")
        data: bytes = obj["Body"].read()
        return data

    async def infer(self, base: str, *, version: str | None = None) -> dict[str, Any]:
        path = "/v2/models/scorer" + (f"/versions/{version}" if version else "") + "/infer"
        body = {"inputs": [{"name": "features", "shape": [1, self.sample.features.shape[1]],
                            "datatype": "FP32", "data": self.sample.features[0].tolist()}]}  # fmt: skip
        async with aiohttp.ClientSession() as http, http.post(base + path, json=body) as resp:
            data: dict[str, Any] = await resp.json(content_type=None)
            assert resp.status == 200, data
            return data

    @contextlib.asynccontextmanager
    async def traffic(self, rate: float) -> AsyncIterator[None]:
        """Labelled requests through the gateway, each user sticky, labels 0.2 s later."""
        load = LoadGenerator(
            self.gateway_url, "scorer", self.sample,
            LoadProfile(rate=rate, users=500, feedback_delay=0.2, concurrency=12, timeout=10),
        )  # fmt: skip
        await load.start()
        try:
            yield
        finally:
            stats = await load.stop()
            self.load_stats.update(stats.answered)


__all__ = ["MODELS_BUCKET", "NS", "InpodCluster", "experiment", "inverted_model"]

"""After the promotion, with the real operator, a real Prometheus and real webhook receivers:
a regression inside the holdback window rolls back to the previous version, `modelrollout undo`
restores it in one command, a clean window retires it; every transition is a signed webhook
call, and receivers that are down or slow hold up no pass."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from modelrollout_operator.k8s.client import (
    CONFIGMAPS,
    EXPERIMENTS,
    MODELVERSIONS,
    KubeClient,
    Resource,
)
from modelrollout_operator.notifying import SIGNATURE_HEADER, verify
from tests.operator.e2e.conftest import events_eventually, operator_with_ready_versions, wait_until
from tests.operator.e2e.scenarios import NS, experiment, status_of, traffic
from tests.support.webhooks import WebhookReceiver, down_url

SECRETS = Resource("", "v1", "secrets")
KEY = b"webhook-signing-key"


@pytest.fixture()
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = WebhookReceiver()
    await r.start()
    yield r
    await r.stop()


async def _signed_notify(kube: KubeClient, url: str, *extra: dict[str, Any]) -> dict[str, Any]:
    await kube.create(SECRETS, NS, {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "hooks", "namespace": NS, "resourceVersion": "1"},
        "data": {"hmac": base64.b64encode(KEY).decode()},
    })  # fmt: skip
    hook = {"url": url, "secretKeyRef": {"name": "hooks", "key": "hmac"}}
    return {"webhooks": [hook, *extra]}


async def _routed(kube: KubeClient, name: str) -> dict[str, int]:
    cm = await kube.get(CONFIGMAPS, NS, f"{NS}.{name}.routing")
    if cm is None:
        return {}
    return {v["version"]: v["weight"] for v in json.loads(cm["data"]["routing.json"])["versions"]}


async def _phase(kube: KubeClient, name: str, *phases: str) -> dict[str, Any] | None:
    st = await status_of(kube, name)
    return st if st.get("phase") in phases else None


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _signed_kinds(receiver: WebhookReceiver, name: str) -> list[str]:
    kinds = []
    for call in receiver.calls:
        assert verify(KEY, call.body, call.headers[SIGNATURE_HEADER]), "a bad signature"
        doc = call.json()
        if doc["experiment"] == name:
            kinds.append(doc["kind"])
    return kinds


def _histogram(metrics: str, name: str, labels: str) -> dict[str, float]:
    out = {}
    for m in re.finditer(rf'^{name}_bucket\{{{labels},le="([^"]+)"\}} (\S+)$', metrics, re.M):
        out[m.group(1)] = float(m.group(2))
    return out


async def test_a_regression_after_the_promotion_rolls_back_inside_the_holdback_window(
    cluster: Any, kube: KubeClient, kubelet: Any, gateway_metrics: Any, prometheus: Any,
    start_operator: Any, receiver: WebhookReceiver,
) -> None:  # fmt: skip
    slow = WebhookReceiver(delay=8.0)  # answers after 8 s: a pass waiting for it would show
    await slow.start()
    op = await operator_with_ready_versions(start_operator, kube, prometheus)
    notify = await _signed_notify(kube, receiver.url, {"url": slow.url}, {"url": down_url()})
    accuracy = {"now": 0.92}
    try:
        async with traffic(gateway_metrics, lambda: accuracy["now"]):
            await kube.create(EXPERIMENTS, NS, experiment(
                "drift", steps=[25, 100],
                promotion={"holdback": {"percent": 10, "duration": "90s"}}, notify=notify,
            ))  # fmt: skip
            held = await wait_until(lambda: _phase(kube, "drift", "HoldingBack", "RolledBack"),
                                    60, "the promotion into the holdback window", op)  # fmt: skip
            assert held["phase"] == "HoldingBack", held
            assert held["weight"] == 90 and held["holdback"]["percent"] == 10

            async def split() -> bool:
                return await _routed(kube, "drift") == {"1": 10, "2": 90}

            await wait_until(split, 30, "the previous version routed its 10%", op)
            accuracy["now"] = 0.5  # the promoted model drifts
            onset = time.monotonic()
            st = await wait_until(lambda: _phase(kube, "drift", "RolledBack", "Succeeded"), 60,
                                  "the rollback to the previous version", op)  # fmt: skip
            to_back = time.monotonic() - onset

            async def previous_at_100() -> bool:
                return await _routed(kube, "drift") == {"1": 100}

            await wait_until(previous_at_100, 30, "the previous version at 100%", op)
        assert st["phase"] == "RolledBack" and st["weight"] == 0, st
        assert _when(st["finishedAt"]) < _when(st["holdback"]["endsAt"])  # inside the window
        assert "rolled back after the promotion (scorer-v1 at 10%)" in st["message"]
        failed = [r for r in st["analysis"] if r["verdict"] == "fail"]
        assert failed and failed[-1]["weight"] == 90
        assert (await status_of(kube, "scorer-v1", MODELVERSIONS))["phase"] == "Ready"

        async def told() -> bool:
            return "RolledBack" in _signed_kinds(receiver, "drift")

        await wait_until(told, 30, "the rollback's webhook call", op)
        kinds = _signed_kinds(receiver, "drift")
        assert kinds[:3] == ["Started", "StepAdvanced", "Promoted"], kinds
        assert kinds[-1] == "RolledBack" and "AnalysisFailed" in kinds, kinds
        rolled = [c.json() for c in receiver.calls if c.json()["kind"] == "RolledBack"][-1]
        assert rolled["weights"] == {"scorer-v1": 100, "scorer-v2": 0}
        assert rolled["analysis"]["verdict"] == "fail"
        # Receivers down or slow held up no pass: every pass took under 5 s (the slow one
        # answers after 8 s; the one that is down is retried for 1 + 2 + 4 + 8 s).
        metrics = httpx.get(f"http://127.0.0.1:{op.http_port}/metrics").text
        buckets = _histogram(metrics, "modelrollout_reconcile_duration_seconds",
                             'kind="experiment"')  # fmt: skip
        assert buckets["+Inf"] >= 5 and buckets["5.0"] == buckets["+Inf"], buckets
        assert len(slow.calls) >= 3  # the slow one was called meanwhile
        assert re.search(r'modelrollout_notifications_total\{kind="Started",result="retried"\} '
                         r"[1-9]", metrics), "the receiver that is down is retried"  # fmt: skip
        print(f"drift onset to the previous version at 100%: {to_back:.1f} s; passes "
              f"(cumulative by duration): {buckets}")  # fmt: skip
    finally:
        await slow.stop()


async def test_undo_restores_the_previous_version_at_100_with_one_command(
    cluster: Any, kube: KubeClient, kubelet: Any, gateway_metrics: Any, prometheus: Any,
    start_operator: Any,
) -> None:  # fmt: skip
    op = await operator_with_ready_versions(start_operator, kube, prometheus)
    async with traffic(gateway_metrics, lambda: 0.92):
        await kube.create(EXPERIMENTS, NS, experiment(
            "oops", steps=[50, 100], promotion={"holdback": {"percent": 5, "duration": "10m"}},
        ))  # fmt: skip
        held = await wait_until(lambda: _phase(kube, "oops", "HoldingBack", "RolledBack"), 60,
                                "the holdback window", op)  # fmt: skip
        assert held["phase"] == "HoldingBack", held
        env = {**os.environ, "MODELROLLOUT_KUBE_SERVER": str(cluster.url).rstrip("/")}
        began = time.monotonic()
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "modelrollout_operator.cli", "undo", "oops", "-n", NS],
            env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "undo requested" in done.stdout
        command = time.monotonic() - began  # mostly the interpreter's start on a busy machine
        st = await wait_until(lambda: _phase(kube, "oops", "RolledBack"), 30, "the undo", op)

        async def previous_at_100() -> bool:
            return await _routed(kube, "oops") == {"1": 100}

        await wait_until(previous_at_100, 30, "the previous version at 100%", op)
        took = time.monotonic() - began
    assert st["weight"] == 0 and "undone by user" in st["message"]
    assert (await status_of(kube, "scorer-v1", MODELVERSIONS))["phase"] == "Ready"
    body = await kube.get(EXPERIMENTS, NS, "oops")
    assert "modelrollout.dev/undo" not in (body["metadata"].get("annotations") or {})
    # After it, undo is refused with the reason (there is nothing left to undo).
    again = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "modelrollout_operator.cli", "undo", "oops", "-n", NS],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert again.returncode == 1 and "nothing to undo" in again.stderr
    # The live view reads the same from the API: phase, weights, and the Undone event (events
    # are written after the status and the routing of the same pass: wait for it first).
    await events_eventually(
        cluster, "oops", lambda evs: any(e.get("reason") == "Undone" for e in evs),
        "the Undone event", op,
    )  # fmt: skip
    view = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "modelrollout_operator.cli", "get", "experiment", "oops", "-n", NS],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert view.returncode == 0, view.stderr
    assert "Phase:      RolledBack" in view.stdout and "scorer-v1 100%, scorer-v2 0%" in view.stdout
    assert "Undone: rolled back after the promotion (scorer-v1 at 5%)" in view.stdout, view.stdout
    print(f"undo: the command ran {command:.1f} s, then the previous version was at 100% "
          f"{took - command:.1f} s later")  # fmt: skip


async def test_a_clean_holdback_window_retires_the_previous_version(
    cluster: Any, kube: KubeClient, kubelet: Any, gateway_metrics: Any, prometheus: Any,
    start_operator: Any, receiver: WebhookReceiver,
) -> None:  # fmt: skip
    op = await operator_with_ready_versions(start_operator, kube, prometheus)
    notify = await _signed_notify(kube, receiver.url)
    async with traffic(gateway_metrics, lambda: 0.92):
        await kube.create(EXPERIMENTS, NS, experiment(
            "clean", steps=[50, 100], promotion={"holdback": {"percent": 5, "duration": "6s"}},
            notify=notify,
        ))  # fmt: skip
        await wait_until(lambda: _phase(kube, "clean", "HoldingBack"), 60, "the window", op)
        st = await wait_until(lambda: _phase(kube, "clean", "Succeeded", "RolledBack"), 30,
                              "the end of the window", op)  # fmt: skip
    assert st["phase"] == "Succeeded" and st["weight"] == 100, st
    assert _when(st["finishedAt"]) >= _when(st["holdback"]["endsAt"])

    async def retired() -> bool:
        return (await status_of(kube, "scorer-v1", MODELVERSIONS)).get("phase") == "Retired"

    await wait_until(retired, 30, "the previous version retired", op)
    assert await _routed(kube, "clean") == {"2": 100}

    async def told() -> bool:
        return "HoldbackEnded" in _signed_kinds(receiver, "clean")

    await wait_until(told, 30, "the end of the window's webhook call", op)
    assert _signed_kinds(receiver, "clean") == ["Started", "StepAdvanced", "Promoted",
                                                "HoldbackEnded"]  # fmt: skip


async def test_undo_within_the_scale_down_delay_of_a_plain_promotion_is_instant(
    cluster: Any, kube: KubeClient, kubelet: Any, gateway_metrics: Any, prometheus: Any,
    start_operator: Any,
) -> None:  # fmt: skip
    op = await operator_with_ready_versions(start_operator, kube, prometheus)
    async with traffic(gateway_metrics, lambda: 0.92):
        await kube.create(EXPERIMENTS, NS, experiment(
            "plain", steps=[50, 100], promotion={"scaleDownDelay": "2m"},
        ))  # fmt: skip
        st = await wait_until(lambda: _phase(kube, "plain", "Succeeded", "RolledBack"), 60,
                              "the promotion", op)  # fmt: skip
        assert st["phase"] == "Succeeded", st
        await asyncio.sleep(2)  # finished, and still waiting: the previous version is kept
        assert (await status_of(kube, "scorer-v1", MODELVERSIONS))["phase"] == "Ready"

        async def promoted_at_100() -> bool:  # the routing follows the status of its pass
            return await _routed(kube, "plain") == {"2": 100}

        await wait_until(promoted_at_100, 30, "the promoted version at 100%", op)
        began = time.monotonic()
        # The annotation `modelrollout undo` sets (kubectl annotate works the same).
        await kube.patch(EXPERIMENTS, NS, "plain",
                         {"metadata": {"annotations": {"modelrollout.dev/undo": "true"}}})  # fmt: skip

        async def previous_at_100() -> bool:
            return await _routed(kube, "plain") == {"1": 100}

        await wait_until(previous_at_100, 30, "the previous version at 100%", op)
        took = time.monotonic() - began
    st = await status_of(kube, "plain")
    assert st["phase"] == "RolledBack" and "within the scale-down delay" in st["message"]
    assert (await status_of(kube, "scorer-v1", MODELVERSIONS))["phase"] == "Ready"
    print(f"undo after a plain promotion: previous version at 100% in {took:.1f} s")

"""Notifications: which transitions, the signed bodies, and delivery that never holds a pass."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.api.v1alpha1 import (
    ExperimentSpec,
    ExperimentStatus,
    Notify,
    NotifyOn,
    SecretKeyRef,
    Webhook,
)
from modelrollout_operator.notifying import (
    SIGNATURE_HEADER,
    Notification,
    Notifier,
    notifications_for,
    receivers,
    signature,
    verify,
)
from modelrollout_operator.rollout import (
    EmitEvent,
    Measurement,
    MetricObservation,
    UserIntent,
    World,
    plan_observation,
    reconcile,
)
from tests.support.webhooks import WebhookReceiver, down_url

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
READY = World(
    baseline_ready=True, candidate_ready=True, baseline_version="1", candidate_version="2"
)
SECRET = b"s3cret-key"


def _spec(**promotion: Any) -> ExperimentSpec:
    return ExperimentSpec.model_validate({
        "model": "scorer", "baseline": "scorer-v1", "candidate": "scorer-v2",
        "strategy": {"type": "canary", "canary": {"steps": [{"weight": 25, "bake": "30s"},
                                                             {"weight": 100, "bake": "30s"}]}},
        "analysis": {"interval": "30s", "failureLimit": 2, "metrics": [
            {"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.02, "minSamples": 50}]},
        "promotion": promotion,
    })  # fmt: skip


def _obs(rate: float) -> list[MetricObservation]:
    n = 40_000
    return [MetricObservation("accuracy", Measurement(rate, n, round(rate * n)),
                              Measurement(0.9, n, round(0.9 * n)))]  # fmt: skip


def _drive(spec: ExperimentSpec, rates: list[float]) -> list[Notification]:
    """Passes 30 s apart with the candidate's accuracy per pass; every notification raised."""
    status, now, out = ExperimentStatus(), T0, []
    for rate in rates:
        now += timedelta(seconds=30)
        plan = plan_observation(spec, status, READY, now)
        decision = reconcile(spec, status, READY, _obs(rate) if plan else None, UserIntent(), now)
        events = [a for a in decision.actions if isinstance(a, EmitEvent)]
        out += notifications_for(name="exp", namespace="ml", spec=spec, old=status,
                                 new=decision.status, events=events, now=now)  # fmt: skip
        status = decision.status
    return out


def test_a_rollback_scenario_notifies_start_steps_failures_and_the_rollback() -> None:
    found = _drive(_spec(), [0.9, 0.9, 0.5, 0.5, 0.5])
    kinds = [n.kind for n in found]
    assert kinds[0] == NotifyOn.STARTED and NotifyOn.STEP_ADVANCED in kinds
    assert kinds[-2:] == [NotifyOn.ANALYSIS_FAILED, NotifyOn.ROLLED_BACK]
    last = found[-1].document
    assert last["phase"] == "RolledBack" and last["weights"] == {"scorer-v1": 100, "scorer-v2": 0}
    acc = last["analysis"]["metrics"][0]
    assert acc["verdict"] == "fail" and acc["candidateSamples"] == 40_000
    assert acc["upper"] is not None and acc["upper"] < 0  # the bound that decided it


def test_a_promotion_with_holdback_notifies_promoted_then_holdback_ended() -> None:
    spec = _spec(holdback={"percent": 5, "duration": "2m"})
    kinds = [n.kind for n in _drive(spec, [0.9] * 12)]
    assert kinds == [NotifyOn.STARTED, NotifyOn.STEP_ADVANCED, NotifyOn.PROMOTED,
                     NotifyOn.HOLDBACK_ENDED]  # fmt: skip


def test_a_pass_that_changes_nothing_notifies_nothing() -> None:
    spec = _spec()
    st = ExperimentStatus()
    assert notifications_for(name="e", namespace="n", spec=spec, old=st, new=st, events=[],
                             now=T0) == []  # fmt: skip


@given(st.binary(max_size=2000), st.binary(min_size=1, max_size=64), st.integers(0, 1999))
def test_a_signature_verifies_its_body_and_no_other(body: bytes, key: bytes, flip: int) -> None:
    header = signature(key, body)
    assert header.startswith("sha256=") and verify(key, body, header)
    if body:
        i = flip % len(body)
        tampered = body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :]
        assert not verify(key, tampered, header)


def test_receivers_are_filtered_by_kind_and_deduplicated() -> None:
    default = Webhook(url="http://a/x")
    own = Notify(webhooks=[Webhook(url="http://a/x"),
                           Webhook(url="http://b/y", events=[NotifyOn.ROLLED_BACK])])  # fmt: skip
    assert [h.url for h in receivers(own, [default], NotifyOn.STARTED)] == ["http://a/x"]
    assert [h.url for h in receivers(own, [default], NotifyOn.ROLLED_BACK)] == [
        "http://a/x", "http://b/y"]  # fmt: skip


async def _read_secret(namespace: str, ref: SecretKeyRef) -> bytes | None:
    return SECRET if (namespace, ref.name, ref.key) == ("ml", "hooks", "hmac") else None


async def test_signed_generic_and_slack_calls_reach_a_real_receiver() -> None:
    generic, slack = WebhookReceiver(), WebhookReceiver()
    await generic.start()
    await slack.start()
    counts: Counter[tuple[str, str]] = Counter()
    notifier = Notifier(read_secret=_read_secret, count=lambda k, r: counts.update([(k, r)]))
    notify = Notify(webhooks=[
        Webhook(url=generic.url, secretKeyRef=SecretKeyRef(name="hooks", key="hmac")),
        Webhook(url=slack.url, format="slack"),
    ])  # fmt: skip
    try:
        found = _drive(_spec(), [0.9, 0.9, 0.5, 0.5, 0.5])
        for n in found:
            notifier.submit("ml", notify, n)
        assert await notifier.drain(10)
    finally:
        await notifier.close()
        await generic.stop()
        await slack.stop()
    assert sorted(generic.kinds()) == sorted(n.kind.value for n in found)
    for call in generic.calls:
        assert verify(SECRET, call.body, call.headers[SIGNATURE_HEADER])
    rolled = next(c.json() for c in generic.calls if c.json()["kind"] == "RolledBack")
    assert rolled["experiment"] == "exp" and rolled["namespace"] == "ml"
    texts = [c.json()["text"] for c in slack.calls]
    assert len(texts) == len(found) and all(SIGNATURE_HEADER not in c.headers for c in slack.calls)
    assert any(t.startswith("[ml/exp] RolledBack: rolled back at") for t in texts)
    assert counts[("RolledBack", "sent")] == 2


async def test_a_receiver_that_is_down_or_slow_never_holds_up_submit() -> None:
    slow = WebhookReceiver(delay=3.0)
    await slow.start()
    counts: Counter[tuple[str, str]] = Counter()
    notifier = Notifier(count=lambda k, r: counts.update([(k, r)]), attempts=3, backoff=0.05,
                        timeout=10.0)  # fmt: skip
    notify = Notify(webhooks=[Webhook(url=down_url()), Webhook(url=slow.url)])
    found = _drive(_spec(), [0.9, 0.9, 0.5, 0.5, 0.5])
    try:
        began = time.perf_counter()
        for n in found:
            notifier.submit("ml", notify, n)
        took = time.perf_counter() - began
        assert took < 0.25, f"submit took {took:.3f} s"  # the slow receiver takes 3 s a call
        await asyncio.sleep(0.5)
        assert counts[("Started", "failed")] == 1  # down: 3 tries, then given up and counted
        assert counts[("Started", "retried")] == 2
        assert len(slow.calls) == len(found)  # the slow one is being served meanwhile
    finally:
        await notifier.close()
        await slow.stop()


async def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    slow = WebhookReceiver(delay=5.0)
    await slow.start()
    counts: Counter[tuple[str, str]] = Counter()
    notifier = Notifier(count=lambda k, r: counts.update([(k, r)]), queue_size=2, max_in_flight=1)
    notify = Notify(webhooks=[Webhook(url=slow.url)])
    one = _drive(_spec(), [0.9])[0]
    try:
        began = time.perf_counter()
        for _ in range(10):
            notifier.submit("ml", notify, one)
        assert time.perf_counter() - began < 0.25  # the receiver takes 5 s a call
        await asyncio.sleep(0.2)
        for _ in range(5):
            notifier.submit("ml", notify, one)
        assert counts[("Started", "dropped")] >= 5
    finally:
        await notifier.close()
        await slow.stop()

"""The chart's feedback store and token: a shared store whenever the gateway has more than one
replica (refused otherwise, with what to change), the bundled Redis locked down, secrets
generated or taken from yours, the prediction log capped below its volume."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from chart_helpers import of_kind, one, template_args

from conftest import Helm, Render


def _env(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    container = one(docs, "Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}


def test_by_default_two_gateway_replicas_share_a_bundled_redis_with_a_generated_password(
    render: Render,
) -> None:
    docs = render()
    env = _env(docs)
    assert env["MODELROLLOUT_GATEWAY_FEEDBACK_STORE"]["value"] == "redis"
    url = env["MODELROLLOUT_GATEWAY_FEEDBACK_REDIS_URL"]["value"]
    assert url == "redis://mr-model-rollout-feedback-store.mr-system.svc:6379/0"
    password = env["MODELROLLOUT_GATEWAY_FEEDBACK_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    secret = one(docs, "Secret", "feedback-store")
    assert password == {"name": secret["metadata"]["name"], "key": "password"}
    assert len(base64.b64decode(secret["data"]["password"])) == 40
    store = one(docs, "Deployment", "feedback-store")
    pod = store["spec"]["template"]["spec"]
    [redis] = pod["containers"]
    assert "$(REDIS_PASSWORD)" in redis["args"] and redis["env"][0]["valueFrom"]["secretKeyRef"]
    assert redis["args"][2:4] == ["--save", ""]  # nothing persisted
    assert pod["automountServiceAccountToken"] is False
    service = one(docs, "Service", "feedback-store")
    assert service["spec"]["ports"][0]["port"] == 6379
    policy = one(docs, "NetworkPolicy", "feedback-store")
    source = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert source["app.kubernetes.io/component"] == "gateway"


def test_feedback_needs_a_token_from_a_generated_secret_or_yours(render: Render) -> None:
    docs = render()
    ref = _env(docs)["MODELROLLOUT_GATEWAY_FEEDBACK_TOKEN"]["valueFrom"]["secretKeyRef"]
    secret = one(docs, "Secret", "feedback-token")
    assert ref == {"name": secret["metadata"]["name"], "key": "token"}
    assert len(base64.b64decode(secret["data"]["token"])) == 40
    yours = render(("feedback.auth.existingSecret=labellers", "feedback.auth.existingSecretKey=t"))
    ref = _env(yours)["MODELROLLOUT_GATEWAY_FEEDBACK_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "labellers", "key": "t"}
    assert not [s for s in of_kind(yours, "Secret") if "feedback-token" in s["metadata"]["name"]]
    off = render(("feedback.auth.enabled=false",))
    assert "MODELROLLOUT_GATEWAY_FEEDBACK_TOKEN" not in _env(off)


def test_an_external_redis_with_a_password_from_your_secret(render: Render) -> None:
    docs = render(
        (
            "feedback.redis.bundled=false",
            "feedback.redis.url=rediss://cache.data.svc:6380/2",
            "feedback.redis.existingSecret=cache-auth",
        )
    )
    env = _env(docs)
    assert env["MODELROLLOUT_GATEWAY_FEEDBACK_REDIS_URL"]["value"] == (
        "rediss://cache.data.svc:6380/2"
    )
    ref = env["MODELROLLOUT_GATEWAY_FEEDBACK_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "cache-auth", "key": "password"}
    assert not [d for d in docs if "feedback-store" in d["metadata"]["name"]]


def test_one_replica_may_keep_predictions_in_memory(render: Render) -> None:
    docs = render(("feedback.store=memory", "gateway.replicas=1"))
    env = _env(docs)
    assert env["MODELROLLOUT_GATEWAY_FEEDBACK_STORE"]["value"] == "memory"
    assert "MODELROLLOUT_GATEWAY_FEEDBACK_REDIS_URL" not in env
    assert not [d for d in docs if "feedback-store" in d["metadata"]["name"]]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            ("feedback.store=memory",),
            "feedback.store=memory keeps each prediction in the one gateway process that "
            "answered it, but gateway.replicas=2",
        ),
        (
            ("feedback.store=memory", "gateway.replicas=1", "gateway.autoscaling.enabled=true"),
            "gateway.replicas=1 with autoscaling",
        ),
        (
            ("feedback.redis.bundled=false",),
            "feedback.redis.url is required when feedback.store=redis",
        ),
        (
            ("gateway.predictionLogMaxBytes=3000000000",),
            "gateway.predictionLogMaxBytes (3000000000) must be below "
            "gateway.predictionLogSizeLimit (2Gi = 2147483648 bytes)",
        ),
    ],
    ids=["memory-2-replicas", "memory-hpa", "external-without-url", "log-cap-over-volume"],
)
def test_values_that_would_lose_labels_or_evict_the_pod_fail_clearly(
    helm: Helm, values: tuple[str, ...], message: str
) -> None:
    proc = helm(*template_args(values))
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("values", "named"),
    [
        (("feedback.store=disk",), "store"),
        (("feedback.redis.url=http://cache:6379",), "url"),
        (("feedback.redis.existingSecret=Not_A_Name",), "existingSecret"),
        (("gateway.predictionLogMaxBytes=10",), "predictionLogMaxBytes"),
    ],
)
def test_bad_feedback_values_fail_naming_the_field(
    helm: Helm, values: tuple[str, ...], named: str
) -> None:
    proc = helm(*template_args(values))
    assert proc.returncode != 0
    assert named in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("values", "cap"),
    [
        ((), 3 * 2 * 1024**3 // 4),
        (("gateway.predictionLogSizeLimit=512Mi",), 3 * 512 * 1024**2 // 4),
        (("gateway.predictionLogMaxBytes=1000000000",), 1_000_000_000),
    ],
)
def test_the_prediction_log_cap_stays_below_its_volume(
    render: Render, values: tuple[str, ...], cap: int
) -> None:
    env = _env(render(values))
    assert env["MODELROLLOUT_GATEWAY_PREDICTION_LOG_MAX_TOTAL_BYTES"]["value"] == str(cap)

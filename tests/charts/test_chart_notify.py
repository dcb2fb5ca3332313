"""The chart's notify.webhooks reach the operator as its default webhooks."""

from __future__ import annotations

from typing import Any

import pytest
from chart_helpers import one

from conftest import Render
from modelrollout_operator.api.v1alpha1 import WebhookFormat
from modelrollout_operator.handlers.notifications import default_webhooks
from modelrollout_operator.settings import OperatorSettings


def _operator_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    (container,) = one(docs, "Deployment", "operator")["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def _settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> OperatorSettings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return OperatorSettings()


def test_no_default_webhooks_unless_the_values_name_some(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _operator_env(render(()))
    assert env["MODELROLLOUT_NOTIFY_WEBHOOKS"] == "[]"
    assert default_webhooks(_settings(env, monkeypatch)) == []


def test_notify_webhooks_values_become_the_operators_defaults(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _operator_env(
        render(
            (
                "notify.webhooks[0].url=https://hooks.example.com/rollouts",
                "notify.webhooks[0].secretKeyRef.name=rollout-hooks",
                "notify.webhooks[0].secretKeyRef.key=hmac",
                "notify.webhooks[1].url=https://hooks.slack.com/services/T0/B0/XX",
                "notify.webhooks[1].format=slack",
                "notify.webhooks[1].events={RolledBack,Undone}",
            )
        )
    )
    generic, slack = default_webhooks(_settings(env, monkeypatch))
    assert generic.url == "https://hooks.example.com/rollouts"
    assert generic.secret_key_ref is not None and generic.secret_key_ref.key == "hmac"
    assert slack.format == WebhookFormat.SLACK
    assert [e.value for e in slack.events or []] == ["RolledBack", "Undone"]

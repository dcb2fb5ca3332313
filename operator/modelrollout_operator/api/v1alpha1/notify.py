"""Where an Experiment reports its transitions: generic signed webhooks and Slack."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from .base import ApiModel, ObjectName, cel


class WebhookFormat(StrEnum):
    GENERIC = "generic"  # the JSON document of docs/contracts.md, HMAC-signed
    SLACK = "slack"  # {"text": ...}: Slack, Mattermost, Rocket.Chat, Teams' Slack mode


class NotifyOn(StrEnum):
    """The transitions a webhook can be told about."""

    STARTED = "Started"
    STEP_ADVANCED = "StepAdvanced"
    PAUSED = "Paused"
    ANALYSIS_FAILED = "AnalysisFailed"
    ROLLED_BACK = "RolledBack"
    PROMOTED = "Promoted"  # with holdback: the window starts
    HOLDBACK_ENDED = "HoldbackEnded"
    UNDONE = "Undone"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"  # a shadow run passed (nothing was promoted)


class SecretKeyRef(ApiModel):
    """A key of a Secret in the Experiment's namespace (the operator reads it)."""

    name: ObjectName = Field(description="Secret name.")
    key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        description="Key in the Secret's data."
    )


class Webhook(ApiModel):
    """One receiver: a URL and how to talk to it."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "self.url.startsWith('https://') || self.url.startsWith('http://')",
                "notify.webhooks[].url must be an http(s) URL",
            ),
            (
                "!has(self.secretKeyRef) || !has(self.format) || self.format == 'generic'",
                "a signing secret (secretKeyRef) goes with format generic",
            ),
        )
    )

    url: Annotated[str, StringConstraints(min_length=8, max_length=2048)] = Field(
        description="Where to POST (http or https)."
    )
    format: WebhookFormat = Field(
        default=WebhookFormat.GENERIC,
        description="generic: the JSON document, signed when secretKeyRef is set; slack: "
        '{"text": ...} for an incoming webhook.',
    )
    secret_key_ref: SecretKeyRef | None = Field(
        default=None,
        description="HMAC-SHA256 key: the X-ModelRollout-Signature header is "
        "sha256=<hex of HMAC(key, body)>.",
    )
    # Not `on`: YAML 1.1 reads a bare `on:` key as the boolean true.
    events: list[NotifyOn] | None = Field(
        default=None,
        max_length=16,
        description="Transitions to send (default: all).",
    )

    @model_validator(mode="after")
    def _checks(self) -> Webhook:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("notify.webhooks[].url must be an http(s) URL")
        if self.secret_key_ref is not None and self.format != WebhookFormat.GENERIC:
            raise ValueError("a signing secret (secretKeyRef) goes with format generic")
        return self


class Notify(ApiModel):
    """Receivers of this Experiment's transitions (added to the operator's defaults)."""

    webhooks: list[Webhook] = Field(default_factory=list, max_length=10)

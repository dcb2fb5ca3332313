"""Experiment (short name `mexp`): rolls one candidate ModelVersion out against a baseline."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from .analyses import Analysis, AnalysisRun
from .base import ApiModel, Condition, Duration, ObjectName, cel
from .notify import Notify
from .strategies import Canary, CanaryStep, Strategy
from .traffic import Routing


class ExperimentPhase(StrEnum):
    PENDING = "Pending"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    PROMOTING = "Promoting"
    # Promoted, with the previous version still Ready and serving promotion.holdback.percent:
    # the analysis goes on between the two until the window ends (then Succeeded) or finds a
    # regression (then RolledBack, the previous version at 100%).
    HOLDING_BACK = "HoldingBack"
    SUCCEEDED = "Succeeded"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"


TERMINAL_PHASES = frozenset(
    {ExperimentPhase.SUCCEEDED, ExperimentPhase.ROLLED_BACK, ExperimentPhase.FAILED}
)


class PromotionMode(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class Holdback(ApiModel):
    """After the promotion, the previous version keeps a small sticky share for a while."""

    percent: int = Field(
        default=5,
        ge=1,
        le=50,
        description="Share of traffic the previous version keeps during the window.",
    )
    duration: Duration = Field(
        default="1h",
        description="How long the promoted version is compared with the previous one; a "
        "regression in that time rolls back to the previous version.",
    )


class Promotion(ApiModel):
    """What happens after the last step."""

    mode: PromotionMode = Field(
        default=PromotionMode.AUTOMATIC,
        description="manual: after the last step, wait for `modelrollout promote`.",
    )
    holdback: Holdback | None = Field(
        default=None,
        description="Keep the previous version serving a share after the promotion and keep "
        "analysing (phase HoldingBack); `modelrollout undo` restores it within the window.",
    )
    scale_down_delay: Duration = Field(
        default="30s",
        description="Without holdback: how long the previous version stays Ready (no traffic) "
        "after the promotion, so `modelrollout undo` is instant; then it is retired.",
    )


class ExperimentSpec(ApiModel):
    """Which candidate replaces which baseline, how, and by which evidence."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            ("self.baseline != self.candidate", "spec.baseline and spec.candidate must differ"),
        )
    )

    model: ObjectName = Field(description="Model whose traffic is shifted.")
    baseline: ObjectName = Field(description="ModelVersion serving today.")
    candidate: ObjectName = Field(description="ModelVersion rolled out.")
    strategy: Strategy = Field(
        default_factory=lambda: Strategy(
            canary=Canary(steps=[CanaryStep(weight=w) for w in (10, 25, 50, 100)])
        )
    )
    routing: Routing = Field(default_factory=Routing)
    analysis: Analysis = Field(default_factory=Analysis)
    promotion: Promotion = Field(default_factory=Promotion)
    notify: Notify | None = Field(
        default=None, description="Webhooks told about every transition (start, steps, ...)."
    )
    paused: bool = Field(
        default=False, description="Hold where it is (kubectl patch or `modelrollout pause`)."
    )

    @model_validator(mode="after")
    def _different_versions(self) -> ExperimentSpec:
        if self.baseline == self.candidate:
            raise ValueError("spec.baseline and spec.candidate must differ")
        return self


class HoldbackStatus(ApiModel):
    """The previous version after a promotion: kept Ready (and serving `percent`) until `endsAt`."""

    previous: str = Field(description="The previous version's ModelVersion (spec.baseline).")
    percent: int = Field(default=0, ge=0, le=100, description="Its share now (0: Ready, idle).")
    started_at: datetime = Field(description="When the candidate was promoted.")
    ends_at: datetime = Field(
        description="Until then `modelrollout undo` restores it at once; then it is retired."
    )
    paused_at: datetime | None = Field(
        default=None,
        description=(
            "When the window was paused: its clock stands still while paused, and on resume "
            "`endsAt` moves on by the time spent paused."
        ),
    )


class ExperimentStatus(ApiModel):
    """Where the rollout is and why: phase, step, weight, and the recent analyses."""

    phase: ExperimentPhase = Field(default=ExperimentPhase.PENDING)
    message: str = ""
    conditions: list[Condition] = Field(default_factory=list)
    current_step: int = Field(
        default=0, ge=0, description="1-based step being baked (0: not started)."
    )
    total_steps: int = Field(default=0, ge=0)
    weight: int = Field(default=0, ge=0, le=100, description="Candidate weight applied now.")
    baseline_version: str | None = None
    candidate_version: str | None = None
    started_at: datetime | None = None
    step_started_at: datetime | None = None
    finished_at: datetime | None = None
    last_analysis_at: datetime | None = None
    failed_checks: int = Field(default=0, ge=0)
    no_data_since: datetime | None = None
    approved_step: int | None = Field(
        default=None, description="Step whose manual gate was approved."
    )
    analysis: list[AnalysisRun] = Field(
        default_factory=list, description="The most recent analyses."
    )
    observed_generation: int | None = None
    holdback: HoldbackStatus | None = Field(
        default=None, description="The previous version after the promotion (undo window)."
    )


class Experiment(ApiModel):
    api_version: Literal["modelrollout.dev/v1alpha1"] = "modelrollout.dev/v1alpha1"
    kind: Literal["Experiment"] = "Experiment"
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: ExperimentSpec
    status: ExperimentStatus | None = None

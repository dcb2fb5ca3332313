"""Model (short name `mdl`): a model as a whole, the line of its versions, retrained from its
own feedback and rolled out version after version (continuous learning).

The Model's name is the model's name: its ModelVersions are those whose `spec.model` is it
(in its namespace), trained by the operator from `spec.versionTemplate` or made by hand.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from .. import cron
from .analyses import Analysis
from .base import ApiModel, Condition, Duration, ObjectName, cel
from .experiment import Promotion
from .modelversion import (
    Acceptance,
    Hyperparameters,
    Serving,
    Task,
    TrainingResources,
)
from .notify import Notify
from .strategies import Canary, CanaryStep, Strategy
from .traffic import Routing

#: Five cron fields (minute hour day-of-month month day-of-week): numbers, `*`, ranges,
#: lists and steps. The full grammar is checked by the operator's matcher (rollout/cron.py).
CRON_PATTERN = r"^\s*\S+(\s+\S+){4}\s*$"
Cron = Annotated[str, StringConstraints(max_length=128, pattern=CRON_PATTERN)]


class TrainingTemplate(ApiModel):
    """spec.training of each ModelVersion the operator creates (the dataset is built for it)."""

    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Trainer container image (default: the chart's trainer image).",
    )
    output: str = Field(
        min_length=1,
        max_length=2048,
        description="Model repository URI (s3://bucket/prefix) the trainer uploads to.",
    )
    task: Task = Field(default=Task.BINARY)
    label_column: str = Field(default="label", min_length=1, max_length=256)
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    resources: TrainingResources = Field(default_factory=TrainingResources)
    deadline: Duration = Field(default="1h", description="activeDeadlineSeconds of the Job.")
    retries: int = Field(default=2, ge=0, le=10, description="backoffLimit of the Job.")
    acceptance: Acceptance = Field(
        default_factory=Acceptance,
        description="The gate each retrained version must pass on its held-out test split.",
    )
    credentials_secret: ObjectName | None = Field(
        default=None, description="Secret with AWS_* variables for the data and the repository."
    )
    service_account_name: ObjectName | None = None


class VersionTemplate(ApiModel):
    """What each new ModelVersion of this model looks like."""

    training: TrainingTemplate
    serving: Serving = Field(default_factory=Serving)


class PredictionLogSource(ApiModel):
    """The gateway's prediction log with its joined feedback, as uploaded to S3."""

    uri: str = Field(
        min_length=1,
        max_length=2048,
        pattern=r"^s3://",
        description="s3://bucket/prefix the gateway uploads its prediction-log files to.",
    )
    window: Duration = Field(
        default="720h", description="Only predictions of the last window (e.g. 720h: 30 days)."
    )
    min_labelled_rows: int = Field(
        default=1000,
        ge=1,
        le=1_000_000_000,
        description="Fewer labelled rows in the window: no training (the build step fails).",
    )


class DataSpec(ApiModel):
    """Where a retrained version's data comes from; rows are deduplicated by request id."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "has(self.base) || has(self.predictionLog)",
                "data needs a base dataset, a prediction log, or both",
            ),
        )
    )

    base: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="A dataset every version trains on (CSV, JSONL or Parquet; s3:// or a path).",
    )
    prediction_log: PredictionLogSource | None = None
    output: str = Field(
        min_length=1,
        max_length=2048,
        description="Where each version's built dataset is written: <output>/<model>-v<N>.parquet "
        "(kept, so a version can be retrained on exactly its data).",
    )

    @model_validator(mode="after")
    def _some_data(self) -> DataSpec:
        if self.base is None and self.prediction_log is None:
            raise ValueError("data needs a base dataset, a prediction log, or both")
        return self


class Triggers(ApiModel):
    """When to train the next version; any one that fires starts a training."""

    schedule: Cron | None = Field(
        default=None, description="Cron schedule in UTC, e.g. '0 3 * * 1' (Mondays 03:00)."
    )
    new_labelled_rows: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000_000,
        description="Train once this many labels arrived since the last training "
        "(modelrollout_feedback_total of the model).",
    )
    accuracy_below: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Train when the live accuracy of the version in service falls below this.",
    )
    accuracy_window: Duration = Field(
        default="1h", description="The window the live accuracy is measured over."
    )
    min_accuracy_samples: int = Field(
        default=100, ge=1, le=1_000_000_000, description="Labels needed to trust the accuracy."
    )
    min_interval: Duration = Field(
        default="1h",
        description="At least this long between two trainings; after a rejected or rolled-back "
        "version it doubles per failure in a row (capped at 720h).",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            cron.parse(value)  # CronError (a ValueError) names the field that is wrong
        return value


class ExperimentTemplate(ApiModel):
    """An Experiment spec without model, baseline and candidate (the operator fills them)."""

    strategy: Strategy = Field(
        default_factory=lambda: Strategy(
            canary=Canary(steps=[CanaryStep(weight=w) for w in (10, 25, 50, 100)])
        )
    )
    routing: Routing = Field(default_factory=Routing)
    analysis: Analysis = Field(default_factory=Analysis)
    promotion: Promotion = Field(default_factory=Promotion)
    notify: Notify | None = None


class ModelSpec(ApiModel):
    """The line of versions of one model and how the operator keeps it learning."""

    version_template: VersionTemplate
    data: DataSpec
    triggers: Triggers = Field(default_factory=Triggers)
    experiment: ExperimentTemplate = Field(default_factory=ExperimentTemplate)
    history_limit: int = Field(
        default=5,
        ge=2,
        le=100,
        description="ModelVersions to keep; older ones are deleted (never the one in service "
        "or one an Experiment still needs).",
    )
    paused: bool = Field(default=False, description="No new training while true.")


class ModelPhase(StrEnum):
    PENDING = "Pending"  # no version in service yet
    IDLE = "Idle"  # waiting for a trigger
    TRAINING = "Training"  # a version is being built, trained or deployed
    ROLLING_OUT = "RollingOut"  # its Experiment runs
    BACKING_OFF = "BackingOff"  # the last version failed; waiting before the next trigger


class Outcome(StrEnum):
    TRAINING = "Training"
    ROLLING_OUT = "RollingOut"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    REJECTED = "Rejected"  # failed its acceptance gate
    FAILED = "Failed"  # training or serving failed
    ADOPTED = "Adopted"  # the first version, in service without a rollout


class TriggerRecord(ApiModel):
    at: datetime | None = None
    reason: str = ""


class HistoryEntry(ApiModel):
    """One version's turn of the loop."""

    version: int = Field(ge=1)
    name: str
    trigger: str = ""
    outcome: Outcome
    dataset_rows: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict, description="Offline test metrics.")
    experiment: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""


class ModelStatus(ApiModel):
    """The loop's record: what serves, what is in flight, what happened, what comes next."""

    phase: ModelPhase = Field(default=ModelPhase.PENDING)
    message: str = ""
    in_service: str | None = Field(default=None, description="The ModelVersion serving now.")
    in_service_version: int | None = None
    latest_version: int = Field(default=0, ge=0, description="Highest version number used.")
    concluded_version: int = Field(
        default=0, ge=0, description="Versions up to this one have an outcome."
    )
    training: str | None = Field(default=None, description="The ModelVersion in flight.")
    experiment: str | None = Field(default=None, description="Its Experiment, once created.")
    last_training_at: datetime | None = None
    failures_in_a_row: int = Field(default=0, ge=0)
    last_trigger: TriggerRecord | None = None
    next_trigger: TriggerRecord | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None


class Model(ApiModel):
    api_version: Literal["modelrollout.dev/v1alpha1"] = "modelrollout.dev/v1alpha1"
    kind: Literal["Model"] = "Model"
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: ModelSpec
    status: ModelStatus | None = None


__all__ = [
    "DataSpec",
    "ExperimentTemplate",
    "HistoryEntry",
    "Model",
    "ModelPhase",
    "ModelSpec",
    "ModelStatus",
    "Outcome",
    "PredictionLogSource",
    "TrainingTemplate",
    "TriggerRecord",
    "Triggers",
    "VersionTemplate",
]

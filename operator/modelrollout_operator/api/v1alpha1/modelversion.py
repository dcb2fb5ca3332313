"""ModelVersion (short name `mv`): one immutable version of one model."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from .base import ApiModel, Condition, Duration, ObjectName, cel
from .scheduling import Scheduling

Sha256 = Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-f0-9]{64}$")]
Quantity = Annotated[
    str, StringConstraints(max_length=32, pattern=r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")
]


class ArtifactFormat(StrEnum):
    ONNX = "onnx"


class Runtime(StrEnum):
    TRITON = "triton"
    ONNXRUNTIME = "onnxruntime"


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


class ModelVersionPhase(StrEnum):
    PENDING = "Pending"
    TRAINING = "Training"
    REJECTED = "Rejected"
    DEPLOYING = "Deploying"
    READY = "Ready"
    FAILED = "Failed"
    RETIRED = "Retired"


class Artifact(ApiModel):
    """Where a trained model is, and the hash that proves it is the one meant."""

    uri: str = Field(
        min_length=1,
        max_length=2048,
        description="s3://bucket/key of model.onnx, or a path inside the model repository.",
    )
    format: ArtifactFormat = Field(default=ArtifactFormat.ONNX, description="Serialization format.")
    sha256: Sha256 = Field(
        description="Hex sha256 of the model file; downloads are refused on mismatch."
    )


class Hyperparameters(ApiModel):
    """Training knobs passed to the trainer's command line."""

    epochs: int = Field(default=30, ge=1, le=10_000, description="Maximum training epochs.")
    batch_size: int = Field(default=512, ge=1, le=1_000_000, description="Mini-batch size.")
    learning_rate: float = Field(default=1e-3, gt=0, le=10, description="Adam learning rate.")
    hidden: list[int] = Field(
        default_factory=lambda: [128, 64],
        min_length=1,
        max_length=8,
        description="Hidden layer widths of the MLP.",
    )
    patience: int = Field(default=5, ge=1, le=1000, description="Early-stopping patience (epochs).")
    seed: int = Field(
        default=0, ge=0, le=4_294_967_295, description="Seed for splits and initialisation."
    )


class Acceptance(ApiModel):
    """The gate a freshly trained model must pass on the held-out test split."""

    min_accuracy: float | None = Field(
        default=None, ge=0, le=1, description="Minimum test accuracy."
    )
    min_roc_auc: float | None = Field(
        default=None, ge=0, le=1, description="Minimum test ROC AUC (binary)."
    )


class TrainingResources(ApiModel):
    """Resources of the training Job's container."""

    gpus: int = Field(default=0, ge=0, le=16, description="nvidia.com/gpu to request.")
    cpu: Quantity = Field(default="1", description="CPU request, e.g. 500m or 2.")
    memory: Quantity = Field(default="2Gi", description="Memory request and limit, e.g. 4Gi.")


class DatasetBuild(ApiModel):
    """Build spec.training.dataset before training: the training Job's first step (the
    trainer's dataset builder) joins a base dataset and the gateway's prediction log with its
    feedback in a time window, deduplicated by request id, and writes it there."""

    base: str | None = Field(
        default=None, min_length=1, max_length=2048, description="Dataset every version keeps."
    )
    prediction_log: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="s3://bucket/prefix (or a directory) of the gateway's prediction-log files.",
    )
    since: datetime | None = Field(default=None, description="Only predictions from then on.")
    until: datetime | None = Field(default=None, description="Only predictions before then.")
    min_labelled_rows: int = Field(
        default=1, ge=1, le=1_000_000_000, description="Fewer labelled log rows: the build fails."
    )


class Training(ApiModel):
    """How to produce this version's artifact: the operator runs it as a batch/v1 Job."""

    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Trainer container image; unset: the chart's trainer.image.",
    )
    dataset: str = Field(
        min_length=1,
        max_length=2048,
        description="Dataset URI (s3://… or a path): CSV, JSONL or Parquet.",
    )
    task: Task = Field(default=Task.BINARY, description="What the model predicts.")
    label_column: str = Field(
        default="label", min_length=1, max_length=256, description="Column holding the label."
    )
    output: str = Field(
        min_length=1,
        max_length=2048,
        description="Model repository URI (s3://bucket/prefix) the trainer uploads to.",
    )
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    resources: TrainingResources = Field(default_factory=TrainingResources)
    deadline: Duration = Field(default="1h", description="activeDeadlineSeconds of the Job.")
    retries: int = Field(default=2, ge=0, le=10, description="backoffLimit of the Job.")
    acceptance: Acceptance = Field(default_factory=Acceptance)
    build: DatasetBuild | None = Field(
        default=None,
        description="Build the dataset first (the Job's first step writes it to spec.training."
        "dataset); set by a Model for the versions it trains.",
    )
    credentials_secret: ObjectName | None = Field(
        default=None, description="Secret with AWS_* variables for the dataset and the repository."
    )
    scheduling: Scheduling = Field(
        default_factory=Scheduling,
        description="Where the training pod runs (node selector, tolerations, node affinity, "
        "priority class); unset fields take the chart's workloads.scheduling.",
    )
    service_account_name: ObjectName | None = Field(
        default=None,
        description="ServiceAccount the training pod runs as (its data access, e.g. a cloud "
        "identity bound to it); unset: the namespace's default, with no API token mounted.",
    )


class DynamicBatching(ApiModel):
    """Triton's dynamic batcher: group concurrent requests into one batch."""

    enabled: bool = Field(default=True, description="Let the server batch concurrent requests.")
    max_queue_delay_microseconds: int = Field(default=100, ge=0, le=1_000_000)


class Serving(ApiModel):
    """How this version is served when an Experiment needs it."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "self.gpus == 0 || self.runtime == 'triton'",
                "serving.gpus > 0 needs serving.runtime: triton",
            ),
        )
    )

    runtime: Runtime = Field(
        default=Runtime.ONNXRUNTIME,
        description="triton (GPU or CPU) or onnxruntime (the gateway serving one version, CPU).",
    )
    replicas: int = Field(default=1, ge=0, le=100)
    gpus: int = Field(default=0, ge=0, le=16, description="nvidia.com/gpu per replica.")
    max_batch_size: int = Field(default=64, ge=0, le=65_536)
    dynamic_batching: DynamicBatching = Field(default_factory=DynamicBatching)
    credentials_secret: ObjectName | None = Field(
        default=None, description="Secret with AWS_* variables to read the model repository."
    )
    cpu: Quantity | None = Field(
        default=None, description="CPU request per replica; unset: the chart's default."
    )
    memory: Quantity | None = Field(
        default=None, description="Memory request and limit per replica; unset: the chart's."
    )
    scheduling: Scheduling = Field(
        default_factory=Scheduling,
        description="Where the serving pods run; unset fields take the chart's "
        "workloads.scheduling.",
    )

    @model_validator(mode="after")
    def _gpus_need_triton(self) -> Serving:
        if self.gpus > 0 and self.runtime != Runtime.TRITON:
            raise ValueError("serving.gpus > 0 needs serving.runtime: triton")
        return self


TRITON_LAYOUT = (
    "serving.runtime triton loads from a model repository: spec.artifact.uri must be "
    "<repository>/<spec.model>/<spec.version>/model.onnx"
)


class ModelVersionSpec(ApiModel):
    """What to serve (artifact) or train (training), and how; all but serving is immutable."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "has(self.artifact) != has(self.training)",
                "set exactly one of spec.artifact (prebuilt) and spec.training (train it)",
            ),
            (
                "!has(self.artifact) || !has(self.serving) || self.serving.runtime != 'triton'"
                " || self.artifact.uri.endsWith('/' + self.model + '/' + string(self.version)"
                " + '/model.onnx')",
                TRITON_LAYOUT,
            ),
            (
                "self.model == oldSelf.model && self.version == oldSelf.version",
                "spec.model and spec.version are immutable: create a new ModelVersion",
            ),
            (
                "has(self.artifact) == has(oldSelf.artifact)"
                " && (!has(self.artifact) || self.artifact == oldSelf.artifact)",
                "spec.artifact is immutable: create a new ModelVersion",
            ),
            (
                "has(self.training) == has(oldSelf.training)"
                " && (!has(self.training) || self.training == oldSelf.training)",
                "spec.training is immutable: create a new ModelVersion",
            ),
        )
    )

    model: ObjectName = Field(description="Name of the model this is a version of.")
    version: int = Field(
        ge=1, le=2_147_483_647, description="Version number (Triton's version directory)."
    )
    description: str | None = Field(default=None, max_length=1024)
    artifact: Artifact | None = Field(
        default=None, description="A prebuilt model (or set training)."
    )
    training: Training | None = Field(
        default=None, description="Train the model (or set artifact)."
    )
    serving: Serving = Field(default_factory=Serving)

    @model_validator(mode="after")
    def _artifact_xor_training(self) -> ModelVersionSpec:
        if (self.artifact is None) == (self.training is None):
            raise ValueError(
                "set exactly one of spec.artifact (prebuilt) and spec.training (train it)"
            )
        if (
            self.artifact is not None
            and self.serving.runtime == Runtime.TRITON
            and not self.artifact.uri.endswith(f"/{self.model}/{self.version}/model.onnx")
        ):
            raise ValueError(TRITON_LAYOUT)
        return self


class ArtifactStatus(ApiModel):
    """The artifact actually served: the trainer's output, or spec.artifact once verified."""

    uri: str
    sha256: str


class SplitMetrics(ApiModel):
    """Metrics per data split, as the trainer reports them (accuracy, rocAuc, logLoss, ece)."""

    train: dict[str, float] = Field(default_factory=dict)
    validation: dict[str, float] = Field(default_factory=dict)
    test: dict[str, float] = Field(default_factory=dict)


class ModelVersionStatus(ApiModel):
    """What the operator observed: lifecycle phase, training outcome and serving endpoint."""

    phase: ModelVersionPhase = Field(default=ModelVersionPhase.PENDING)
    message: str = Field(default="")
    conditions: list[Condition] = Field(default_factory=list)
    artifact: ArtifactStatus | None = None
    metrics: SplitMetrics | None = None
    job_name: str | None = None
    endpoint: str | None = Field(default=None, description="KServe v2 HTTP base URL of the server.")
    observed_generation: int | None = None


class ModelVersion(ApiModel):
    api_version: Literal["modelrollout.dev/v1alpha1"] = "modelrollout.dev/v1alpha1"
    kind: Literal["ModelVersion"] = "ModelVersion"
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: ModelVersionSpec
    status: ModelVersionStatus | None = None

"""Gateway settings: command-line flags override environment (prefix MODELROLLOUT_GATEWAY_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELROLLOUT_GATEWAY_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    grpc_port: int | None = Field(default=None, ge=0, le=65535)  # None: no gRPC server
    model_repository: Path | None = None
    routing_file: Path | None = None

    # One version from an artifact (how the operator serves `runtime: onnxruntime`): fetched,
    # sha256-verified and laid out as `<artifact_cache_dir>/repository/<model>/<version>/`.
    model: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    version: int | None = Field(default=None, ge=1)
    artifact_uri: str | None = None
    artifact_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")

    # ConfigMap watch: in-cluster service account by default, or an explicit API URL.
    watch_configmaps: bool = False
    namespace: str | None = None  # the only one watched; None: the pod's own, else default
    kube_api_url: str | None = None
    kube_token_file: Path | None = None
    kube_ca_file: Path | None = None
    kube_insecure: bool = False

    prediction_log_dir: Path | None = None
    prediction_log_max_bytes: int = Field(default=64 * 1024 * 1024, gt=0)  # one file
    # All files on the volume; oldest closed files go first past it (keep it under the volume).
    prediction_log_max_total_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    prediction_log_s3_uri: str | None = Field(default=None, pattern=r"^s3://[^/]+(/.*)?$")
    prediction_log_queue: int = Field(default=100_000, gt=0)

    feedback_ttl_seconds: float = Field(default=6 * 3600.0, gt=0)
    feedback_max_entries: int = Field(default=500_000, gt=0)  # the memory store's bound
    # memory: this process only (one replica); redis: shared by every replica.
    feedback_store: Literal["memory", "redis"] = "memory"
    feedback_redis_url: str = Field(default="redis://127.0.0.1:6379/0", pattern=r"^rediss?://")
    feedback_redis_password: SecretStr | None = None
    feedback_store_timeout_seconds: float = Field(default=0.25, gt=0)
    # When set, POST .../feedback needs `Authorization: Bearer <token>`.
    feedback_token: SecretStr | None = None

    # The whole body (binary tensors are views on it, never copied) ...
    max_request_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    # ... and its JSON part, which decoding multiplies (a number becomes a Python float):
    # larger tensors belong in the binary extension.
    max_json_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    ort_intra_op_threads: int = Field(default=1, ge=0)  # 0: ONNX Runtime picks
    artifact_cache_dir: Path = Path("/tmp/modelrollout-artifacts")
    triton_connections: int = Field(default=64, gt=0)
    health_interval_seconds: float = Field(default=2.0, gt=0)
    shadow_max_in_flight: int = Field(default=256, ge=0)
    # Models served without a routing table judge feedback this way.
    default_output: str = "score"
    default_threshold: float = 0.5

    admin_token: SecretStr | None = None
    # Any case (INFO or info), as the operator's: one casing rule for the chart's two settings.
    log_level: str = Field(default="warning", pattern=r"^(debug|info|warning|error)$")
    log_json: bool = False

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> GatewaySettings:
        if self.prediction_log_max_total_bytes < 2 * self.prediction_log_max_bytes:
            raise ValueError(
                "prediction_log_max_total_bytes must be at least twice prediction_log_max_bytes "
                "(the open file plus one closed file)"
            )
        return self

"""The serving config.pbtxt of one version: the repository's config, narrowed to that version.

Pure text in, text out, through Triton's own ModelConfig schema (tritonclient ships it), so a
field Triton would reject is rejected here first, with a reason the operator can show.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import text_format
from google.protobuf.message import DecodeError
from tritonclient.grpc import model_config_pb2 as mc

MODEL_FILE = "model.onnx"
ONNX_PLATFORM = "onnxruntime_onnx"
_ONNX_BACKENDS = ("", "onnxruntime")


class ConfigError(ValueError):
    """The repository's config.pbtxt cannot serve this version as the ModelVersion asks."""


@dataclass(frozen=True)
class Batching:
    """spec.serving's batching: maxBatchSize and dynamicBatching."""

    max_batch_size: int
    dynamic: bool = True
    max_queue_delay_microseconds: int = 100


def serving_config(text: str, *, model: str, version: int, batching: Batching) -> str:
    """`text` with version_policy `specific { versions: [version] }` and `batching` applied.

    Refuses a config for another model or runtime, and a batching change that would change
    the meaning of the declared dims (max_batch_size 0 means the dims include the batch axis).
    """
    if version < 1:
        raise ConfigError(f"version must be positive, got {version}")
    config = mc.ModelConfig()
    try:
        text_format.Parse(text, config)
    except (text_format.ParseError, DecodeError) as exc:
        raise ConfigError(f"config.pbtxt is not a Triton ModelConfig: {exc}") from exc
    if config.name and config.name != model:
        raise ConfigError(f"config.pbtxt names model {config.name!r}, not {model!r}")
    config.name = model
    if not config.platform and not config.backend:
        config.platform = ONNX_PLATFORM
    if config.platform not in ("", ONNX_PLATFORM) or config.backend not in _ONNX_BACKENDS:
        raise ConfigError(
            f"config.pbtxt asks for platform {config.platform!r} backend {config.backend!r}; "
            f"the artifact is ONNX ({ONNX_PLATFORM})"
        )
    if not config.input or not config.output:
        raise ConfigError(
            "config.pbtxt declares no input or no output: Triton runs with auto-complete off"
        )
    if (config.max_batch_size == 0) != (batching.max_batch_size == 0):
        raise ConfigError(
            f"spec.serving.maxBatchSize {batching.max_batch_size} cannot apply to a config with "
            f"max_batch_size {config.max_batch_size}: with 0 the dims include the batch axis, "
            "otherwise they exclude it"
        )
    config.max_batch_size = batching.max_batch_size
    config.version_policy.Clear()
    config.version_policy.specific.versions.append(version)
    # The one file the init container verified is the one Triton loads.
    config.default_model_filename = MODEL_FILE
    config.ClearField("cc_model_filenames")
    if batching.dynamic and batching.max_batch_size > 0:
        config.dynamic_batching.max_queue_delay_microseconds = batching.max_queue_delay_microseconds
    else:
        config.ClearField("dynamic_batching")
    return str(text_format.MessageToString(config))


def served_versions(text: str) -> list[int] | None:
    """The versions a `specific` policy names; None for `all`/`latest` (or none: latest 1)."""
    config = mc.ModelConfig()
    text_format.Parse(text, config)
    if config.version_policy.WhichOneof("policy_choice") != "specific":
        return None
    return sorted(int(v) for v in config.version_policy.specific.versions)

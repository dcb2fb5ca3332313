"""`modelrollout-gateway prepare-triton`: one verified version laid out for Triton."""

from .configuring import Batching, ConfigError, served_versions, serving_config
from .preparing import Preparation, prepare_repository

__all__ = [
    "Batching",
    "ConfigError",
    "Preparation",
    "prepare_repository",
    "served_versions",
    "serving_config",
]

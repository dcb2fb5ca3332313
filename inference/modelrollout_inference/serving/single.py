"""Serving one model version from an artifact URI: the operator's `runtime: onnxruntime`.

The artifact is fetched and its sha256 verified before the server starts, then laid out as a
one-entry Triton-style repository, so the rest of the gateway serves it like any other.
"""

from __future__ import annotations

import os

from ..backends.fetching import fetch_artifact
from ..settings import GatewaySettings


class SingleVersionError(ValueError):
    """The single-version options are incomplete."""


def prepare_single_version(settings: GatewaySettings) -> GatewaySettings:
    """Settings whose model repository holds the one fetched version, or `settings` unchanged."""
    given = {
        "--model": settings.model,
        "--version": settings.version,
        "--artifact-uri": settings.artifact_uri,
        "--artifact-sha256": settings.artifact_sha256,
    }
    if all(v is None for v in given.values()):
        return settings
    missing = [flag for flag, v in given.items() if v is None]
    if missing:
        raise SingleVersionError(f"serving one version also needs {', '.join(missing)}")
    if settings.model_repository is not None:
        raise SingleVersionError("--model-repository and --artifact-uri exclude each other")
    assert settings.artifact_uri and settings.artifact_sha256 and settings.model
    cache = settings.artifact_cache_dir
    model_file = fetch_artifact(settings.artifact_uri, settings.artifact_sha256, cache)
    repository = cache / "repository"
    version_dir = repository / settings.model / str(settings.version)
    version_dir.mkdir(parents=True, exist_ok=True)
    target = version_dir / "model.onnx"
    # A link, not a copy: the verified file stays the only copy (read-only root filesystems
    # mount the cache as an emptyDir).
    if target.is_symlink() or target.exists():
        target.unlink()
    os.symlink(model_file, target)
    return settings.model_copy(update={"model_repository": repository})

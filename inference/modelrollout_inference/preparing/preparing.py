"""Lay out a one-version Triton repository: the init container of a `runtime: triton` pod.

The model file is fetched and its sha256 checked against the ModelVersion's (the same
fetching as the ONNX Runtime path); the config is fetched and narrowed to that version with
the ModelVersion's batching. Everything is staged beside the output and moved into place
last, so Triton never sees a half-written repository, and nothing but `<model>/` is left in
the output directory (Triton takes every directory of its repository for a model).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..backends.fetching import ArtifactError, download, fetch_artifact
from .configuring import MODEL_FILE, Batching, serving_config

CONFIG_FILE = "config.pbtxt"
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class Preparation:
    model: str
    version: int
    artifact_uri: str
    sha256: str
    config_uri: str
    output: Path
    batching: Batching


def prepare_repository(job: Preparation) -> Path:
    """Write `<output>/<model>/{config.pbtxt,<version>/model.onnx}`; returns `<output>/<model>`.

    Raises Sha256Mismatch for a tampered artifact, ConfigError for an unusable config and
    ArtifactError when something cannot be fetched.
    """
    job.output.mkdir(parents=True, exist_ok=True)
    staging = job.output / f".staging-{job.model}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        verified = fetch_artifact(job.artifact_uri, job.sha256, staging / "fetch")
        raw_config = staging / "config.source"
        download(job.config_uri, raw_config)
        if raw_config.stat().st_size > MAX_CONFIG_BYTES:
            raise ArtifactError(f"{job.config_uri} is over {MAX_CONFIG_BYTES} bytes")
        try:
            text = raw_config.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ArtifactError(f"{job.config_uri} is not UTF-8 text") from exc
        config = serving_config(text, model=job.model, version=job.version, batching=job.batching)
        entry = staging / job.model
        (entry / str(job.version)).mkdir(parents=True)
        verified.replace(entry / str(job.version) / MODEL_FILE)
        (entry / CONFIG_FILE).write_text(config, encoding="utf-8")
        # Readable by the Triton container whatever its uid (the fetch made it 0600): the
        # pod is the boundary; read-only, since nothing should change it once verified.
        for written in (entry / str(job.version) / MODEL_FILE, entry / CONFIG_FILE):
            written.chmod(0o444)
        target = job.output / job.model
        shutil.rmtree(target, ignore_errors=True)  # a restarted init container starts over
        entry.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target

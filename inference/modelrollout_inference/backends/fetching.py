"""Fetch a model artifact by URI (local path, file://, s3://) and verify its sha256.

S3 goes through boto3, which reads its endpoint and credentials from the environment
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). The hash is checked here, always: S3 servers do
not all verify checksums, and a model that is not the one the operator approved must not serve.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit


class ArtifactError(Exception):
    """The artifact could not be fetched, or is not the one expected."""


class Sha256Mismatch(ArtifactError):
    """The fetched bytes are not the ones approved: never retry into serving them."""

    def __init__(self, uri: str, actual: str, expected: str) -> None:
        super().__init__(f"sha256 of {uri} is {actual}, expected {expected}: refusing it")
        self.uri, self.actual, self.expected = uri, actual, expected


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_artifact(uri: str, sha256: str, cache_dir: Path) -> Path:
    """A verified local copy of `uri`, cached by hash under `cache_dir`."""
    expected = sha256.lower()
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"{expected}.onnx"
    if target.is_file() and sha256_of(target) == expected:
        return target
    handle, temporary_name = tempfile.mkstemp(dir=cache_dir, suffix=".part")
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        _download(uri, temporary)
        actual = sha256_of(temporary)
        if actual != expected:
            raise Sha256Mismatch(uri, actual, expected)
        temporary.replace(target)  # atomic: readers never see a half-written model
    finally:
        temporary.unlink(missing_ok=True)
    return target


def download(uri: str, destination: Path) -> None:
    """Copy `uri` (local path, file://, s3://) to `destination`, unverified: the caller checks."""
    _download(uri, destination)


def _download(uri: str, destination: Path) -> None:
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        import boto3  # imported lazily: only S3 artifacts need it
        from botocore.exceptions import BotoCoreError, ClientError

        key = parts.path.lstrip("/")
        if not parts.netloc or not key:
            raise ArtifactError(f"s3 uri needs a bucket and a key: {uri!r}")
        try:
            boto3.client("s3").download_file(parts.netloc, key, str(destination))
        except (BotoCoreError, ClientError) as exc:
            raise ArtifactError(f"cannot download {uri}: {exc}") from exc
        return
    if parts.scheme in ("", "file"):
        source = Path(parts.path if parts.scheme == "file" else uri)
        if not source.is_file():
            raise ArtifactError(f"no artifact at {source}")
        shutil.copyfile(source, destination)
        return
    raise ArtifactError(f"unsupported artifact uri scheme {parts.scheme!r} in {uri!r}")

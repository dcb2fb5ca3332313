"""Local paths and `s3://` objects behind one small interface, with sha256 on both ways.

S3 settings come from the environment as on Kubernetes: boto3 reads the credentials and
`AWS_ENDPOINT_URL(_S3)`; `S3_ENDPOINT_URL` (KServe, MLflow) is honoured as well.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import IntegrityError, StorageError, StorageUnavailable, UsageError

log = logging.getLogger(__name__)

SHA256_METADATA_KEY = "sha256"
SHA256_SIDECAR_SUFFIX = ".sha256"
_CHUNK = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def parse_s3(uri: str) -> S3Location:
    if not is_s3(uri):
        raise UsageError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise UsageError(f"S3 URI has no bucket: {uri!r}")
    return S3Location(bucket, key)


def join_uri(base: str, *parts: str) -> str:
    """Join path parts onto a local path or an s3:// prefix."""
    if is_s3(base):
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return str(Path(base).joinpath(*parts))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def s3_client() -> Any:
    import boto3  # deferred: boto3 is slow to import and only S3 paths need it
    from botocore.config import Config

    endpoint = os.environ.get("S3_ENDPOINT_URL") or None
    # botocore's own retries stay short; `_retrying` waits out longer outages.
    config = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=10)
    return boto3.client("s3", endpoint_url=endpoint, config=config)


#: S3 error codes that say "try again later", not "this request is wrong".
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError",
     "ServiceUnavailable", "503", "500", "502", "504"}
)  # fmt: skip


def is_transient(error: BaseException) -> bool:
    """An unreachable endpoint, a dropped connection, a timeout, 5xx or throttling."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(error, ConnectionError | HTTPClientError | TimeoutError | OSError):
        return True
    if isinstance(error, ClientError):
        meta = error.response.get("ResponseMetadata", {})
        code = str(error.response.get("Error", {}).get("Code", ""))
        return int(meta.get("HTTPStatusCode") or 0) >= 500 or code in _TRANSIENT_CODES
    return False


def retry_budget() -> float:
    """Seconds a storage call keeps retrying (MODELROLLOUT_STORAGE_RETRY_SECONDS, default 120)."""
    try:
        return max(0.0, float(os.environ.get("MODELROLLOUT_STORAGE_RETRY_SECONDS", "120")))
    except ValueError:
        return 120.0


def _retrying(what: str, call: Callable[[], T]) -> T:
    """`call()`, retried with exponential back-off (0.5 s doubling, at most 10 s apart) while it
    fails transiently, for `retry_budget()` seconds; then StorageUnavailable (its own exit
    code, which the Job retries). A permanent error is raised at once, as it came."""
    deadline = time.monotonic() + retry_budget()
    delay = 0.5
    attempt = 1
    while True:
        try:
            return call()
        except Exception as error:
            if not is_transient(error):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise StorageUnavailable(
                    f"{what}: storage unavailable after {attempt} attempts: {error}"
                ) from error
            log.warning(
                "storage retry",
                extra={"fields": {"what": what, "attempt": attempt, "error": str(error)}},
            )
            time.sleep(min(delay, left))
            delay = min(delay * 2, 10.0)
            attempt += 1


def copy_atomically(source: Path, target: Path) -> None:
    """Copy `source` to `target` so that a reader sees the old file or the new one, whole.

    The copy goes to a temporary name of its own in the target's directory (same file system,
    so the rename is atomic), then replaces the target. Several writers of one target at once
    (two trainings of one model into one repository both write `<model>/config.pbtxt`) each
    use their own temporary file: the last rename wins and no writer loses its file midway.
    """
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    partial = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, _CHUNK)
        os.chmod(partial, 0o644)  # mkstemp makes it 0600; a served model must stay readable
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def upload_file(source: Path, uri: str, *, sha256: str | None = None, client: Any = None) -> None:
    """Copy a local file to a local path or S3; with `sha256`, record it beside the object."""
    if not is_s3(uri):
        target = Path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.resolve() != target.resolve():
            copy_atomically(source, target)
        return
    location = parse_s3(uri)
    extra: dict[str, Any] = {}
    if sha256 is not None:
        # Real S3 verifies ChecksumSHA256 in transit; the metadata copy survives for readers.
        extra["Metadata"] = {SHA256_METADATA_KEY: sha256}
        extra["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(sha256)).decode()
    client = client or s3_client()

    def put() -> None:
        with source.open("rb") as body:
            client.put_object(Bucket=location.bucket, Key=location.key, Body=body, **extra)

    try:
        _retrying(f"upload to {uri}", put)
    except StorageError:
        raise
    except Exception as error:  # botocore raises many unrelated types
        raise StorageError(f"cannot upload to {uri}: {error}") from error
    log.info("uploaded", extra={"fields": {"uri": uri, "bytes": source.stat().st_size}})


def upload_text(text: str, uri: str, *, client: Any = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "body"
        path.write_text(text, encoding="utf-8")
        upload_file(path, uri, client=client)


def download_file(uri: str, target: Path, *, client: Any = None) -> None:
    """Copy a local path or S3 object to `target` (no integrity check: see `fetch_verified`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not is_s3(uri):
        source = Path(uri)
        if not source.is_file():
            raise StorageError(f"no such file: {uri}")
        shutil.copyfile(source, target)
        return
    location = parse_s3(uri)
    client = client or s3_client()
    try:
        _retrying(
            f"download {uri}",
            lambda: client.download_file(location.bucket, location.key, str(target)),
        )
    except StorageError:
        raise
    except Exception as error:
        raise StorageError(f"cannot download {uri}: {error}") from error


def recorded_sha256(uri: str, *, client: Any = None) -> str | None:
    """The sha256 stored beside an artifact: S3 object metadata, else a `.sha256` sidecar."""
    if is_s3(uri):
        location = parse_s3(uri)
        client = client or s3_client()
        try:
            head = _retrying(
                f"read {uri}",
                lambda: client.head_object(Bucket=location.bucket, Key=location.key),
            )
        except StorageError:
            raise
        except Exception as error:
            raise StorageError(f"cannot read {uri}: {error}") from error
        value = head.get("Metadata", {}).get(SHA256_METADATA_KEY)
        if value:
            return str(value).lower()
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = Path(tmp) / "sidecar"
        try:
            download_file(uri + SHA256_SIDECAR_SUFFIX, sidecar, client=client)
        except StorageUnavailable:
            raise
        except StorageError:
            return None
        text = sidecar.read_text(encoding="utf-8").split()
    return text[0].lower() if text else None


def fetch_verified(
    uri: str, target: Path, *, expected_sha256: str | None = None, client: Any = None
) -> str:
    """Download `uri` to `target` only if its sha256 matches; return the sha256.

    The expected hash comes from the caller (e.g. ModelVersion.status.artifact.sha256) or,
    failing that, from the hash recorded beside the artifact at upload. A mismatch leaves
    `target` untouched.
    """
    expected = (expected_sha256 or recorded_sha256(uri, client=client) or "").lower()
    if not expected:
        raise UsageError(f"no sha256 to verify {uri} against: pass --sha256")
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise UsageError(f"--sha256 must be 64 hex digits, got {expected!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        partial = Path(tmp) / target.name
        download_file(uri, partial, client=client)
        actual = sha256_file(partial)
        if actual != expected:
            raise IntegrityError(f"artifact {uri} refused: sha256 is {actual}, expected {expected}")
        partial.replace(target)
    return actual

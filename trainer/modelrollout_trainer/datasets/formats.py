"""Reading and writing tables as CSV, JSON Lines or Parquet, from a local path or S3."""

from __future__ import annotations

import logging
import tempfile
from enum import StrEnum
from pathlib import Path

import pandas as pd

from ..errors import DatasetError, StorageError, StorageUnavailable, UsageError
from ..storage import download_file, is_s3, upload_file

log = logging.getLogger(__name__)


class TableFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


_SUFFIXES = {
    ".csv": TableFormat.CSV,
    ".jsonl": TableFormat.JSONL,
    ".ndjson": TableFormat.JSONL,
    ".parquet": TableFormat.PARQUET,
    ".pq": TableFormat.PARQUET,
}
_COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst")


def detect_format(uri: str) -> TableFormat:
    """The table format named by the file extension (a compression suffix is looked through)."""
    name = uri.rstrip("/").rsplit("/", 1)[-1].lower()
    for compression in _COMPRESSIONS:
        if name.endswith(compression):
            name = name[: -len(compression)]
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    try:
        return _SUFFIXES[suffix]
    except KeyError:
        known = ", ".join(sorted(_SUFFIXES))
        raise UsageError(f"cannot tell the format of {uri!r}: expected one of {known}") from None


def _read_local(path: Path, fmt: TableFormat) -> pd.DataFrame:
    try:
        if fmt is TableFormat.CSV:
            return pd.read_csv(path)
        if fmt is TableFormat.JSONL:
            return pd.read_json(path, lines=True)
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (ValueError, OSError) as error:
        raise DatasetError(f"cannot parse {path.name} as {fmt.value}: {error}") from error


def read_table(uri: str) -> pd.DataFrame:
    """Read a table from a local path or `s3://bucket/key`, format from the extension."""
    fmt = detect_format(uri)
    if not is_s3(uri):
        path = Path(uri)
        if not path.is_file():
            raise DatasetError(f"dataset not found: {uri}")
        frame = _read_local(path, fmt)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / uri.rsplit("/", 1)[-1]
            try:
                download_file(uri, local)
            except StorageUnavailable:
                raise  # transient: its own exit code, so the Job tries again
            except StorageError as error:
                raise DatasetError(f"dataset not readable: {error}") from error
            frame = _read_local(local, fmt)
    log.info(
        "dataset read",
        extra={"fields": {"uri": uri, "rows": len(frame), "columns": len(frame.columns)}},
    )
    return frame


def write_table(frame: pd.DataFrame, uri: str) -> None:
    """Write a table to a local path or S3, format from the extension."""
    fmt = detect_format(uri)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / uri.rsplit("/", 1)[-1]
        if fmt is TableFormat.CSV:
            frame.to_csv(local, index=False)
        elif fmt is TableFormat.JSONL:
            frame.to_json(local, orient="records", lines=True)
        else:
            frame.to_parquet(local, index=False)
        upload_file(local, uri)

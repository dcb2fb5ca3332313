"""From "collect data from day one" to "train the next version": the gateway's prediction
log plus its feedback, joined by requestId into a training table (docs/contracts.md §4).

Feedback arrives after its prediction, often in a later file, so the join happens once all
records are read. A request of N rows carries N labels. Predictions with no feedback yet
are counted and, on request, kept with an empty label.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DatasetError, TrainerError, UsageError
from ..schema import LABEL_COLUMN, SCORING_FEATURES, generic_feature_names

log = logging.getLogger(__name__)

CURRENT_FILE = "predictions-current.jsonl"
_PATTERN = "predictions-*.jsonl"
Label = float | int | None


@dataclass
class BuildStats:
    predictions: int = 0
    feedback: int = 0
    rows_labelled: int = 0
    rows_unlabelled: int = 0
    shadow_skipped: int = 0
    other_models_skipped: int = 0
    feedback_without_prediction: int = 0
    invalid_records: int = 0
    malformed_lines: int = 0
    outside_window: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class JoinedRows:
    features: list[list[float]] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    stats: BuildStats = field(default_factory=BuildStats)

    @property
    def width(self) -> int:
        return len(self.features[0]) if self.features else 0


def log_files(locations: Sequence[str]) -> list[Path]:
    """Expand directories to their log files, oldest first; the open file comes last."""
    files: list[Path] = []
    for location in locations:
        path = Path(location)
        if path.is_dir():
            found = sorted(path.glob(_PATTERN), key=lambda p: (p.name == CURRENT_FILE, p.name))
            if not found:
                raise DatasetError(f"no {_PATTERN} files in {location}")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise DatasetError(f"prediction log not found: {location}")
    return files


def fetch_logs(locations: Sequence[str], into: Path) -> list[str]:
    """Local copies of the prediction-log files under s3:// prefixes (others as they are).

    The gateway uploads closed files as `<prefix>/predictions-<UTC timestamp>-<n>.jsonl`.
    """
    from ..storage import _retrying, download_file, parse_s3, s3_client

    local: list[str] = []
    client = None
    for location in locations:
        if not location.startswith("s3://"):
            local.append(location)
            continue
        client = client or s3_client()
        where = parse_s3(location)
        prefix = where.key.strip("/")
        prefix = f"{prefix}/" if prefix else ""
        folder = into / f"log-{len(local)}"
        folder.mkdir(parents=True, exist_ok=True)

        def listing(
            bucket: str = where.bucket, prefix: str = prefix, s3: Any = client
        ) -> list[str]:
            keys: list[str] = []
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for item in page.get("Contents") or ():
                    leaf = str(item["Key"]).rsplit("/", 1)[-1]
                    if leaf.startswith("predictions-") and leaf.endswith(".jsonl"):
                        keys.append(str(item["Key"]))
            return keys

        try:  # outages are retried, then exit 6 (the Job replaces the pod)
            keys = _retrying(f"list {location}", listing)
        except TrainerError:
            raise
        except Exception as error:  # no such bucket, access denied: the arguments are wrong
            raise DatasetError(f"cannot list {location}: {error}") from error
        if not keys:
            raise DatasetError(f"no predictions-*.jsonl files under {location}")
        for key in sorted(keys):
            leaf = key.rsplit("/", 1)[-1]
            download_file(f"s3://{where.bucket}/{key}", folder / leaf, client=client)
        local.append(str(folder))
    return local


def read_records(files: Iterable[Path], stats: BuildStats) -> Iterator[dict[str, Any]]:
    """Every JSON object line; a torn or garbled line (e.g. the tail of a crashed writer's
    open file) is counted and skipped, not fatal."""
    for path in files:
        with path.open("r", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    stats.malformed_lines += 1
                    log.warning(
                        "malformed log line", extra={"fields": {"file": path.name, "line": number}}
                    )
                    continue
                if isinstance(record, dict):
                    yield record
                else:
                    stats.malformed_lines += 1


def _feature_rows(record: dict[str, Any]) -> list[list[float]] | None:
    rows = (record.get("inputs") or {}).get("features")
    if not isinstance(rows, list) or not rows:
        return None
    if not all(isinstance(row, list) and row for row in rows):
        return None
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for row in rows
        for v in row
    ):
        return None
    return [[float(v) for v in row] for row in rows]


def _labels(value: Any, count: int) -> list[Label] | None:
    values = value if isinstance(value, list) else [value]
    if len(values) != count:
        return None
    if not all(v is None or (isinstance(v, int | float) and math.isfinite(v)) for v in values):
        return None
    return [None if v is None else (int(v) if isinstance(v, bool) else v) for v in values]


def parse_time(text: str) -> datetime:
    """An RFC 3339 time ("2026-11-25T03:20:00.123Z"); naive times are UTC."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"not an RFC 3339 time: {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _in_window(record: dict[str, Any], since: datetime | None, until: datetime | None) -> bool:
    if since is None and until is None:
        return True
    stamp = record.get("time")
    if not isinstance(stamp, str):
        return False
    try:
        when = parse_time(stamp)
    except UsageError:
        return False
    return (since is None or when >= since) and (until is None or when < until)


def join_records(
    records: Iterable[dict[str, Any]],
    model: str,
    versions: Sequence[str] | None = None,
    stats: BuildStats | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> JoinedRows:
    """Join predictions of `model` (and `versions`, if given) with their feedback. Pure.

    One row per request id: the routed prediction of a request is the one kept (a shadow
    copy has the same inputs, a file uploaded twice repeats it); the last feedback of a
    request wins, so a corrected label replaces an earlier one. With `since`/`until`, only
    predictions made in [since, until) are kept (their feedback may come later).
    """
    stats = stats or BuildStats()
    wanted = {str(v) for v in versions} if versions else None
    predictions: dict[str, list[list[float]]] = {}
    feedback: dict[str, Any] = {}
    for record in records:
        kind, request = record.get("kind"), record.get("requestId")
        if not isinstance(request, str) or kind not in ("prediction", "feedback"):
            stats.invalid_records += 1
            continue
        if record.get("model") != model:
            stats.other_models_skipped += 1
            continue
        if kind == "feedback":
            stats.feedback += 1
            feedback[request] = record.get("label")
            continue
        if record.get("route") == "shadow":
            stats.shadow_skipped += 1
            continue
        if wanted is not None and str(record.get("version")) not in wanted:
            stats.other_models_skipped += 1
            continue
        if not _in_window(record, since, until):
            stats.outside_window += 1
            continue
        rows = _feature_rows(record)
        if rows is None:
            stats.invalid_records += 1
            continue
        stats.predictions += 1
        predictions.setdefault(request, rows)

    joined = JoinedRows(stats=stats)
    for request, rows in predictions.items():
        if any(len(r) != len(rows[0]) for r in rows):
            raise DatasetError(f"prediction log: request {request!r} has rows of different widths")
        if joined.features and len(rows[0]) != joined.width:
            raise DatasetError(
                f"prediction log: request {request!r} has {len(rows[0])} features, earlier "
                f"requests have {joined.width}; build one model version at a time (--version)"
            )
        labels = (
            _labels(feedback[request], len(rows)) if request in feedback else [None] * len(rows)
        )
        if labels is None:
            stats.invalid_records += 1
            labels = [None] * len(rows)
        joined.features += rows
        joined.labels += labels
    stats.feedback_without_prediction = sum(1 for r in feedback if r not in predictions)
    stats.rows_labelled = sum(1 for label in joined.labels if label is not None)
    stats.rows_unlabelled = len(joined.labels) - stats.rows_labelled
    return joined


def feature_names(spec: str, width: int) -> tuple[str, ...]:
    if spec == "auto":
        return SCORING_FEATURES if width == len(SCORING_FEATURES) else generic_feature_names(width)
    if spec == "generic":
        return generic_feature_names(width)
    names = tuple(n.strip() for n in spec.split(",") if n.strip())
    if len(names) != width:
        raise UsageError(f"--feature-names lists {len(names)} names; the log has {width} features")
    return names


def to_frame(
    joined: JoinedRows, names_spec: str = "auto", include_unlabelled: bool = False
) -> pd.DataFrame:
    names = feature_names(names_spec, joined.width)
    keep = [i for i, label in enumerate(joined.labels) if include_unlabelled or label is not None]
    frame = pd.DataFrame([joined.features[i] for i in keep], columns=list(names), dtype="float32")
    labels = pd.Series([joined.labels[i] for i in keep], dtype="float64")
    frame[LABEL_COLUMN] = (
        labels
        if labels.isna().any() or not (labels == labels.round()).all()
        else labels.astype("int64")
    )
    return frame

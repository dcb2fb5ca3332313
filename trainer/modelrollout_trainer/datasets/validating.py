"""Validating a table against its schema before any training starts.

Every failure names the column, and the row where one is to blame. Rows are counted from 1
over the data rows (the CSV header is not a row), in file order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import DatasetError
from ..schema import DatasetSchema, Task

log = logging.getLogger(__name__)

# Each class needs enough rows that every split (80/10/10) still sees it.
MIN_ROWS_PER_CLASS = 10
MIN_ROWS = 10
# Below this share the minority class is trainable but the metrics get noisy: warn only.
IMBALANCE_WARNING = 0.02


@dataclass(frozen=True)
class LabelledData:
    features: npt.NDArray[np.float32]  # [rows, features]
    labels: npt.NDArray[np.float64]  # class index (binary/multiclass) or target (regression)
    feature_names: tuple[str, ...]
    task: Task
    num_classes: int  # 2 for binary, C for multiclass, 1 for regression

    @property
    def rows(self) -> int:
        return int(self.features.shape[0])


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _numeric_column(frame: pd.DataFrame, column: str) -> npt.NDArray[np.float64]:
    """The column as float64, or a DatasetError naming the first row that is not a number."""
    series = frame[column]
    values: npt.NDArray[np.float64]
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        coerced = pd.to_numeric(series, errors="coerce")
        bad = coerced.isna().to_numpy() & series.notna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DatasetError(
                f"column {column!r}, row {row + 1}: {_preview(series.iloc[row])} is not a number"
            )
        values = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        what = "missing value (NaN or empty)" if np.isnan(values[row]) else "infinite value"
        raise DatasetError(f"column {column!r}, row {row + 1}: {what}")
    return values


def _check_classes(labels: npt.NDArray[np.float64], column: str, task: Task) -> int:
    integral = labels == np.round(labels)
    if not integral.all():
        row = int(np.flatnonzero(~integral)[0])
        raise DatasetError(
            f"column {column!r}, row {row + 1}: {labels[row]:g} is not a class index"
        )
    if task is Task.BINARY:
        outside = (labels != 0) & (labels != 1)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise DatasetError(
                f"column {column!r}, row {row + 1}: {labels[row]:g} is not a binary label (0 or 1)"
            )
        num_classes = 2
    else:
        negative = labels < 0
        if negative.any():
            row = int(np.flatnonzero(negative)[0])
            raise DatasetError(
                f"column {column!r}, row {row + 1}: {labels[row]:g} is negative; classes are 0..C-1"
            )
        num_classes = int(labels.max()) + 1
    counts = np.bincount(labels.astype(np.int64), minlength=num_classes)
    present = np.flatnonzero(counts)
    if present.size < 2:
        raise DatasetError(
            f"column {column!r}: all {labels.size} rows are class {int(present[0])}; "
            f"a {task.value} model needs at least two classes"
        )
    for cls, count in enumerate(counts):
        if count < MIN_ROWS_PER_CLASS:
            raise DatasetError(
                f"column {column!r}: class {cls} has {count} row(s); each class needs "
                f"at least {MIN_ROWS_PER_CLASS} so every split sees it"
            )
    minority = counts.min() / labels.size
    if minority < IMBALANCE_WARNING:
        log.warning(
            "class imbalance",
            extra={"fields": {"column": column, "minority_share": round(minority, 4)}},
        )
    return num_classes


def validate(frame: pd.DataFrame, schema: DatasetSchema) -> LabelledData:
    """Check the table against the schema and return its features and labels as arrays."""
    if len(frame.columns) == 0 or len(frame) == 0:
        raise DatasetError("dataset is empty: it has no rows")
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    missing = [c for c in schema.required_columns if c not in columns]
    if missing:
        shown = ", ".join(repr(c) for c in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise DatasetError(f"dataset is missing required column(s): {shown}{more}")
    duplicated = sorted({c for c in schema.required_columns if columns.count(c) > 1})
    if duplicated:
        raise DatasetError(f"column {duplicated[0]!r} appears more than once")
    if len(frame) < MIN_ROWS:
        raise DatasetError(f"dataset has {len(frame)} row(s); at least {MIN_ROWS} are needed")
    features = np.empty((len(frame), len(schema.features)), dtype=np.float32)
    for index, column in enumerate(schema.features):
        values = _numeric_column(frame, column)
        too_large = np.abs(values) > np.finfo(np.float32).max
        if too_large.any():
            row = int(np.flatnonzero(too_large)[0])
            raise DatasetError(f"column {column!r}, row {row + 1}: value overflows float32")
        features[:, index] = values
    labels = _numeric_column(frame, schema.label)
    if schema.task is Task.REGRESSION:
        num_classes = 1
    else:
        num_classes = _check_classes(labels, schema.label, schema.task)
    return LabelledData(features, labels, schema.features, schema.task, num_classes)

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelrollout_trainer.cli import main
from modelrollout_trainer.datasets.formats import read_table
from modelrollout_trainer.datasets.validating import validate
from modelrollout_trainer.errors import DatasetError
from modelrollout_trainer.schema import SCORING_FEATURES, DatasetSchema, Task

SCHEMA = DatasetSchema(SCORING_FEATURES, "label", Task.BINARY)


def _frame(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, len(SCORING_FEATURES))), columns=SCORING_FEATURES)
    frame["label"] = np.arange(rows) % 2
    return frame


def test_a_good_frame_becomes_arrays() -> None:
    data = validate(_frame(), SCHEMA)
    assert data.features.shape == (60, 39) and data.features.dtype == np.float32
    assert data.num_classes == 2 and data.feature_names == SCORING_FEATURES


def test_missing_column_is_named() -> None:
    with pytest.raises(DatasetError, match=r"missing required column\(s\): 'item_3'"):
        validate(_frame().drop(columns=["item_3"]), SCHEMA)


def test_wrong_type_names_column_and_row(tmp_path: Path) -> None:
    frame = _frame().astype({"ctx_4": object})
    frame.loc[16, "ctx_4"] = "high"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError, match=r"column 'ctx_4', row 17: 'high' is not a number"):
        validate(read_table(str(path)), SCHEMA)


def test_nan_names_column_and_row() -> None:
    frame = _frame()
    frame.loc[41, "time_2"] = np.nan
    with pytest.raises(DatasetError, match=r"column 'time_2', row 42: missing value"):
        validate(frame, SCHEMA)


def test_infinite_value_is_refused() -> None:
    frame = _frame()
    frame.loc[3, "user_0"] = np.inf
    with pytest.raises(DatasetError, match=r"column 'user_0', row 4: infinite value"):
        validate(frame, SCHEMA)


def test_empty_dataset(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DatasetError, match="empty"):
        validate(read_table(str(path)), SCHEMA)
    with pytest.raises(DatasetError, match="empty"):
        validate(_frame().iloc[:0], SCHEMA)


def test_all_one_class() -> None:
    frame = _frame()
    frame["label"] = 1
    with pytest.raises(DatasetError, match=r"column 'label': all 60 rows are class 1"):
        validate(frame, SCHEMA)


def test_binary_label_out_of_range() -> None:
    frame = _frame()
    frame.loc[7, "label"] = 2
    with pytest.raises(DatasetError, match=r"column 'label', row 8: 2 is not a binary label"):
        validate(frame, SCHEMA)


def test_too_few_rows_of_a_class() -> None:
    frame = _frame()
    frame["label"] = 0
    frame.loc[:2, "label"] = 1
    with pytest.raises(DatasetError, match=r"class 1 has 3 row\(s\)"):
        validate(frame, SCHEMA)


def test_multiclass_labels_must_be_class_indices() -> None:
    frame = _frame()
    frame["label"] = (np.arange(60) % 3).astype(float)
    assert (
        validate(frame, DatasetSchema(SCORING_FEATURES, "label", Task.MULTICLASS)).num_classes == 3
    )
    frame.loc[5, "label"] = 1.5
    with pytest.raises(DatasetError, match=r"row 6: 1.5 is not a class index"):
        validate(frame, DatasetSchema(SCORING_FEATURES, "label", Task.MULTICLASS))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["label"]), "missing required column(s): 'label'"),
        (lambda f: f.assign(label=0), "all 60 rows are class 0"),
    ],
)
def test_train_command_exits_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate: object, message: str
) -> None:
    path = tmp_path / "bad.parquet"
    mutate(_frame()).to_parquet(path)  # type: ignore[operator]
    code = main(
        [
            "train",
            "--dataset",
            str(path),
            "--model",
            "scorer",
            "--version",
            "1",
            "--output",
            str(tmp_path / "repo"),
            "--quiet",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert message in err
    assert '"exitCode":2' in out.strip().splitlines()[-1]
    assert not (tmp_path / "repo").exists()


def test_unknown_extension_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "train",
            "--dataset",
            str(tmp_path / "data.xlsx"),
            "--model",
            "scorer",
            "--version",
            "1",
            "--output",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 2
    assert "cannot tell the format" in capsys.readouterr().err

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from modelrollout_trainer.errors import ParityError
from modelrollout_trainer.exporting import check_parity, export_onnx, run_onnx, session
from modelrollout_trainer.models import ScoringHead, TabularMLP
from modelrollout_trainer.schema import Task


def _head(task: Task, outputs: int, features: int = 5) -> ScoringHead:
    torch.manual_seed(0)
    mlp = TabularMLP(
        np.full(features, 0.5, np.float32), np.full(features, 2.0, np.float32), (8, 4), outputs
    )
    return ScoringHead(mlp, task, target_mean=10.0, target_std=3.0).eval()


@pytest.mark.parametrize(
    ("task", "outputs"), [(Task.BINARY, 1), (Task.MULTICLASS, 3), (Task.REGRESSION, 1)]
)
def test_export_has_contract_io_and_dynamic_batch(tmp_path: Path, task: Task, outputs: int) -> None:
    path = tmp_path / "model.onnx"
    export_onnx(_head(task, outputs), 5, path)
    sess = session(path)
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert (inp.name, inp.type) == ("features", "tensor(float)")
    assert (out.name, out.type) == ("score", "tensor(float)")
    assert isinstance(inp.shape[0], str) and inp.shape[1] == 5
    for batch in (1, 7, 300):
        scores = run_onnx(
            path, np.random.default_rng(batch).normal(size=(batch, 5)).astype(np.float32)
        )
        assert scores.shape == (batch, outputs)
    if task is Task.MULTICLASS:
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
    features = np.random.default_rng(1).normal(size=(64, 5)).astype(np.float32)
    assert check_parity(_head(task, outputs), path, features) <= 1e-5


def test_parity_check_fails_on_a_model_that_differs(tmp_path: Path) -> None:
    head = _head(Task.BINARY, 1)
    path = tmp_path / "model.onnx"
    export_onnx(head, 5, path)
    model = onnx.load(str(path))
    weight = next(t for t in model.graph.initializer if len(t.dims) == 2)
    values = onnx.numpy_helper.to_array(weight).copy()
    values[0, 0] += 0.5  # a wrong weight, as a broken exporter might write
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    onnx.save(model, str(path))
    features = np.random.default_rng(2).normal(size=(256, 5)).astype(np.float32)
    with pytest.raises(ParityError, match="ONNX Runtime differs from PyTorch"):
        check_parity(head, path, features)

"""Small real ONNX models for tests: the trainer's exported shape, with chosen weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

FEATURES = 39


def write_linear_model(
    path: Path, weights: Sequence[float] | np.ndarray | Mapping[int, float], bias: float = 0.0
) -> None:
    """features[-1,39] -> MatMul -> Add -> Sigmoid -> score[-1,1], as the trainer exports.

    `weights`: all 39, or {feature index: weight} with the rest 0 (none: a constant answer,
    sigmoid(bias))."""
    if isinstance(weights, Mapping):
        dense = np.zeros(FEATURES, dtype=np.float32)
        for i, v in weights.items():
            dense[i] = v
    else:
        dense = np.asarray(weights, dtype=np.float32).ravel()
    w = helper.make_tensor("w", TensorProto.FLOAT, [FEATURES, 1], dense)
    b = helper.make_tensor("b", TensorProto.FLOAT, [1], [bias])
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "w"], ["logit0"]),
            helper.make_node("Add", ["logit0", "b"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["score"]),
        ],
        "scorer",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, FEATURES])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))

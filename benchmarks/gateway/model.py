"""The benchmark's model: the same shape as the trainer's (features[-1,39] -> score[-1,1])."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

FEATURES = 39
HIDDEN = 64


def write_model(path: Path, seed: int = 0) -> None:
    """A small MLP (39 -> 64 ReLU -> 1 sigmoid), like the trainer's tabular scorer."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(scale=0.2, size=(FEATURES, HIDDEN)).astype(np.float32)
    w2 = rng.normal(scale=0.2, size=(HIDDEN, 1)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "w1"], ["h0"]),
            helper.make_node("Relu", ["h0"], ["h"]),
            helper.make_node("MatMul", ["h", "w2"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["score"]),
        ],
        "scorer",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, FEATURES])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])],
        initializer=[
            helper.make_tensor("w1", TensorProto.FLOAT, list(w1.shape), w1.ravel()),
            helper.make_tensor("w2", TensorProto.FLOAT, list(w2.shape), w2.ravel()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))

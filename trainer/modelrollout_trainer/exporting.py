"""ONNX export with a dynamic batch axis, and the ONNX Runtime parity check."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch

from .errors import ParityError
from .models import ScoringHead
from .training import predict

log = logging.getLogger(__name__)

INPUT_NAME = "features"
OUTPUT_NAME = "score"
OPSET = 17
PARITY_TOLERANCE = 1e-5


def export_onnx(head: ScoringHead, num_features: int, path: Path) -> None:
    """Write `head` as ONNX: input `features` FP32 [-1, F], output `score` FP32 [-1, K]."""
    head = head.cpu().eval()
    example = torch.zeros(2, num_features, dtype=torch.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # the TorchScript exporter warns that it is legacy; it needs no onnxscript
        warnings.simplefilter("ignore")
        torch.onnx.export(
            head,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    onnx.checker.check_model(str(path))


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT is chatty about unused initializers
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(
    path: Path, features: npt.NDArray[np.float32], batch_size: int = 65_536
) -> npt.NDArray[np.float32]:
    sess = session(path, threads=0)
    outputs = [
        np.asarray(sess.run([OUTPUT_NAME], {INPUT_NAME: features[i : i + batch_size]})[0])
        for i in range(0, features.shape[0], batch_size)
    ]
    return np.concatenate(outputs).astype(np.float32)


def max_abs_difference(expected: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    a, b = np.asarray(expected, np.float64), np.asarray(actual, np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def check_parity(
    head: ScoringHead,
    path: Path,
    features: npt.NDArray[np.float32],
    tolerance: float = PARITY_TOLERANCE,
) -> float:
    """ONNX Runtime must reproduce the PyTorch scores on `features`; return the max abs diff."""
    difference = max_abs_difference(predict(head, features), run_onnx(path, features))
    log.info("parity", extra={"fields": {"rows": features.shape[0], "max_abs_diff": difference}})
    if not difference <= tolerance:
        raise ParityError(
            f"ONNX Runtime differs from PyTorch by {difference:.3g} on {features.shape[0]} rows "
            f"(tolerance {tolerance:g})"
        )
    return difference

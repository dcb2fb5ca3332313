"""Embedded ONNX Runtime: one shared InferenceSession per model version, in process.

Runs on the event loop: for the small tabular models this gateway embeds, a session call takes
microseconds, less than a hop to a thread pool would cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort
import structlog

from ..errors import BackendFailure
from ..tensors import ONNX_TO_V2, Array, InferenceRequest, TensorSpec
from .base import select_outputs, validate_inputs

log = structlog.get_logger(__name__)


def _spec(node: ort.NodeArg) -> TensorSpec:
    datatype = ONNX_TO_V2.get(node.type)
    if datatype is None:
        raise ValueError(
            f"tensor '{node.name}' has type {node.type}, which the gateway cannot serve"
        )
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in node.shape)
    return TensorSpec(name=node.name, datatype=datatype, shape=shape)


def providers() -> list[str]:
    """CUDA first when this onnxruntime build has it, CPU always."""
    available = ort.get_available_providers()
    chosen = [p for p in ("CUDAExecutionProvider",) if p in available]
    return [*chosen, "CPUExecutionProvider"]


class EmbeddedOnnxBackend:
    def __init__(self, path: Path, *, intra_op_threads: int = 1) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"no ONNX model at {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self._path = path
        self._session = ort.InferenceSession(str(path), options, providers=providers())
        self._inputs = [_spec(node) for node in self._session.get_inputs()]
        self._outputs = [_spec(node) for node in self._session.get_outputs()]

    @property
    def description(self) -> str:
        return f"onnxruntime:{self._path}"

    @property
    def inputs(self) -> Sequence[TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> Sequence[TensorSpec]:
        return self._outputs

    def is_ready(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def infer(self, request: InferenceRequest) -> dict[str, Array]:
        validate_inputs(self._inputs, request)
        names = select_outputs(self._outputs, request)
        try:
            results = self._session.run(names, request.inputs)
        except Exception as exc:  # ORT raises its own hierarchy; any failure is the backend's
            raise BackendFailure(f"onnxruntime failed: {exc}") from exc
        return dict(zip(names, results, strict=True))

    async def close(self) -> None:
        return None

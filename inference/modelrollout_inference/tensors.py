"""Tensor datatypes of the KServe v2 protocol and their numpy and ONNX counterparts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

# v2 datatype -> numpy dtype (little-endian, as the binary extension requires).
V2_TO_NUMPY: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}

NUMPY_TO_V2: dict[np.dtype[Any], str] = {dtype: name for name, dtype in V2_TO_NUMPY.items()}

# ONNX Runtime type strings -> v2 datatype.
ONNX_TO_V2: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
}

Array = npt.NDArray[Any]


def v2_datatype(array: Array) -> str:
    """The v2 datatype name of a numpy array, or a clear error."""
    name = NUMPY_TO_V2.get(array.dtype.newbyteorder("<"))
    if name is None:
        raise ValueError(f"numpy dtype {array.dtype} has no KServe v2 datatype")
    return name


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A declared input or output: name, v2 datatype, shape (-1 = any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def accepts_shape(self, shape: tuple[int, ...]) -> bool:
        if len(shape) != len(self.shape):
            return False
        return all(want < 0 or want == got for want, got in zip(self.shape, shape, strict=True))

    def as_metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass(slots=True)
class InferenceRequest:
    """A decoded inference request: what every backend receives."""

    request_id: str
    inputs: dict[str, Array]
    # None: every output the model has; binary_default applies to those.
    outputs: list[RequestedOutput] | None = None
    binary_default: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)

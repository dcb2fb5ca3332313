"""Turn a gRPC `ModelInferRequest` into the gateway's `InferenceRequest` (pure, no I/O).

Tensors arrive either all in `raw_input_contents` (what tritonclient sends by default) or each
in its typed `InferTensorContents`; Triton forbids mixing the two, and so does this.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
from tritonclient.grpc import service_pb2

from ..errors import BadRequest
from ..protocol.ids import checked_request_id
from ..tensors import V2_TO_NUMPY, Array, InferenceRequest, RequestedOutput

# v2 datatype -> the InferTensorContents field that carries it (FP16 has none: raw only).
CONTENTS_FIELD: dict[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


def decode_model_infer_request(
    message: service_pb2.ModelInferRequest, fallback_request_id: str | None = None
) -> InferenceRequest:
    """The request as every backend sees it; BadRequest names the offending tensor."""
    if not message.inputs:
        raise BadRequest("inference request needs at least one input")
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise BadRequest(
            f"raw_input_contents has {len(raw)} entries for {len(message.inputs)} inputs: "
            "give one per input, in order"
        )
    inputs: dict[str, Array] = {}
    for position, tensor in enumerate(message.inputs):
        name = tensor.name
        if not name:
            raise BadRequest(f"inputs[{position}] needs a name")
        if name in inputs:
            raise BadRequest(f"input '{name}' is given twice")
        if raw:
            if tensor.HasField("contents"):
                raise BadRequest(f"input '{name}': contents and raw_input_contents cannot be mixed")
            inputs[name] = _from_raw(name, tensor.datatype, list(tensor.shape), raw[position])
        else:
            inputs[name] = _from_contents(name, tensor)
    outputs = [_requested_output(output) for output in message.outputs] or None
    return InferenceRequest(
        request_id=(
            checked_request_id(message.id, "id")
            if message.id
            else checked_request_id(fallback_request_id, "x-request-id metadata")
            if fallback_request_id
            else uuid.uuid4().hex
        ),
        inputs=inputs,
        outputs=outputs,
        # Every gRPC output travels raw; the flag only matters to remote HTTP backends.
        binary_default=True,
        parameters=parameters_to_python(message.parameters),
    )


def _dtype(name: str, datatype: str) -> np.dtype[Any]:
    dtype = V2_TO_NUMPY.get(datatype)
    if dtype is None:
        raise BadRequest(f"input '{name}': unsupported datatype {datatype!r}")
    return dtype


def _count(name: str, shape: list[int]) -> int:
    if any(d < 0 for d in shape):
        raise BadRequest(f"input '{name}': shape {shape} has a negative dimension")
    return math.prod(shape)


def _from_raw(name: str, datatype: str, shape: list[int], data: bytes) -> Array:
    dtype = _dtype(name, datatype)
    count = _count(name, shape)
    expected = count * dtype.itemsize
    if len(data) != expected:
        raise BadRequest(
            f"input '{name}': raw content has {len(data)} bytes but shape {shape} of "
            f"{datatype} needs {expected}"
        )
    # A view on the message's bytes: no copy on the hot path.
    return np.frombuffer(data, dtype=dtype, count=count).reshape(shape)


def _from_contents(name: str, tensor: service_pb2.ModelInferRequest.InferInputTensor) -> Array:
    dtype = _dtype(name, tensor.datatype)
    shape = list(tensor.shape)
    count = _count(name, shape)
    field = CONTENTS_FIELD.get(tensor.datatype)
    if field is None:
        raise BadRequest(
            f"input '{name}': {tensor.datatype} has no typed contents field; "
            "send it in raw_input_contents"
        )
    values = getattr(tensor.contents, field)
    if len(values) != count:
        raise BadRequest(
            f"input '{name}': {field} has {len(values)} elements but shape {shape} needs {count}"
        )
    try:
        array = np.asarray(values, dtype=dtype)
    except OverflowError as exc:
        raise BadRequest(f"input '{name}': a value does not fit {tensor.datatype}: {exc}") from None
    return array.reshape(shape)


def _requested_output(
    output: service_pb2.ModelInferRequest.InferRequestedOutputTensor,
) -> RequestedOutput:
    if not output.name:
        raise BadRequest("a requested output needs a name")
    if "classification" in output.parameters:
        raise BadRequest(f"output '{output.name}': the classification extension is not supported")
    return RequestedOutput(name=output.name, binary=True)


def parameters_to_python(parameters: Mapping[str, service_pb2.InferParameter]) -> dict[str, Any]:
    """gRPC `InferParameter`s as the plain values the HTTP side parses from JSON."""
    plain: dict[str, Any] = {}
    for key, parameter in parameters.items():
        choice = parameter.WhichOneof("parameter_choice")
        plain[key] = getattr(parameter, choice) if choice is not None else None
    return plain

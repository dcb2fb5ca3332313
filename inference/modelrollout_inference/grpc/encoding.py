"""Build a gRPC `ModelInferResponse` from the tensors the core answered with (pure)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from tritonclient.grpc import service_pb2

from ..tensors import Array, v2_datatype


def encode_model_infer_response(
    *, model: str, version: str, request_id: str, outputs: Mapping[str, Array]
) -> service_pb2.ModelInferResponse:
    """Outputs in order, each in `raw_output_contents` (little-endian, C order), as Triton does."""
    response = service_pb2.ModelInferResponse(
        model_name=model, model_version=version, id=request_id
    )
    for name, array in outputs.items():
        tensor = response.outputs.add()
        tensor.name = name
        tensor.datatype = v2_datatype(array)
        tensor.shape.extend(array.shape)
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        response.raw_output_contents.append(np.ascontiguousarray(little).tobytes())
    return response

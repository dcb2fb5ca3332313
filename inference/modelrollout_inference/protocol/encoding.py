"""Encode a v2 inference response: JSON tensors, or the binary tensor extension."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from ..tensors import Array, InferenceRequest, v2_datatype

JSON_CONTENT_TYPE = b"application/json"
BINARY_CONTENT_TYPE = b"application/octet-stream"


def encode_infer_response(
    *,
    model: str,
    version: str,
    request: InferenceRequest,
    outputs: Mapping[str, Array],
) -> tuple[bytes, int | None]:
    """Return (body, header_length); header_length is None when the body is plain JSON.

    `outputs` holds exactly the tensors to return, in order.
    """
    binary_names: set[str]
    if request.outputs is None:
        binary_names = set(outputs) if request.binary_default else set()
    else:
        binary_names = {o.name for o in request.outputs if o.binary}

    described: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, array in outputs.items():
        entry: dict[str, Any] = {
            "name": name,
            "datatype": v2_datatype(array),
            "shape": list(array.shape),
        }
        if name in binary_names:
            raw = np.ascontiguousarray(array).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = array.ravel().tolist()
        described.append(entry)

    header = orjson.dumps(
        {
            "model_name": model,
            "model_version": version,
            "id": request.request_id,
            "outputs": described,
        }
    )
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)

"""Decode a v2 inference request body (JSON, optionally followed by binary tensors)."""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
import orjson

from ..errors import BadRequest
from ..tensors import V2_TO_NUMPY, Array, InferenceRequest, RequestedOutput
from .ids import checked_request_id


def decode_infer_request(
    body: bytes, header_length: int | None, fallback_request_id: str | None = None
) -> InferenceRequest:
    """Parse a request; `header_length` is the Inference-Header-Content-Length header."""
    if header_length is None:
        json_part, binary = body, b""
    else:
        if header_length < 0 or header_length > len(body):
            raise BadRequest(
                f"Inference-Header-Content-Length {header_length} does not fit a body of "
                f"{len(body)} bytes"
            )
        json_part, binary = body[:header_length], body[header_length:]
    try:
        document = orjson.loads(json_part)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON in inference request: {exc}") from None
    if not isinstance(document, dict):
        raise BadRequest("inference request must be a JSON object")

    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise BadRequest("inference request needs a non-empty 'inputs' list")

    given = document.get("id")
    if given:
        request_id = checked_request_id(given, "'id'")
    elif fallback_request_id:
        request_id = checked_request_id(fallback_request_id, "X-Request-Id")
    else:
        request_id = uuid.uuid4().hex

    inputs: dict[str, Array] = {}
    offset = 0
    binary_view = memoryview(binary)
    for position, raw in enumerate(raw_inputs):
        name, array, used = _decode_input(raw, position, binary_view, offset)
        if name in inputs:
            raise BadRequest(f"input '{name}' is given twice")
        inputs[name] = array
        offset += used
    if offset != len(binary):
        raise BadRequest(
            f"{len(binary) - offset} bytes of binary data follow the inputs that no input claims"
        )

    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise BadRequest("'parameters' must be an object")
    return InferenceRequest(
        request_id=request_id,
        inputs=inputs,
        outputs=_decode_outputs(document.get("outputs")),
        binary_default=bool(parameters.get("binary_data_output", False)),
        parameters=parameters,
    )


def _decode_input(
    raw: Any, position: int, binary: memoryview, offset: int
) -> tuple[str, Array, int]:
    if not isinstance(raw, dict):
        raise BadRequest(f"inputs[{position}] must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"inputs[{position}] needs a 'name'")
    datatype = raw.get("datatype")
    dtype = V2_TO_NUMPY.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise BadRequest(f"input '{name}': unsupported datatype {datatype!r}")
    shape = raw.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadRequest(f"input '{name}': 'shape' must be a list of non-negative integers")
    count = math.prod(shape)
    parameters = raw.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None

    if size is not None:
        if not isinstance(size, int) or size < 0:
            raise BadRequest(f"input '{name}': 'binary_data_size' must be a non-negative integer")
        expected = count * dtype.itemsize
        if size != expected:
            raise BadRequest(
                f"input '{name}': binary_data_size is {size} bytes but shape {shape} of "
                f"{datatype} needs {expected}"
            )
        if offset + size > len(binary):
            raise BadRequest(
                f"input '{name}': needs {size} bytes of binary data, only "
                f"{len(binary) - offset} remain"
            )
        # frombuffer keeps a view on the request body: no copy on the hot path.
        array = np.frombuffer(binary, dtype=dtype, count=count, offset=offset).reshape(shape)
        return name, array, size

    if "data" not in raw:
        raise BadRequest(f"input '{name}': needs 'data' or a binary_data_size parameter")
    try:
        # Overflow to Inf is not an error here: the gateway refuses non-finite inputs by name.
        with np.errstate(over="ignore", invalid="ignore"):
            array = np.asarray(raw["data"], dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise BadRequest(f"input '{name}': data is not {datatype}: {exc}") from None
    if array.size != count:
        raise BadRequest(
            f"input '{name}': data has {array.size} elements but shape {shape} needs {count}"
        )
    return name, array.reshape(shape), 0


def _decode_outputs(raw: Any) -> list[RequestedOutput] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise BadRequest("'outputs' must be a list")
    outputs: list[RequestedOutput] = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BadRequest(f"outputs[{position}] needs a 'name'")
        parameters = item.get("parameters") or {}
        binary = (
            bool(parameters.get("binary_data", False)) if isinstance(parameters, dict) else False
        )
        outputs.append(RequestedOutput(name=item["name"], binary=binary))
    return outputs

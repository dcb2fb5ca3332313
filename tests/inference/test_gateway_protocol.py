"""Decoding and encoding the v2 wire format, against tritonclient's own encoder and decoder."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as triton_http
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tritonclient.http._utils import _get_inference_request

from modelrollout_inference.errors import BadRequest
from modelrollout_inference.protocol.decoding import decode_infer_request
from modelrollout_inference.protocol.encoding import encode_infer_response
from modelrollout_inference.tensors import InferenceRequest, RequestedOutput

DTYPES = {
    "FP32": np.float32,
    "FP64": np.float64,
    "INT64": np.int64,
    "INT32": np.int32,
    "UINT8": np.uint8,
    "BOOL": np.bool_,
}


@given(st.sampled_from(sorted(DTYPES)), st.data(), st.booleans())
def test_decodes_what_tritonclient_encodes(
    datatype: str, data: st.DataObject, binary: bool
) -> None:
    dtype = DTYPES[datatype]
    # JSON has no Infinity or NaN: finite values only (tritonclient would write invalid JSON).
    elements = (
        st.floats(allow_nan=False, allow_infinity=False, width=32 if dtype == np.float32 else 64)
        if np.issubdtype(dtype, np.floating)
        else None
    )
    array = data.draw(
        hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=elements)
    )
    tensor = triton_http.InferInput("x", list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    body, json_size = _get_inference_request(
        inputs=[tensor],
        request_id="r",
        outputs=None,
        sequence_id=0,
        sequence_start=False,
        sequence_end=False,
        priority=0,
        timeout=None,
        custom_parameters=None,
    )
    decoded = decode_infer_request(body if isinstance(body, bytes) else body.encode(), json_size)
    assert decoded.request_id == "r"
    np.testing.assert_array_equal(decoded.inputs["x"], array)
    assert decoded.inputs["x"].dtype == array.dtype


@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=2, max_side=6),
        elements=st.floats(-1e6, 1e6, width=32),
    ),
    st.booleans(),
)
def test_tritonclient_decodes_what_we_encode(array: np.ndarray, binary: bool) -> None:
    request = InferenceRequest("r", {}, [RequestedOutput("score", binary)])
    body, header_length = encode_infer_response(
        model="m", version="1", request=request, outputs={"score": array}
    )
    result = triton_http.InferResult.from_response_body(body, header_length=header_length)
    np.testing.assert_array_equal(result.as_numpy("score"), array)
    assert result.get_response()["model_version"] == "1"


def test_bad_header_length() -> None:
    with pytest.raises(BadRequest, match="does not fit a body"):
        decode_infer_request(b"{}", 10)


def test_request_must_be_an_object() -> None:
    with pytest.raises(BadRequest, match="must be a JSON object"):
        decode_infer_request(b"[]", None)


def test_shape_must_be_non_negative_integers() -> None:
    body = b'{"inputs":[{"name":"x","datatype":"FP32","shape":[-1],"data":[1]}]}'
    with pytest.raises(BadRequest, match="input 'x': 'shape' must be a list"):
        decode_infer_request(body, None)

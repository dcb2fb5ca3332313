"""Pure checks of the gateway, as properties: request ids, answers against declared shapes,
non-finite inputs."""

from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tritonclient.grpc import service_pb2

from modelrollout_inference.backends.base import nonfinite_input, output_problem
from modelrollout_inference.errors import BadRequest
from modelrollout_inference.grpc.decoding import decode_model_infer_request
from modelrollout_inference.protocol.ids import MAX_REQUEST_ID, is_valid_request_id
from modelrollout_inference.tensors import InferenceRequest, TensorSpec

ID_ALPHABET = string.ascii_letters + string.digits + "._:-"
INPUTS = [TensorSpec("features", "FP32", (-1, 3))]
OUTPUTS = [TensorSpec("score", "FP32", (-1, 1))]


@given(st.text(alphabet=ID_ALPHABET, min_size=1, max_size=MAX_REQUEST_ID))
def test_ids_of_the_charset_up_to_128_characters_are_valid(request_id: str) -> None:
    assert is_valid_request_id(request_id)


@given(st.text(min_size=0, max_size=300))
def test_an_id_is_valid_exactly_when_it_is_short_and_of_the_charset(request_id: str) -> None:
    expected = 1 <= len(request_id) <= MAX_REQUEST_ID and set(request_id) <= set(ID_ALPHABET)
    assert is_valid_request_id(request_id) == expected
    if "\r" in request_id or "\n" in request_id:
        assert not is_valid_request_id(request_id)


def _request(rows: int) -> InferenceRequest:
    return InferenceRequest("r", {"features": np.zeros((rows, 3), np.float32)})


@given(st.integers(0, 50), st.integers(0, 50), st.integers(1, 4))
def test_an_answer_is_accepted_only_with_the_declared_shape_and_the_requests_rows(
    rows: int, answered_rows: int, width: int
) -> None:
    answer = {"score": np.full((answered_rows, width), 0.5, np.float32)}
    problem = output_problem(INPUTS, OUTPUTS, _request(rows), answer)
    if answered_rows == rows and width == 1:
        assert problem is None
    else:
        assert problem is not None and problem[0] == "shape_mismatch"


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=20))
def test_nan_or_inf_anywhere_in_an_answer_is_a_nonfinite_output(values: list[float]) -> None:
    answer = {"score": np.asarray(values, np.float32).reshape(-1, 1)}
    problem = output_problem(INPUTS, OUTPUTS, _request(len(values)), answer)
    finite = bool(np.isfinite(answer["score"]).all())
    assert (problem is None) == finite
    if not finite:
        assert problem is not None and problem[0] == "nonfinite_output"


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=3, max_size=3))
def test_a_non_finite_input_is_named(values: list[float]) -> None:
    request = InferenceRequest("r", {"features": np.asarray([values], np.float32)})
    expected = None if np.isfinite(values).all() else "features"
    assert nonfinite_input(request) == expected


def test_integer_inputs_are_never_non_finite() -> None:
    request = InferenceRequest("r", {"ids": np.asarray([[1, 2]], np.int64)})
    assert nonfinite_input(request) is None


@pytest.mark.parametrize(
    ("message_id", "metadata_id", "named"),
    [("a\r\nb", None, "id"), ("", "x" * 129, "x-request-id metadata")],
)
def test_grpc_request_ids_follow_the_same_rule(
    message_id: str, metadata_id: str | None, named: str
) -> None:
    message = service_pb2.ModelInferRequest(model_name="scorer", id=message_id)
    tensor = message.inputs.add(name="features", datatype="FP32", shape=[1, 1])
    tensor.contents.fp32_contents.append(0.5)
    with pytest.raises(BadRequest, match=f"{named} .* is not a valid request id"):
        decode_model_infer_request(message, metadata_id)

"""KServe v2 gRPC: tritonclient.grpc (and the raw stub) against the real gateway on uvicorn.

The gRPC server is wired the way the CLI wires it (`build_app` with `grpc_port`), in the same
event loop as HTTP, so both faces share one core: routing, stickiness, metrics, feedback memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from gateway_helpers import (
    FEATURES,
    MODEL,
    LabelledData,
    RunningGateway,
    free_socket,
    metric_value,
    put_table,
    serve_gateway,
    two_version_table,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from modelrollout_inference.cli import build_app, main
from modelrollout_inference.errors import (
    BadRequest,
    Conflict,
    GatewayError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from modelrollout_inference.grpc.decoding import CONTENTS_FIELD, decode_model_infer_request
from modelrollout_inference.grpc.encoding import encode_model_infer_response
from modelrollout_inference.grpc.serving import GrpcServer, GrpcServerError, listen_address
from modelrollout_inference.grpc.statuses import status_code
from modelrollout_inference.serving.gateway import Gateway
from modelrollout_inference.settings import GatewaySettings
from modelrollout_inference.tensors import V2_TO_NUMPY


@dataclass
class GrpcGateway:
    http: RunningGateway
    address: str  # 127.0.0.1:PORT of the gRPC server
    client: triton_grpc.InferenceServerClient
    stub: service_pb2_grpc.GRPCInferenceServiceStub


@contextlib.contextmanager
def _serve(settings: GatewaySettings) -> Iterator[GrpcGateway]:
    probe = free_socket()
    port = probe.getsockname()[1]
    probe.close()
    settings = settings.model_copy(update={"grpc_port": port})
    with serve_gateway(settings, build_app(settings)) as running:
        address = f"127.0.0.1:{port}"
        client = triton_grpc.InferenceServerClient(address)
        channel = grpc.insecure_channel(address)
        try:
            yield GrpcGateway(
                running, address, client, service_pb2_grpc.GRPCInferenceServiceStub(channel)
            )
        finally:
            client.close()
            channel.close()


@pytest.fixture
def served(gateway_settings: GatewaySettings) -> Iterator[GrpcGateway]:
    with _serve(gateway_settings) as served:
        yield served


def _input(rows: np.ndarray, name: str = "features", datatype: str = "FP32") -> Any:
    tensor = triton_grpc.InferInput(name, list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows)
    return tensor


def _reference(model_repository: Path, version: int, rows: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    path = model_repository / MODEL / str(version) / "model.onnx"
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    result: np.ndarray = session.run(["score"], {"features": rows})[0]
    return result


def _raw_request(rows: np.ndarray, **fields: Any) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=MODEL, **fields)
    tensor = request.inputs.add()
    tensor.name, tensor.datatype = "features", "FP32"
    tensor.shape.extend(rows.shape)
    request.raw_input_contents.append(rows.astype("<f4").tobytes())
    return request


def _code_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error: Any = caught.value
    return error.code(), error.details()


# -- health and metadata -----------------------------------------------------------------------


def test_health_and_server_metadata(served: GrpcGateway) -> None:
    assert served.client.is_server_live()
    assert served.client.is_server_ready()
    assert served.client.is_model_ready(MODEL)
    assert served.client.is_model_ready(MODEL, "2")
    metadata = served.client.get_server_metadata()
    assert metadata.name == "modelrollout-gateway"


def test_model_metadata_matches_http(served: GrpcGateway) -> None:
    over_grpc = served.client.get_model_metadata(MODEL, as_json=True)
    over_http = triton_http.InferenceServerClient(served.http.address).get_model_metadata(MODEL)
    assert over_grpc["name"] == over_http["name"] == MODEL
    assert over_grpc["versions"] == over_http["versions"] == ["1", "2"]
    for side in ("inputs", "outputs"):
        grpc_specs = [
            (t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in over_grpc[side]
        ]
        http_specs = [(t["name"], t["datatype"], t["shape"]) for t in over_http[side]]
        assert grpc_specs == http_specs
    assert grpc_specs == [("score", "FP32", [-1, 1])]


def test_unknown_model_and_version_are_not_found(served: GrpcGateway) -> None:
    for call in (
        lambda: served.stub.ModelMetadata(service_pb2.ModelMetadataRequest(name="nope")),
        lambda: served.stub.ModelReady(service_pb2.ModelReadyRequest(name="nope")),
    ):
        code, details = _code_of(call)
        assert code == grpc.StatusCode.NOT_FOUND
        assert "unknown model 'nope'" in details
    code, details = _code_of(
        lambda: served.stub.ModelMetadata(service_pb2.ModelMetadataRequest(name=MODEL, version="9"))
    )
    assert code == grpc.StatusCode.NOT_FOUND
    assert "version '9'" in details


# -- inference -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_outputs_equal_onnx_runtime(
    served: GrpcGateway, labelled: LabelledData, model_repository: Path, version: int
) -> None:
    rows = labelled.features[:64]
    result = served.client.infer(MODEL, [_input(rows)], model_version=str(version))
    np.testing.assert_allclose(
        result.as_numpy("score"), _reference(model_repository, version, rows), rtol=1e-6, atol=1e-7
    )
    response = result.get_response()
    assert response.model_version == str(version)
    assert response.raw_output_contents  # tensors travel raw, as Triton sends them


def test_typed_contents_answer_like_raw(served: GrpcGateway, labelled: LabelledData) -> None:
    rows = labelled.features[:5]
    typed = service_pb2.ModelInferRequest(model_name=MODEL, model_version="1")
    tensor = typed.inputs.add()
    tensor.name, tensor.datatype = "features", "FP32"
    tensor.shape.extend(rows.shape)
    tensor.contents.fp32_contents.extend(rows.ravel().tolist())
    from_typed = served.stub.ModelInfer(typed)
    from_raw = served.stub.ModelInfer(_raw_request(rows, model_version="1"))
    assert from_typed.raw_output_contents == from_raw.raw_output_contents
    assert list(from_typed.outputs[0].shape) == [5, 1]


def test_sticky_by_metadata_and_same_assignment_as_http(
    served: GrpcGateway, labelled: LabelledData
) -> None:
    assert put_table(served.http, two_version_table(50)).status_code == 200
    row = labelled.features[:1]
    seen: dict[str, str] = {}
    for n in range(40):
        user = f"user-{n}"
        answers = {
            served.client.infer(MODEL, [_input(row)], headers={"x-user-id": user})
            .get_response()
            .model_version
            for _ in range(3)
        }
        assert len(answers) == 1, f"{user} was answered by {answers}"
        seen[user] = answers.pop()
    assert set(seen.values()) == {"1", "2"}
    # One core: HTTP puts each user on the version gRPC did.
    for user in list(seen)[:10]:
        response = httpx.post(
            f"{served.http.url}/v2/models/{MODEL}/infer",
            json={
                "inputs": [
                    {
                        "name": "features",
                        "datatype": "FP32",
                        "shape": [1, FEATURES],
                        "data": row.ravel().tolist(),
                    }
                ]
            },
            headers={"x-user-id": user},
        )
        assert response.headers["x-model-version"] == seen[user]
    for version in ("1", "2"):
        assert (
            metric_value(
                served.http.url,
                "modelrollout_requests_total",
                model=MODEL,
                version=version,
                code="200",
            )
            > 0
        )


def test_version_and_request_id_in_metadata_and_feedback_joins_over_http(
    served: GrpcGateway, labelled: LabelledData
) -> None:
    row = labelled.features[:1]
    response, call = served.stub.ModelInfer.with_call(
        _raw_request(row, id="req-42", model_version="2"), metadata=[("x-user-id", "u")]
    )
    initial = dict(call.initial_metadata())
    assert response.id == initial["x-request-id"] == "req-42"
    assert response.model_version == initial["x-model-version"] == "2"
    assert initial["x-model-route"] == "stable"
    # Without an id in the message, metadata's x-request-id names the request.
    unnamed, call = served.stub.ModelInfer.with_call(
        _raw_request(row), metadata=[("x-request-id", "from-metadata")]
    )
    assert unnamed.id == dict(call.initial_metadata())["x-request-id"] == "from-metadata"
    # Feedback stays on HTTP and joins the prediction made over gRPC.
    feedback = httpx.post(
        f"{served.http.url}/v2/models/{MODEL}/feedback",
        json={"requestId": "req-42", "label": 1},
    )
    assert feedback.status_code == 200, feedback.text
    assert (
        metric_value(served.http.url, "modelrollout_feedback_total", model=MODEL, version="2") == 1
    )


# -- errors --------------------------------------------------------------------------------------


def test_unknown_model_or_version_infer_is_not_found(
    served: GrpcGateway, labelled: LabelledData
) -> None:
    row = labelled.features[:1]
    with pytest.raises(InferenceServerException) as caught:
        served.client.infer("nope", [_input(row)])
    assert caught.value.status() == "StatusCode.NOT_FOUND"
    assert "unknown model 'nope'" in caught.value.message()
    with pytest.raises(InferenceServerException) as caught:
        served.client.infer(MODEL, [_input(row)], model_version="7")
    assert caught.value.status() == "StatusCode.NOT_FOUND"
    assert "unknown version '7'" in caught.value.message()


@pytest.mark.parametrize(
    ("rows", "name", "datatype", "expected"),
    [
        (np.zeros((2, FEATURES - 1), np.float32), "features", "FP32", "has shape [2, 38]"),
        (np.zeros((2, FEATURES), np.float64), "features", "FP64", "has datatype FP64"),
        (np.zeros((2, FEATURES), np.float32), "pixels", "FP32", "input 'features' is missing"),
        (np.array([[b"a"]], dtype=np.object_), "features", "BYTES", "unsupported datatype"),
    ],
)
def test_bad_input_is_invalid_argument(
    served: GrpcGateway, rows: np.ndarray, name: str, datatype: str, expected: str
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        served.client.infer(MODEL, [_input(rows, name, datatype)])
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert expected in caught.value.message()


def test_malformed_messages_are_invalid_argument(served: GrpcGateway) -> None:
    rows = np.zeros((2, FEATURES), np.float32)
    short = _raw_request(rows)
    short.raw_input_contents[0] = short.raw_input_contents[0][:-4]
    mixed = _raw_request(rows)
    mixed.inputs[0].contents.fp32_contents.append(1.0)
    missing = _raw_request(rows)
    del missing.raw_input_contents[:]
    for message, expected in [
        (short, "raw content has 308 bytes but shape [2, 39] of FP32 needs 312"),
        (mixed, "cannot be mixed"),
        (missing, "fp32_contents has 0 elements but shape [2, 39] needs 78"),
        (service_pb2.ModelInferRequest(model_name=MODEL), "at least one input"),
    ]:
        code, details = _code_of(lambda m=message: served.stub.ModelInfer(m))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert expected in details


def test_no_ready_backend_is_unavailable(served: GrpcGateway, labelled: LabelledData) -> None:
    dead = {"kind": "triton", "url": "http://127.0.0.1:9", "modelName": MODEL}
    table = {
        "model": MODEL,
        "generation": 1,
        "versions": [
            {
                "version": "1",
                "weight": 50,
                "role": "baseline",
                "backend": {**dead, "modelVersion": "1"},
            },
            {
                "version": "2",
                "weight": 50,
                "role": "candidate",
                "backend": {**dead, "modelVersion": "2"},
            },
        ],
    }
    assert put_table(served.http, table).status_code == 200
    with pytest.raises(InferenceServerException) as caught:
        served.client.infer(MODEL, [_input(labelled.features[:1])])
    assert caught.value.status() == "StatusCode.UNAVAILABLE"
    assert f"no version of model '{MODEL}' could answer" in caught.value.message()


def test_a_message_over_the_request_limit_is_resource_exhausted(
    gateway_settings: GatewaySettings,
) -> None:
    limit = 4096
    settings = gateway_settings.model_copy(update={"max_request_bytes": limit})
    with _serve(settings) as served:
        small = np.zeros((2, FEATURES), np.float32)
        assert served.client.infer(MODEL, [_input(small)]).as_numpy("score").shape == (2, 1)
        large = np.zeros((100, FEATURES), np.float32)  # 15,600 bytes of tensor
        with pytest.raises(InferenceServerException) as caught:
            served.client.infer(MODEL, [_input(large)])
        assert caught.value.status() == "StatusCode.RESOURCE_EXHAUSTED"


async def test_a_taken_port_is_a_clear_error(gateway_settings: GatewaySettings) -> None:
    taken = free_socket()
    taken.listen()
    port = taken.getsockname()[1]
    try:
        server = GrpcServer(Gateway(gateway_settings), "127.0.0.1", port, max_message_bytes=1024)
        with pytest.raises(GrpcServerError, match=f"127.0.0.1:{port}"):
            await server.start()
        await server.stop()  # nothing started: a no-op, not an error
    finally:
        taken.close()


def test_grpc_is_off_by_default_and_the_flag_is_validated(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert GatewaySettings().grpc_port is None
    assert build_app(GatewaySettings())._services == []
    monkeypatch.setenv("MODELROLLOUT_GATEWAY_GRPC_PORT", "8001")
    assert GatewaySettings().grpc_port == 8001
    assert main(["serve", "--grpc-port", "70000"]) == 2
    assert "grpc_port" in capsys.readouterr().err


# -- pure parts ----------------------------------------------------------------------------------


def test_gateway_errors_map_to_status_codes() -> None:
    expected = {
        BadRequest: grpc.StatusCode.INVALID_ARGUMENT,
        NotFound: grpc.StatusCode.NOT_FOUND,
        Unavailable: grpc.StatusCode.UNAVAILABLE,
        Conflict: grpc.StatusCode.FAILED_PRECONDITION,
        PayloadTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
        Unauthorized: grpc.StatusCode.UNAUTHENTICATED,
        GatewayError: grpc.StatusCode.INTERNAL,
    }
    for error, code in expected.items():
        assert status_code(error("x")) == code


def test_listen_address_brackets_ipv6() -> None:
    assert listen_address("127.0.0.1", 8001) == "127.0.0.1:8001"
    assert listen_address("::", 8001) == "[::]:8001"
    assert listen_address("[::1]", 8001) == "[::1]:8001"


_DATATYPES = sorted(V2_TO_NUMPY)


@st.composite
def _tensors(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    datatype = draw(st.sampled_from(_DATATYPES))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    array = draw(hnp.arrays(V2_TO_NUMPY[datatype], shape))
    return datatype, array


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


@settings(max_examples=150, deadline=None)
@given(tensor=_tensors())
def test_raw_and_typed_contents_decode_to_the_sent_tensor(tensor: tuple[str, np.ndarray]) -> None:
    datatype, array = tensor
    raw = service_pb2.ModelInferRequest(model_name=MODEL, id="r")
    sent = raw.inputs.add()
    sent.name, sent.datatype = "x", datatype
    sent.shape.extend(array.shape)
    raw.raw_input_contents.append(array.tobytes())
    assert _equal(decode_model_infer_request(raw).inputs["x"], array)

    field = CONTENTS_FIELD.get(datatype)
    if field is None:  # FP16 travels raw only
        return
    typed = service_pb2.ModelInferRequest(model_name=MODEL, id="r")
    sent = typed.inputs.add()
    sent.name, sent.datatype = "x", datatype
    sent.shape.extend(array.shape)
    getattr(sent.contents, field).extend(array.ravel().tolist())
    decoded = decode_model_infer_request(typed).inputs["x"]
    if datatype == "FP32":  # protobuf floats are float32 already: exact
        assert _equal(decoded, array)
    else:
        assert decoded.shape == array.shape and decoded.dtype == array.dtype
        np.testing.assert_array_equal(decoded, array)


@settings(max_examples=100, deadline=None)
@given(tensors=st.lists(_tensors(), min_size=1, max_size=3))
def test_encoded_outputs_decode_back_in_order(tensors: list[tuple[str, np.ndarray]]) -> None:
    outputs = {f"out{i}": array for i, (_, array) in enumerate(tensors)}
    response = encode_model_infer_response(
        model=MODEL, version="3", request_id="r", outputs=outputs
    )
    assert (response.model_name, response.model_version, response.id) == (MODEL, "3", "r")
    assert [t.name for t in response.outputs] == list(outputs)
    for (datatype, array), tensor, raw in zip(
        tensors, response.outputs, response.raw_output_contents, strict=True
    ):
        assert tensor.datatype == datatype
        back = np.frombuffer(raw, dtype=V2_TO_NUMPY[datatype]).reshape(list(tensor.shape))
        assert _equal(back, array)


def test_request_parameters_and_outputs_decode() -> None:
    request = _raw_request(np.zeros((1, FEATURES), np.float32))
    request.parameters["priority"].int64_param = 3
    request.parameters["tag"].string_param = "a"
    request.outputs.add().name = "score"
    decoded = decode_model_infer_request(request, fallback_request_id="fallback")
    assert decoded.parameters == {"priority": 3, "tag": "a"}
    assert [o.name for o in decoded.outputs or []] == ["score"]
    assert decoded.request_id == "fallback"
    classified = _raw_request(np.zeros((1, FEATURES), np.float32))
    wanted = classified.outputs.add()
    wanted.name = "score"
    wanted.parameters["classification"].int64_param = 2
    with pytest.raises(BadRequest, match="classification extension is not supported"):
        decode_model_infer_request(classified)

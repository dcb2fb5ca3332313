"""The gateway bounded and honest: hostile or large inputs get a clear 4xx and are counted
truly; wrong answers of a version are its failures; one broken version does not stop the rest."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import orjson
import pytest
from gateway_helpers import (
    FEATURES,
    MODEL,
    LabelledData,
    RunningGateway,
    free_socket,
    metric_value,
    put_table,
    serve_asgi,
    serve_gateway,
    two_version_table,
    version_weights,
    write_model,
)
from onnx import TensorProto, helper

from modelrollout_inference.settings import GatewaySettings
from tests.support.processes import die_with_parent


def _body(
    rows: np.ndarray | list[Any], request_id: str | None = None, shape: list[int] | None = None
) -> dict[str, Any]:
    array = np.asarray(rows, dtype=object if isinstance(rows, list) else None)
    body: dict[str, Any] = {
        "inputs": [
            {
                "name": "features",
                "datatype": "FP32",
                "shape": shape or list(array.shape),
                "data": array.ravel().tolist(),
            }
        ]
    }
    if request_id is not None:
        body["id"] = request_id
    return body


def _infer(url: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{url}/v2/models/{MODEL}/infer", json=body, timeout=30, **kwargs)


# -- models that answer wrongly ----------------------------------------------------------------


def _write_bad_model(path: Path, kind: str) -> None:
    """Declares features[-1,39] -> score[-1,1] like the good ones, but answers
    `rows`: 7 rows per request row (Tile); `nan`: sqrt(-(|x.w|+1)) = NaN."""
    declared_in = helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, FEATURES])
    declared_out = helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])
    w = helper.make_tensor("w", TensorProto.FLOAT, [FEATURES, 1], version_weights(1).ravel())
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    if kind == "rows":
        reps = helper.make_tensor("reps", TensorProto.INT64, [2], [7, 1])
        nodes = [
            helper.make_node("MatMul", ["features", "w"], ["x"]),
            helper.make_node("Sigmoid", ["x"], ["s"]),
            helper.make_node("Tile", ["s", "reps"], ["score"]),
        ]
        initializers = [w, reps]
    else:
        nodes = [
            helper.make_node("MatMul", ["features", "w"], ["x"]),
            helper.make_node("Abs", ["x"], ["a"]),
            helper.make_node("Add", ["a", "one"], ["b"]),
            helper.make_node("Neg", ["b"], ["n"]),
            helper.make_node("Sqrt", ["n"], ["score"]),
        ]
        initializers = [w, one]
    graph = helper.make_graph(nodes, "bad", [declared_in], [declared_out], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


@pytest.fixture
def bad_repository(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_model(root / MODEL / "1" / "model.onnx", version_weights(1))
    _write_bad_model(root / MODEL / "2" / "model.onnx", "rows")
    _write_bad_model(root / MODEL / "3" / "model.onnx", "nan")
    return root


def _candidate_table(candidate: str, backend: dict[str, Any] | None = None) -> dict[str, Any]:
    route: dict[str, Any] = {"version": candidate, "weight": 100, "role": "candidate"}
    if backend:
        route["backend"] = backend
    return {
        "model": MODEL,
        "generation": int(candidate),
        "versions": [{"version": "1", "weight": 0, "role": "baseline"}, route],
    }


@pytest.mark.parametrize(
    ("candidate", "reason"), [("2", "shape_mismatch"), ("3", "nonfinite_output")]
)
def test_a_wrong_answer_is_a_failure_of_the_version_that_gave_it_and_falls_back(
    bad_repository: Path, labelled: LabelledData, candidate: str, reason: str
) -> None:
    with serve_gateway(GatewaySettings(model_repository=bad_repository)) as running:
        assert put_table(running, _candidate_table(candidate)).status_code == 200
        for _ in range(3):
            response = _infer(running.url, _body(labelled.features[:1]))
            assert response.status_code == 200
            assert response.headers["x-model-version"] == "1"
            assert response.json()["outputs"][0]["shape"] == [1, 1]
        failed = metric_value(
            running.url, "modelrollout_fallbacks_total", version=candidate, reason=reason
        )
        assert failed == 3
        assert metric_value(running.url, "modelrollout_requests_total", version=candidate) == 0


async def _wrong_shape_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A KServe v2 server declaring score[-1,1] that answers [7,3] whatever it is asked."""
    if scope["type"] != "http":
        return
    if scope["path"].endswith("/infer"):
        while (await receive()).get("more_body"):
            pass
        document: dict[str, Any] = {
            "model_name": MODEL,
            "outputs": [{"name": "score", "datatype": "FP32", "shape": [7, 3], "data": [0.5] * 21}],
        }
    else:
        document = {
            "name": MODEL,
            "versions": ["2"],
            "platform": "x",
            "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, FEATURES]}],
            "outputs": [{"name": "score", "datatype": "FP32", "shape": [-1, 1]}],
        }
    body = orjson.dumps(document)
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_a_remote_candidate_answering_shape_7x3_for_one_row_is_a_shape_mismatch(
    running: RunningGateway, labelled: LabelledData
) -> None:
    with serve_asgi(_wrong_shape_app) as remote:
        backend = {"kind": "triton", "url": remote, "modelName": MODEL, "modelVersion": "2"}
        assert put_table(running, _candidate_table("2", backend)).status_code == 200
        for _ in range(3):
            response = _infer(running.url, _body(labelled.features[:1]))
            assert response.status_code == 200
            assert response.headers["x-model-version"] == "1"
            assert response.json()["outputs"][0]["shape"] == [1, 1]
        failed = metric_value(
            running.url, "modelrollout_fallbacks_total", version="2", reason="shape_mismatch"
        )
        assert failed == 3


def test_one_corrupt_version_is_reported_and_skipped_while_the_others_serve(
    model_repository: Path, tmp_path: Path, labelled: LabelledData
) -> None:
    root = tmp_path / "models"
    shutil.copytree(model_repository, root)
    (root / MODEL / "3").mkdir()
    (root / MODEL / "3" / "model.onnx").write_bytes(b"not an onnx model")
    with serve_gateway(GatewaySettings(model_repository=root)) as running:
        assert httpx.get(f"{running.url}/v2/health/ready").status_code == 200
        assert running.gateway.load_errors.keys() == {(MODEL, "3")}
        response = _infer(running.url, _body(labelled.features[:1]))
        assert response.status_code == 200 and response.headers["x-model-version"] == "2"
        pinned = httpx.post(
            f"{running.url}/v2/models/{MODEL}/versions/3/infer", json=_body(labelled.features[:1])
        )
        assert pinned.status_code == 400 and "cannot load" in pinned.json()["error"]


# -- non-finite inputs -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["NaN", "Infinity", 1e39], ids=["nan", "inf", "overflow"])
def test_non_finite_inputs_are_refused_400_naming_the_input(
    running: RunningGateway, bad: object
) -> None:
    row: list[Any] = [0.0] * FEATURES
    row[5] = bad
    response = _infer(running.url, _body([row]))
    assert response.status_code == 400
    assert "input 'features' holds NaN or Inf" in response.json()["error"]
    assert metric_value(running.url, "modelrollout_requests_total", code="400") == 1
    assert metric_value(running.url, "modelrollout_requests_total", code="200") == 0


def test_the_routing_table_may_allow_non_finite_inputs(running: RunningGateway) -> None:
    row: list[Any] = [0.0] * FEATURES
    row[0] = "NaN"
    assert put_table(running, two_version_table(0, generation=1)).status_code == 200
    assert _infer(running.url, _body([row])).status_code == 400
    table = two_version_table(0, generation=2, allowNonFiniteInputs=True)
    assert put_table(running, table).status_code == 200
    response = _infer(running.url, _body([row]))
    # Allowed in, the NaN reaches the model; a NaN answer is then the version's failure.
    assert response.status_code == 503
    assert "NaN or Inf" in response.json()["error"]


# -- request ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_id",
    ["x" * 129, "two\r\nlines", "spa ce", "é", "a/b"],
    ids=["too-long", "crlf", "space", "non-ascii", "slash"],
)
def test_request_ids_of_unbounded_length_or_charset_are_refused_400(
    running: RunningGateway, labelled: LabelledData, request_id: str
) -> None:
    response = _infer(running.url, _body(labelled.features[:1], request_id))
    assert response.status_code == 400
    assert "is not a valid request id (1 to 128 characters" in response.json()["error"]
    assert metric_value(running.url, "modelrollout_requests_total") == 0


def test_a_bad_request_id_header_is_refused_and_a_good_one_is_echoed(
    running: RunningGateway, labelled: LabelledData
) -> None:
    bad = _infer(running.url, _body(labelled.features[:1]), headers={"x-request-id": "a b"})
    assert bad.status_code == 400 and "X-Request-Id" in bad.json()["error"]
    good_id = "Ab09._:-" + "z" * 120
    good = _infer(running.url, _body(labelled.features[:1]), headers={"x-request-id": good_id})
    assert good.status_code == 200 and good.headers["x-request-id"] == good_id


# -- feedback edges ----------------------------------------------------------------------------


def test_feedback_for_a_zero_row_prediction_is_a_4xx_item_and_the_batch_continues(
    running: RunningGateway, labelled: LabelledData
) -> None:
    empty = _infer(running.url, _body(np.zeros((0, FEATURES), np.float32), "empty"))
    assert empty.status_code == 200 and empty.json()["outputs"][0]["shape"] == [0, 1]
    assert _infer(running.url, _body(labelled.features[:1], "one")).status_code == 200
    label = int(labelled.labels[0])
    batch = {"feedback": [{"id": "empty", "label": []}, {"id": "one", "label": label}]}
    response = httpx.post(f"{running.url}/v2/models/{MODEL}/feedback", json=batch)
    assert response.status_code == 200
    result = response.json()
    assert result["joined"] == 1
    assert result["errors"] == [
        {"id": "empty", "error": "the prediction has shape [0, 1]: nothing to judge"}
    ]
    alone = httpx.post(
        f"{running.url}/v2/models/{MODEL}/feedback", json={"id": "empty", "label": 1}
    )
    # It was not put back (nothing can ever judge it): a second label finds nothing.
    assert alone.json() == {"joined": 0, "dropped": {"unknown": 1}, "errors": []}


def test_feedback_ids_outside_the_charset_are_item_errors(running: RunningGateway) -> None:
    response = httpx.post(
        f"{running.url}/v2/models/{MODEL}/feedback", json={"id": "x" * 500, "label": 1}
    )
    assert response.status_code == 400
    assert "not a valid request id" in response.json()["errors"][0]["error"]
    assert len(response.json()["errors"][0]["id"]) <= 40  # never echoed whole


# -- large bodies ------------------------------------------------------------------------------


def test_a_json_body_over_the_json_limit_is_refused_before_it_is_read(
    running: RunningGateway,
) -> None:
    limit = running.gateway.settings.max_json_bytes
    response = httpx.post(
        f"{running.url}/v2/models/{MODEL}/infer",
        content=b"[" + b"0," * (limit // 2) + b"0]",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert "exceeds the limit" in response.json()["error"]
    assert (
        "binary tensor extension" in response.json()["error"]
        or "JSON body" in (response.json()["error"])
    )


@pytest.fixture
def gateway_process(model_repository: Path) -> Iterator[tuple[str, int]]:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelrollout_inference.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--model-repository",
            str(model_repository),
        ],
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.05)
    try:
        yield url, child.pid
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(10)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_large_bodies_keep_memory_bounded_and_health_answers_prompt(
    gateway_process: tuple[str, int],
) -> None:
    url, pid = gateway_process
    # 67 MB of JSON (the case): refused from its Content-Length, never parsed.
    huge = (
        b'{"inputs":[{"name":"features","datatype":"FP32","shape":[1,39],"data":['
        + (b"0.5," * (67_000_000 // 4))
        + b"0.5]}]}"
    )
    response = httpx.post(f"{url}/v2/models/{MODEL}/infer", content=huge, timeout=60)
    assert response.status_code == 413
    del huge
    # Just under the JSON limit: decoded off the event loop while health answers go on.
    rows = (8 * 1024 * 1024 - 200) // (FEATURES * 4)
    body = (
        b'{"inputs":[{"name":"features","datatype":"FP32","shape":[%d,39],"data":[' % rows
        + b",".join([b"0.5"] * (rows * FEATURES))
        + b"]}]}"
    )
    slowest = 0.0
    done = threading.Event()

    def probe() -> None:
        nonlocal slowest
        with httpx.Client(timeout=10) as client:
            while not done.is_set():
                started = time.monotonic()
                assert client.get(f"{url}/v2/health/live").status_code == 200
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        for _ in range(3):
            answer = httpx.post(f"{url}/v2/models/{MODEL}/infer", content=body, timeout=60)
            assert answer.status_code == 200, answer.text[:200]
    finally:
        done.set()
        prober.join()
    # Seen: 0.5 s on a 2-core machine at load 9 (the issue saw 4 s for the 67 MB body).
    assert slowest < 2.0, f"health waited {slowest:.2f}s behind a large body"
    assert _peak_rss_mb(pid) < 700, f"peak RSS {_peak_rss_mb(pid):.0f} MB"

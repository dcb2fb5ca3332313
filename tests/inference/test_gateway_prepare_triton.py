"""`modelrollout-gateway prepare-triton`: a Triton pod's init container.

From a repository holding versions 1..5 (the trainer's config.pbtxt, `version_policy: all`), the
command writes a repository with version N only, its config narrowed to N with the
ModelVersion's batching, after checking the model's sha256; a tampered file is refused with a
non-zero exit and a termination message naming the file and both hashes. The gateway, serving
the prepared directory as Triton would, answers for N and for no other version.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
import httpx
import numpy as np
import pytest
from gateway_helpers import FEATURES, MODEL, serve_gateway, true_weights, write_model
from google.protobuf import text_format
from hypothesis import given
from hypothesis import strategies as st
from tritonclient.grpc import model_config_pb2 as mc

from modelrollout_inference.cli import main
from modelrollout_inference.preparing import (
    Batching,
    ConfigError,
    served_versions,
    serving_config,
)
from modelrollout_inference.settings import GatewaySettings
from modelrollout_trainer.repository import render_config

VERSIONS = range(1, 6)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def five_versions(root: Path) -> dict[int, str]:
    """`<root>/scorer/{1..5}/model.onnx` (each with its own bias) + the trainer's config."""
    hashes = {}
    for version in VERSIONS:
        path = root / MODEL / str(version) / "model.onnx"
        write_model(path, true_weights(), bias=float(version))
        hashes[version] = _sha(path)
    (root / MODEL / "config.pbtxt").write_text(render_config(MODEL, FEATURES, 1))
    return hashes


def prepare_args(
    repository: str, version: int, sha: str, output: Path, termination: Path
) -> list[str]:
    return [
        "prepare-triton", "--model", MODEL, "--version", str(version),
        "--artifact-uri", f"{repository}/{MODEL}/{version}/model.onnx",
        "--artifact-sha256", sha,
        "--config-uri", f"{repository}/{MODEL}/config.pbtxt",
        "--output", str(output), "--max-batch-size", "256", "--max-queue-delay-us", "250",
        "--termination-log", str(termination),
    ]  # fmt: skip


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def parsed(text: str) -> mc.ModelConfig:
    return text_format.Parse(text, mc.ModelConfig())


@pytest.fixture
def termination(tmp_path: Path) -> Path:
    path = tmp_path / "termination-log"
    path.touch()  # the kubelet creates it; the command writes only where it exists
    return path


@pytest.mark.parametrize("version", VERSIONS)
def test_init_container_writes_only_version_n_of_a_five_version_repository(
    tmp_path: Path, termination: Path, version: int
) -> None:
    hashes = five_versions(tmp_path / "repo")
    out = tmp_path / "models"
    args = prepare_args(str(tmp_path / "repo"), version, hashes[version], out, termination)
    assert main(args) == 0
    assert files_under(out) == [f"{MODEL}/{version}/model.onnx", f"{MODEL}/config.pbtxt"]
    assert _sha(out / MODEL / str(version) / "model.onnx") == hashes[version]
    config = parsed((out / MODEL / "config.pbtxt").read_text())
    assert list(config.version_policy.specific.versions) == [version]
    assert config.max_batch_size == 256
    assert config.dynamic_batching.max_queue_delay_microseconds == 250
    assert config.name == MODEL and config.default_model_filename == "model.onnx"
    assert termination.read_text() == ""


def test_init_container_fetches_and_verifies_from_s3(
    tmp_path: Path, termination: Path, s3: str
) -> None:
    hashes = five_versions(tmp_path / "repo")
    client = boto3.client("s3")
    client.create_bucket(Bucket="models")
    for path in (tmp_path / "repo").rglob("*"):
        if path.is_file():
            client.upload_file(str(path), "models", f"repo/{path.relative_to(tmp_path / 'repo')}")
    out = tmp_path / "models"
    assert main(prepare_args("s3://models/repo", 4, hashes[4], out, termination)) == 0
    assert files_under(out) == [f"{MODEL}/4/model.onnx", f"{MODEL}/config.pbtxt"]
    assert served_versions((out / MODEL / "config.pbtxt").read_text()) == [4]
    # Tampered in the bucket: moto takes any bytes; the init container does not.
    client.put_object(Bucket="models", Key=f"repo/{MODEL}/4/model.onnx", Body=b"not the model")
    again = tmp_path / "again"
    assert main(prepare_args("s3://models/repo", 4, hashes[4], again, termination)) == 3
    message = termination.read_text()
    assert f"s3://models/repo/{MODEL}/4/model.onnx" in message
    assert hashes[4] in message and hashlib.sha256(b"not the model").hexdigest() in message
    assert files_under(again) == []


def test_a_tampered_model_file_makes_the_init_container_refuse_naming_file_and_hashes(
    tmp_path: Path, termination: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = five_versions(tmp_path / "repo")
    model_file = tmp_path / "repo" / MODEL / "2" / "model.onnx"
    model_file.write_bytes(model_file.read_bytes() + b"\0")
    out = tmp_path / "models"
    rc = main(prepare_args(str(tmp_path / "repo"), 2, hashes[2], out, termination))
    assert rc == 3
    message = termination.read_text()
    assert str(model_file) in message
    assert hashes[2] in message and _sha(model_file) in message
    assert message in capsys.readouterr().err
    assert files_under(out) == [], "nothing Triton could load is left behind"


def test_a_restarted_init_container_replaces_what_an_earlier_run_left(
    tmp_path: Path, termination: Path
) -> None:
    hashes = five_versions(tmp_path / "repo")
    out = tmp_path / "models"
    (out / MODEL / "1").mkdir(parents=True)
    (out / MODEL / "1" / "model.onnx").write_bytes(b"stale")
    (out / f".staging-{MODEL}").mkdir()
    assert main(prepare_args(str(tmp_path / "repo"), 5, hashes[5], out, termination)) == 0
    assert files_under(out) == [f"{MODEL}/5/model.onnx", f"{MODEL}/config.pbtxt"]
    assert [p.name for p in out.iterdir()] == [MODEL]


def test_a_config_that_cannot_carry_the_batching_is_refused_with_exit_2(
    tmp_path: Path, termination: Path
) -> None:
    hashes = five_versions(tmp_path / "repo")
    args = prepare_args(str(tmp_path / "repo"), 1, hashes[1], tmp_path / "models", termination)
    args[args.index("--max-batch-size") + 1] = "0"  # the trainer's dims exclude the batch axis
    assert main(args) == 2
    assert "maxBatchSize 0" in termination.read_text()


def test_a_missing_config_is_a_retriable_failure_that_says_where(
    tmp_path: Path, termination: Path
) -> None:
    hashes = five_versions(tmp_path / "repo")
    (tmp_path / "repo" / MODEL / "config.pbtxt").unlink()
    args = prepare_args(str(tmp_path / "repo"), 1, hashes[1], tmp_path / "models", termination)
    assert main(args) == 1
    assert "config.pbtxt" in termination.read_text()


def test_gateway_serving_the_prepared_directory_answers_for_n_and_no_other_version(
    tmp_path: Path, termination: Path
) -> None:
    hashes = five_versions(tmp_path / "repo")
    out = tmp_path / "models"
    assert main(prepare_args(str(tmp_path / "repo"), 3, hashes[3], out, termination)) == 0
    rows = np.random.default_rng(3).normal(size=(4, FEATURES)).astype(np.float32)
    body = {"inputs": [{"name": "features", "shape": list(rows.shape), "datatype": "FP32",
                        "data": rows.ravel().tolist()}]}  # fmt: skip
    expected = 1 / (1 + np.exp(-(rows @ true_weights() + 3.0)))
    with serve_gateway(GatewaySettings(model_repository=out)) as gateway, httpx.Client() as http:
        ready = {v: http.get(f"{gateway.url}/v2/models/{MODEL}/versions/{v}/ready").status_code
                 for v in VERSIONS}  # fmt: skip
        assert ready == {1: 404, 2: 404, 3: 200, 4: 404, 5: 404}
        answer = http.post(f"{gateway.url}/v2/models/{MODEL}/versions/3/infer", json=body)
        assert answer.status_code == 200
        scores = np.array(answer.json()["outputs"][0]["data"], dtype=np.float32)
        np.testing.assert_allclose(scores, expected.ravel(), rtol=1e-5)
        for other in (1, 2, 4, 5):
            refused = http.post(
                f"{gateway.url}/v2/models/{MODEL}/versions/{other}/infer", json=body
            )
            assert refused.status_code == 404, other
        unversioned = http.post(f"{gateway.url}/v2/models/{MODEL}/infer", json=body)
        np.testing.assert_allclose(unversioned.json()["outputs"][0]["data"], scores, rtol=1e-6)


# The pure config narrowing, over any batching the API allows.


@given(
    version=st.integers(1, 2**31 - 1),
    max_batch=st.integers(1, 65_536),
    dynamic=st.booleans(),
    delay=st.integers(0, 1_000_000),
)
def test_serving_config_names_exactly_one_version_and_the_asked_batching(
    version: int, max_batch: int, dynamic: bool, delay: int
) -> None:
    text = serving_config(
        render_config(MODEL, FEATURES, 1),
        model=MODEL,
        version=version,
        batching=Batching(max_batch, dynamic, delay),
    )
    config = parsed(text)
    assert served_versions(text) == [version]
    assert config.max_batch_size == max_batch
    assert config.HasField("dynamic_batching") == dynamic
    if dynamic:
        assert config.dynamic_batching.max_queue_delay_microseconds == delay
    # Inputs and outputs are the trainer's, untouched.
    source = parsed(render_config(MODEL, FEATURES, 1))
    assert list(config.input) == list(source.input) and list(config.output) == list(source.output)
    # Narrowing is idempotent: a restarted init container writes the same bytes.
    again = serving_config(
        text, model=MODEL, version=version, batching=Batching(max_batch, dynamic, delay)
    )
    assert again == text


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('name: "other" input [{name: "x"}] output [{name: "y"}]', "names model 'other'"),
        ('platform: "tensorrt_plan" input [{name: "x"}] output [{name: "y"}]', "tensorrt_plan"),
        ("max_batch_size: 8", "no input"),
        ("this is { not pbtxt", "not a Triton ModelConfig"),
    ],
)
def test_configs_triton_could_not_serve_as_asked_are_refused(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        serving_config(text, model=MODEL, version=1, batching=Batching(8))

"""Contract 3: the command lines the operator writes into Pods are ones the trainer and the
gateway accept, and the trainer's result is one the operator reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrollout_inference import cli as gateway_cli
from modelrollout_operator.api.v1alpha1 import ModelVersion, Runtime
from modelrollout_operator.local.configuring import trainer_argv
from modelrollout_operator.resources.manifests import serving_deployment, training_job
from modelrollout_operator.resources.training import parse_trainer_result
from modelrollout_trainer import cli as trainer_cli
from tests.support.examples import example_files

ROOT = Path(__file__).resolve().parents[2]
SHA = "0" * 64


def _modelversions(*, trained: bool = False) -> list[dict[str, Any]]:
    docs = []
    for path in example_files():
        for doc in yaml.safe_load_all(path.read_text()):
            is_version = isinstance(doc, dict) and doc.get("kind") == "ModelVersion"
            if is_version and (not trained or "training" in doc["spec"]):
                docs.append(doc)
    assert docs, "examples/ holds no ModelVersion"
    return docs


def _owner(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "metadata": {**doc["metadata"], "uid": "u-1", "namespace": "models"}}


@pytest.mark.parametrize("doc", _modelversions(trained=True), ids=lambda d: d["metadata"]["name"])
def test_training_job_args_parse_with_the_trainer(doc: dict[str, Any]) -> None:
    mv = ModelVersion.model_validate(doc)
    job = training_job(_owner(doc), mv.spec)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["modelrollout-trainer"]
    args = trainer_cli.build_parser().parse_args(container["args"])
    assert args.command == "train"
    assert args.model == mv.spec.model and int(args.version) == mv.spec.version


def _parsed(args: list[str]) -> dict[str, Any]:
    parsed = vars(trainer_cli.build_parser().parse_args(args))
    assert parsed["command"] == "train"
    return parsed


@pytest.mark.parametrize("doc", _modelversions(trained=True), ids=lambda d: d["metadata"]["name"])
@pytest.mark.parametrize("gpus", [0, 1])
def test_local_mode_trains_with_the_jobs_command_line(doc: dict[str, Any], gpus: int) -> None:
    """Local mode's trainer arguments parse with the trainer and say what the Job's say, the
    dataset and the output (local copies) apart: one builder, one --device rule."""
    mv = ModelVersion.model_validate(doc)
    assert mv.spec.training is not None
    training = mv.spec.training.model_copy(
        update={"resources": mv.spec.training.resources.model_copy(update={"gpus": gpus})}
    )
    mv = mv.model_copy(update={"spec": mv.spec.model_copy(update={"training": training})})
    job = training_job(_owner(doc), mv.spec)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    in_job = _parsed(container["args"])
    local = _parsed(trainer_argv(mv, Path("/w/data.csv"), Path("/w/models")))
    assert (local["dataset"], local["output"]) == ("/w/data.csv", "/w/models")
    assert (in_job["dataset"], in_job["output"]) == (training.dataset, training.output)
    for key in ("dataset", "output"):
        del local[key], in_job[key]
    assert local == in_job
    assert in_job["device"] == ("cuda" if gpus else "cpu")


@pytest.mark.parametrize("doc", _modelversions(), ids=lambda d: d["metadata"]["name"])
def test_onnxruntime_server_args_parse_with_the_gateway(doc: dict[str, Any]) -> None:
    mv = ModelVersion.model_validate(doc)
    spec = mv.spec.model_copy(
        update={
            "serving": mv.spec.serving.model_copy(
                update={"runtime": Runtime.ONNXRUNTIME, "gpus": 0}
            )
        }
    )
    deployment = serving_deployment(
        _owner(doc), spec, "s3://models/repo/m/1/model.onnx", SHA,
        triton_image="triton:x", gateway_image="gateway:x",
    )  # fmt: skip
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["modelrollout-gateway"]
    gateway_cli._parser().parse_args(container["args"])


@pytest.mark.parametrize("doc", _modelversions(), ids=lambda d: d["metadata"]["name"])
def test_triton_init_container_args_parse_with_the_gateway(doc: dict[str, Any]) -> None:
    mv = ModelVersion.model_validate(doc)
    spec = mv.spec.model_copy(
        update={"serving": mv.spec.serving.model_copy(update={"runtime": Runtime.TRITON})}
    )
    uri = f"s3://models/repo/{spec.model}/{spec.version}/model.onnx"
    deployment = serving_deployment(
        _owner(doc), spec, uri, SHA, triton_image="triton:x", gateway_image="gateway:x"
    )
    pod = deployment["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["command"] == ["modelrollout-gateway"] and init["image"] == "gateway:x"
    args = gateway_cli._parser().parse_args(init["args"])
    assert args.command == "prepare-triton"
    assert (args.model, args.version) == (spec.model, spec.version)
    assert (args.artifact_uri, args.artifact_sha256) == (uri, SHA)
    assert args.config_uri == f"s3://models/repo/{spec.model}/config.pbtxt"
    assert args.max_batch_size == spec.serving.max_batch_size
    assert args.dynamic_batching == spec.serving.dynamic_batching.enabled
    # Triton serves the directory the init container wrote.
    (mount,) = [m for m in init["volumeMounts"] if m["mountPath"] != "/tmp"]  # /tmp: scratch
    (triton,) = pod["containers"]
    assert f"--model-repository={mount['mountPath']}" in triton["args"]
    assert str(args.output) == mount["mountPath"]


@pytest.mark.slow
def test_trainer_result_is_read_by_the_operator(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    assert trainer_cli.main(["synth", "--rows", "3000", "--output", str(data), "--seed", "1"]) == 0
    termination = tmp_path / "termination-log"
    termination.touch()  # the kubelet creates it; the trainer writes only where it exists
    rc = trainer_cli.main([
        "train", "--dataset", str(data), "--model", "scorer", "--version", "3",
        "--output", str(tmp_path / "repo"), "--epochs", "3", "--min-accuracy", "0.99",
        "--termination-log", str(termination), "--quiet", "--threads", "1",
    ])  # fmt: skip
    assert rc == 3, "a 3-epoch model on 3k rows cannot reach 0.99: the gate must fail"
    result = parse_trainer_result(termination.read_text())
    assert not result.gate_passed and result.gate_reasons
    assert Path(result.artifact_uri).is_file()
    assert (
        result.metrics["test"]["accuracy"]
        == json.loads(termination.read_text())["metrics"]["test"]["accuracy"]
    )
